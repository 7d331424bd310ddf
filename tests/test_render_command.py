"""`pam render`: a hand + ball scene rendered through the CLI, checked against independent references."""

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion
from typer.testing import CliRunner

from pam import Camera, HandTrack, HOISequence, ObjectTrack
from pam.cli import app
from pam.hand import OpenHand
from pam.fileio import load_arrays
from pam.render import ADE20K_PALETTE, read_video

BALL_CENTRE = np.array([-0.16, 0.0, 0.0])
BALL_RADIUS = 0.0325  # the built-in tennis ball
EYE = np.array([-0.03, -0.45, 0.02])


def hand_ball_sequence(T=3):
    transl = np.zeros((T, 3))
    transl[:, 2] = np.linspace(0.0, 0.01, T)
    pose = np.zeros((T, 45))
    pose[:, 2] = np.linspace(0.0, 0.6, T)  # index MCP flexes over time
    hand = HandTrack(global_orient=np.zeros((T, 3)), hand_pose=pose, transl=transl)
    ball_rest_centre = np.array([0.0, 0.0, BALL_RADIUS])  # built-ins rest on z = 0
    ball = ObjectTrack(
        mesh="ball",
        rotation=np.tile(np.eye(3), (T, 1, 1)),
        translation=np.tile(BALL_CENTRE - ball_rest_centre, (T, 1)),
        seg_id=22,
    )
    cam = Camera.look_at(eye=EYE, target=[-0.03, 0.0, 0.02], height=240, width=320)
    return HOISequence(hands=[hand], objects=[ball], camera=cam, fps=15.0)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    seq = hand_ball_sequence()
    seq.save(out / "seq.npz")
    result = CliRunner().invoke(app, ["render", str(out / "seq.npz"), "--out", str(out / "cond")])
    assert result.exit_code == 0, result.output
    return seq, out / "cond"


def test_writes_the_condition_set(rendered):
    seq, out = rendered
    names = {p.name for p in out.iterdir()}
    assert names == {
        "depth.mp4", "seg.mp4", "hand_keypoints.mp4", "normal.mp4", "preview.mp4", "preview.png", "annotations.npz"
    }
    for name in ("depth", "seg", "hand_keypoints", "normal"):
        assert read_video(out / f"{name}.mp4").shape == (3, 240, 320, 3)


def test_annotations_match_the_hand_model_and_camera(rendered):
    seq, out = rendered
    ann = load_arrays(out / "annotations.npz")
    hand = seq.hands[0]
    with torch.no_grad():
        joints = OpenHand().double()(*(torch.from_numpy(a) for a in (hand.global_orient, hand.hand_pose, hand.betas, hand.transl))).joints.numpy()
    np.testing.assert_allclose(ann["joints_2d"][:, 0], seq.camera.project(joints), atol=1e-6)
    np.testing.assert_allclose(ann["joints_3d_cam"][:, 0], seq.camera.world_to_camera(joints), atol=1e-9)
    np.testing.assert_array_equal(ann["mano_hand_pose"][:, 0], hand.hand_pose)
    np.testing.assert_allclose(ann["object_to_camera"][0, 0, :3, 3], seq.camera.world_to_camera(BALL_CENTRE - [0, 0, BALL_RADIUS]))
    assert ann["depth"].dtype == np.float32 and ann["instance_ids"].dtype == np.uint16


def test_depth_and_ids_match_the_analytic_scene(rendered):
    seq, out = rendered
    ann = load_arrays(out / "annotations.npz")
    u, v = np.rint(seq.camera.project(BALL_CENTRE)).astype(int)
    # ray through pixel (u, v) against the sphere, in the camera frame (ray z component 1 = depth)
    d = np.linalg.solve(seq.camera.K, [u, v, 1.0])
    c = seq.camera.world_to_camera(BALL_CENTRE)
    b, a = d @ c, d @ d
    depth = (b - np.sqrt(b * b - a * (c @ c - BALL_RADIUS**2))) / a
    assert ann["instance_ids"][0, v, u] == 2
    assert ann["depth"][0, v, u] == pytest.approx(depth, abs=1e-3)  # icosphere facets: < 0.4 mm
    joints_2d = np.rint(ann["joints_2d"][0, 0]).astype(int)
    for j in (9, 10, 11):  # middle finger joints lie inside the finger
        assert ann["instance_ids"][0, joints_2d[j, 1], joints_2d[j, 0]] == 1
    assert ann["instance_ids"][0, 0, 0] == 0 and ann["depth"][0, 0, 0] == 0


def test_segmentation_video_colours(rendered):
    seq, out = rendered
    ann = load_arrays(out / "annotations.npz")
    seg = read_video(out / "seg.mp4").astype(int)
    ids = ann["instance_ids"]
    for instance, colour in ((1, [92, 0, 255]), (2, ADE20K_PALETTE[22]), (0, [0, 0, 0])):
        inner = ids == instance
        # away from edges, where H.264's 4:2:0 chroma blurs colours
        inner = binary_erosion(inner, iterations=3, structure=np.ones((1, 3, 3)))
        assert inner.sum() > 50
        assert np.abs(np.median(seg[inner], axis=0) - colour).max() <= 12


def test_bad_sequence_file_fails_cleanly(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"junk")
    result = CliRunner().invoke(app, ["render", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "cond")])
    assert result.exit_code == 1 and "not a readable" in result.output
    assert not (tmp_path / "cond").exists()


def test_condition_files_are_found_by_cue_name(rendered, tmp_path):
    from pam.conditions import find_condition_files
    from pam.render.video import read_frame

    _, out = rendered
    files = find_condition_files(["depth", "seg", "hand", "normal", "tracking"], out, {"seg": tmp_path / "mine.png"})
    assert {k: p.name for k, p in files.items()} == {
        "depth": "depth.mp4", "seg": "mine.png", "hand": "hand_keypoints.mp4", "normal": "normal.mp4"
    }
    np.testing.assert_array_equal(read_frame(out / "seg.mp4", 2), read_video(out / "seg.mp4")[2])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_condition_files(["depth"], tmp_path / "nowhere")


def test_each_video_holds_its_own_condition(rendered):
    from pam.conditions import encoded_frames, render_conditions

    seq, out = rendered
    per_frame = list(encoded_frames(render_conditions(seq)))
    for name in ("depth", "seg", "hand_keypoints", "normal"):
        video = read_video(out / f"{name}.mp4").astype(float)
        errors = {other: np.abs(video - np.stack([f[other] for f in per_frame])).mean() for other in per_frame[0]}
        assert errors[name] < 2.0 and min(errors, key=errors.get) == name  # H.264 at crf 18 is near lossless
