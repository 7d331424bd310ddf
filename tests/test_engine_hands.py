"""Two-hand clips through `pam filter --scorer keypoints` (an injected estimator, no weights) and `pam export`."""

import math

import numpy as np
import pytest

from pam.engine.filter import KeypointScorer, filter_clips
from pam.engine.manifest import ClipResult, append, read_rows
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack

T, H, W = 5, 64, 96
CLIP = "mug-twohands"


def two_hand_sequence() -> HOISequence:
    """A right and a left open hand (different shapes) either side of a mug, all in view of a 64 x 96 camera."""
    t = np.linspace(0, 1, T)[:, None]
    right = HandTrack(np.zeros((T, 3)), np.zeros((T, 45)), np.array([0.08, 0.0, 0.0]) + t * [0, 0.02, 0], side="right")
    left = HandTrack(np.zeros((T, 3)), np.zeros((T, 45)), np.array([-0.08, 0.0, 0.0]) - t * [0, 0.02, 0],
                     betas=np.full(10, 0.5), side="left")
    mug = ObjectTrack("mug", np.tile(np.eye(3), (T, 1, 1)), np.tile([0.0, 0.08, 0.0], (T, 1)), seg_id=25)
    camera = Camera.look_at([0.0, -0.1, 0.5], [0.0, 0.0, 0.0], up=(0, 1, 0), height=H, width=W)
    return HOISequence([right, left], [mug], camera)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder holding one finished two-hand clip (rendered conditions, a synthetic video) in its manifest."""
    from pam.training.smoke import write_synthetic_clip

    out = tmp_path_factory.mktemp("hands") / "out"
    write_synthetic_clip(out / "clips", CLIP, two_hand_sequence(), "two hands and a mug",
                         meta={"source": {"kind": "generated", "smoke": True}})
    append(out, [ClipResult(CLIP, "done", stage="motion", smoke=True)])
    return out


class OffsetEstimator:
    """Returns the annotated 2D joints of the hand and frames it is shown (frames found by matching the clip's
    video), moved by ``offset`` pixels on ``joints``."""

    def __init__(self, clip, offset, joints=slice(None)):
        from pam.render.video import read_video

        self.annotations = dict(np.load(clip / "annotations.npz"))
        self.video = read_video(clip / "video.mp4").astype(int)
        self.offset, self.joints, self.calls = np.asarray(offset), joints, []

    def estimate_2d(self, frames, boxes, side, K):
        self.calls.append((frames.shape, side))
        shown = [int(np.abs(self.video - frame).sum(axis=(1, 2, 3)).argmin()) for frame in frames]
        truth = self.annotations["joints_2d"][shown, list(self.annotations["hand_sides"]).index(side)]
        assert np.array_equal(K, self.annotations["intrinsics"])
        assert np.all((boxes[:, None, :2] <= truth) & (truth <= boxes[:, None, 2:]))  # each box holds its hand
        predicted = truth.copy()
        predicted[:, self.joints] += self.offset
        return predicted


def test_keypoints_score_is_the_2d_mpjpe_in_pixels(run_folder):
    clip = run_folder / "clips" / CLIP
    estimator = OffsetEstimator(clip, [3.0, 4.0])
    scores = KeypointScorer(estimator)(clip)
    assert scores["keypoints_mpjpe_px"] == pytest.approx(5.0, abs=1e-9)  # every joint 5 px off
    assert scores["keypoints"] == pytest.approx(math.exp(-5.0 / (0.05 * math.hypot(H, W))))
    assert estimator.calls == [((T, H, W, 3), "right"), ((T, H, W, 3), "left")]  # both hands, every frame


def test_keypoints_error_averages_every_joint_of_both_hands(run_folder):
    clip = run_folder / "clips" / CLIP
    one_joint = OffsetEstimator(clip, [0.0, 21.0], joints=7)  # 21 px on one of 21 joints, both hands
    assert KeypointScorer(one_joint)(clip)["keypoints_mpjpe_px"] == pytest.approx(1.0)
    perfect = KeypointScorer(OffsetEstimator(clip, [0.0, 0.0]))(clip)
    assert perfect == {"keypoints": 1.0, "keypoints_mpjpe_px": 0.0}


def test_frames_without_the_hand_in_view_are_not_scored(run_folder, tmp_path):
    import shutil

    clip = tmp_path / CLIP
    shutil.copytree(run_folder / "clips" / CLIP, clip)
    annotations = dict(np.load(clip / "annotations.npz"))
    annotations["joints_2d"][:2, 1] += [500.0, 0.0]  # the left hand leaves the image in frames 0 and 1
    np.savez(clip / "annotations.npz", **annotations)
    estimator = OffsetEstimator(clip, [6.0, 8.0])
    assert KeypointScorer(estimator)(clip)["keypoints_mpjpe_px"] == pytest.approx(10.0)
    assert estimator.calls == [((T, H, W, 3), "right"), ((T - 2, H, W, 3), "left")]
    annotations["joints_2d"] += 1000.0
    np.savez(clip / "annotations.npz", **annotations)
    with pytest.raises(ValueError, match="no annotated hand is in view"):
        KeypointScorer(estimator)(clip)


def test_filter_records_the_keypoint_scores_in_the_manifest(run_folder, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(run_folder, out)
    report = filter_clips(out, keep=1.0, scorer=KeypointScorer(OffsetEstimator(out / "clips" / CLIP, [3.0, 4.0])))
    assert report.scored == 1 and not report.skipped
    row = read_rows(out)[CLIP]
    assert row.status == "done" and row.scores["keypoints_mpjpe_px"] == pytest.approx(5.0)


def test_dexycb_export_writes_one_sequence_per_hand(run_folder, tmp_path):
    from export_readers import read_dexycb

    from pam.engine.export import export

    report = export(run_folder, tmp_path / "dexycb", "dexycb")
    assert (report.clips, report.frames, report.hands) == (1, T, 2)
    sequences = read_dexycb(tmp_path / "dexycb")
    assert set(sequences) == {f"{CLIP}_right", f"{CLIP}_left"}
    annotations = np.load(run_folder / "clips" / CLIP / "annotations.npz")
    ids = annotations["instance_ids"]
    for h, side in enumerate(("right", "left")):
        meta, K, frames, betas = sequences[f"{CLIP}_{side}"]
        assert meta["mano_sides"] == [side] and meta["serials"] == [CLIP] and meta["num_frames"] == T
        assert meta["ycb_ids"] == [25] and meta["pam"]["clip_id"] == CLIP
        assert np.allclose(K, annotations["intrinsics"]) and np.allclose(betas, annotations["mano_betas"][h])
        for t, (color, labels) in enumerate(frames):
            assert color.shape == (H, W, 3)
            assert labels["joint_3d"].shape == (1, 21, 3) and labels["joint_2d"].shape == (1, 21, 2)
            assert np.allclose(labels["joint_3d"][0], annotations["joints_3d_cam"][t, h], atol=1e-6)
            assert np.allclose(labels["joint_2d"][0], annotations["joints_2d"][t, h], atol=1e-4)
            assert labels["pose_y"].shape == (1, 3, 4)
            assert np.allclose(labels["pose_y"][0], annotations["object_to_camera"][t, 0, :3], atol=1e-6)
            seg = labels["seg"]  # 255 on this sequence's hand, 254 on the other one, the YCB id on the mug
            assert np.array_equal(seg == 255, ids[t] == h + 1) and np.array_equal(seg == 254, ids[t] == 2 - h)
            assert np.array_equal(seg == 25, ids[t] == 3) and (seg == 255).any() and (seg == 254).any()
    right, left = (sequences[f"{CLIP}_{side}"][2] for side in ("right", "left"))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(right, left))  # both sequences show the same frames


def test_webdataset_export_carries_every_hand(run_folder, tmp_path):
    from export_readers import read_webdataset

    from pam.engine.export import export

    report = export(run_folder, tmp_path / "wds", "webdataset", shard_size=4)
    samples = read_webdataset(sorted((tmp_path / "wds").glob("shard-*.tar")))
    assert (report.frames, report.hands) == (T, 2) and len(samples) == 2 * T
    annotations = np.load(run_folder / "clips" / CLIP / "annotations.npz")
    seen = set()
    for sample in samples:
        labels = sample["json"]
        clip_id, frame, hand = sample["__key__"].rsplit("_", 2)
        t, h = int(frame), int(hand)
        seen.add((t, h))
        assert clip_id == CLIP and labels["frame"] == t and labels["hand"] == h
        assert labels["right"] == int(annotations["hand_sides"][h] == "right")
        assert np.allclose(labels["keypoints_2d"], annotations["joints_2d"][t, h])
        assert np.allclose(labels["keypoints_3d"], annotations["joints_3d_cam"][t, h])
        assert np.allclose(labels["betas"], annotations["mano_betas"][h])
    assert seen == {(t, h) for t in range(T) for h in range(2)}
