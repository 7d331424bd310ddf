"""The engine in-process with the smoke models: stop early and resume, a failing clip, bounded retries, the lock,
the manifest and its rebuild, the gallery, the filter and both exports read back independently."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from browser import needs_chromium, screenshot
from export_readers import read_dexycb, read_webdataset
from pam.engine.batch import run_batch
from pam.engine.job import expand, load_job
from pam.engine.manifest import RunLock, RunLockedError, read_rows, rebuild
from pam.engine.runners import LocalRunner
from pam.objects import BUILTIN_OBJECTS
from pam.smoke import HEIGHT, WIDTH

SPEC = """
objects: [mug, {mesh: broken.obj, name: broken}]
seeds: 1
views: 1
candidates: 2
prompts: ["a hand holds the {object} on the table"]
video: {frames: 17}
appearance: {steps: 2}
motion: {steps: 2}
"""


def jobs_of(spec_path):
    return expand(load_job(spec_path), smoke=True, smoke_size=(HEIGHT, WIDTH))


def run(out, jobs, until="motion", **kw):
    return run_batch(jobs, out, LocalRunner(out, until), until, **kw)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two mug clips (one trajectory, two Stage II candidates) and two clips of a broken mesh: first run
    through the conditions, then on through Stage III."""
    root = tmp_path_factory.mktemp("engine")
    (root / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    (root / "job.yaml").write_text(SPEC)
    jobs = jobs_of(root / "job.yaml")
    out = root / "out"
    early = run(out, jobs, until="conditions")
    early_rows = read_rows(out)
    late = run(out, jobs)
    return out, jobs, early, early_rows, late


def test_stop_after_conditions_gives_real_trajectories_and_conditions(generated):
    out, jobs, early, early_rows, _ = generated
    assert early.done == 2 and len(early.failed) == 2
    mug = [j for j in jobs if j.object.label == "mug"]
    assert {early_rows[j.clip_id].stage for j in mug} == {"conditions"}


def test_resume_continues_from_the_conditions_and_finishes_the_clips(generated):
    out, jobs, _, early_rows, late = generated
    assert late.done == 2 and late.skipped == 0
    for job in (j for j in jobs if j.object.label == "mug"):
        folder = out / "clips" / job.clip_id
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["engine"]["stage"] == "motion" and meta["source"]["smoke"] is True
        assert "SMOKE RUN" in meta["smoke_note"] and meta["models"]["motion"]["random_weights"]
        # Stage I and the conditions were not run again: their seconds are the first run's
        for stage in ("pose", "conditions"):
            assert meta["engine"]["seconds"][stage] == early_rows[job.clip_id].seconds[stage]
        assert {"appearance", "motion"} <= set(meta["engine"]["seconds"])
        assert meta["seeds"]["appearance"] == job.appearance_seed and meta["prompt"] == job.prompt
        from pam.render.video import read_video

        video = read_video(folder / "video.mp4")
        annotations = np.load(folder / "annotations.npz")
        assert video.shape == (17, HEIGHT, WIDTH, 3) == (len(annotations["joints_2d"]), *annotations["depth"].shape[1:], 3)
        assert read_video(folder / "preview.mp4").shape[0] == 17
        assert not (out / ".work" / job.clip_id).exists()  # the work folder goes once the clip is complete
    a, b = (np.asarray(Image.open(out / "clips" / j.clip_id / "first_frame.png")) for j in jobs[:2])
    assert not np.array_equal(a, b)  # two candidates, two Stage II seeds


def test_a_failing_clip_is_recorded_and_the_batch_goes_on(generated):
    out, jobs, *_ , late = generated
    rows = read_rows(out)
    broken = [j for j in jobs if j.object.label == "broken"]
    for job in broken:
        assert rows[job.clip_id].status == "failed" and "broken.obj" in rows[job.clip_id].error
        assert rows[job.clip_id].attempts == 2  # once per run so far
        assert not (out / "clips" / job.clip_id).exists()


def test_reruns_skip_done_clips_and_retry_failed_ones_a_bounded_number_of_times(generated, tmp_path):
    out, jobs, *_ = generated
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    third = run(copy, jobs, max_attempts=3)
    assert third.skipped == 2 and len(third.failed) == 2 and not third.exhausted
    fourth = run(copy, jobs, max_attempts=3)
    assert fourth.skipped == 2 and not fourth.results and len(fourth.exhausted) == 2
    lines = [json.loads(line) for line in (copy / "manifest.jsonl").read_text().splitlines()]
    done_rows = [r for r in lines if r["status"] == "done" and r["stage"] == "motion"]
    assert sorted(r["clip_id"] for r in done_rows) == sorted(j.clip_id for j in jobs if j.object.label == "mug")


def test_a_second_run_on_the_same_folder_is_refused(generated):
    out, jobs, *_ = generated
    with RunLock(out):
        with pytest.raises(RunLockedError, match="another pam run"):
            run(out, jobs)


def test_manifest_rebuilds_from_the_clip_folders(generated, tmp_path):
    out, jobs, *_ = generated
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "manifest.jsonl").write_text((copy / "manifest.jsonl").read_text() + '{"clip_id": "torn')  # a killed append
    assert len(read_rows(copy)) == 4
    (copy / "manifest.jsonl").unlink()
    rebuilt = rebuild(copy)
    assert set(rebuilt) == {j.clip_id for j in jobs if j.object.label == "mug"}
    assert all(r.status == "done" and r.stage == "motion" and r.smoke for r in rebuilt.values())
    again = run(copy, jobs, max_attempts=3)  # reconciled: the finished clips are not generated again
    assert again.skipped == 2 and {r.clip_id for r in again.results} == {j.clip_id for j in jobs[2:]}


def test_gallery_lists_every_clip_with_status_and_smoke_banner(generated):
    out, jobs, *_ = generated
    page = (out / "index.html").read_text()
    assert "SMOKE RUN" in page and "http" not in page
    for job in jobs:
        assert job.clip_id in page
    assert page.count('class="failed"') == 2 and page.count('class="done"') == 2
    assert page.count("preview.mp4") == 2


def test_filter_marks_the_worst_fraction(generated, tmp_path):
    from pam.engine.filter import filter_clips

    out = tmp_path / "out"
    shutil.copytree(generated[0], out)
    report = filter_clips(out, keep=0.5)
    assert report.scored == 2 and len(report.kept) == 1 and len(report.dropped) == 1
    rows = read_rows(out)
    kept, dropped = rows[report.kept[0].clip_id], rows[report.dropped[0].clip_id]
    assert kept.status == "done" and dropped.status == "filtered"
    assert kept.scores["motion"] >= dropped.scores["motion"] and 0 <= dropped.scores["motion"] <= 1
    assert kept.scores["motion_px"] <= dropped.scores["motion_px"]
    assert (out / "index.html").read_text().count('class="filtered"') == 1
    again = filter_clips(out, keep=1.0)  # recorded scores are reused; keeping all restores the status
    assert len(again.kept) == 2 and {read_rows(out)[c].status for c in (kept.clip_id, dropped.clip_id)} == {"done"}


def test_export_dexycb_reads_back_in_the_documented_layout(generated, tmp_path):
    from pam.engine.export import export

    out, jobs, *_ = generated
    report = export(out, tmp_path / "dexycb", "dexycb")
    assert report.clips == 2 and report.frames == 34 and report.hands == 2
    sequences = read_dexycb(tmp_path / "dexycb")
    mug = BUILTIN_OBJECTS["mug"].seg_id
    assert set(sequences) == {f"{j.clip_id}_right" for j in jobs if j.object.label == "mug"}
    for name, (meta, K, frames, betas) in sequences.items():
        clip_id = meta["pam"]["clip_id"]
        annotations = np.load(out / "clips" / clip_id / "annotations.npz")
        assert name == f"{clip_id}_right" and meta["serials"] == [clip_id]
        assert meta["num_frames"] == 17 and meta["mano_sides"] == ["right"] and meta["ycb_ids"] == [mug]
        assert np.allclose(betas, annotations["mano_betas"][0])
        assert np.allclose(K, annotations["intrinsics"], atol=1e-9) and len(betas) == 10
        for t, (color, labels) in enumerate(frames):
            assert color.shape == (HEIGHT, WIDTH, 3) and color.dtype == np.uint8
            assert labels["joint_3d"].shape == (1, 21, 3) and labels["joint_2d"].shape == (1, 21, 2)
            assert labels["pose_y"].shape == (1, 3, 4) and "pose_m" not in labels  # the open hand is not MANO
            uvw = labels["joint_3d"][0] @ K.T  # the 2D joints are the 3D joints seen through the intrinsics
            assert np.allclose(uvw[:, :2] / uvw[:, 2:], labels["joint_2d"][0], atol=1e-3)
            R = labels["pose_y"][0, :, :3]
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-5)
            seg, ids = labels["seg"], annotations["instance_ids"][t]
            assert seg.dtype == np.uint8 and seg.shape == (HEIGHT, WIDTH)
            assert np.array_equal(seg == 255, ids == 1) and np.array_equal(seg == mug, ids == 2)
            assert set(np.unique(seg)) <= {0, mug, 255}


def test_export_webdataset_reads_back(generated, tmp_path):
    from pam.engine.export import export

    out, jobs, *_ = generated
    dest = tmp_path / "wds"
    report = export(out, dest, "webdataset", shard_size=20)
    shards = sorted(dest.glob("shard-*.tar"))
    assert report.frames == 34 and len(shards) == 2  # 34 samples (one hand) in shards of 20
    samples = read_webdataset(shards)
    assert len(samples) == 34
    for sample in samples:
        labels = sample["json"]
        clip_id, frame, hand = sample["__key__"].rsplit("_", 2)
        assert labels["clip_id"] == clip_id and labels["frame"] == int(frame) and hand == "0"
        assert np.asarray(sample["jpg"]).shape == (HEIGHT, WIDTH, 3)
        kp3, kp2, K = (np.array(labels[k]) for k in ("keypoints_3d", "keypoints_2d", "K"))
        uvw = kp3 @ K.T
        assert np.allclose(uvw[:, :2] / uvw[:, 2:], kp2, atol=1e-6)
        assert labels["right"] == 1 and len(labels["hand_pose"]) == 45 and len(labels["betas"]) == 10
        assert np.allclose(labels["center"], (kp2.min(0) + kp2.max(0)) / 2)
        assert labels["scale"] == pytest.approx((kp2.max(0) - kp2.min(0)).max() * 1.2 / 200)
        assert labels["smoke"] is True


def test_export_webdataset_global_orient_is_in_the_camera_frame(generated, tmp_path):
    from pam.engine.export import load_clip
    from pam.rotations import axis_angle_to_matrix_np
    from pam.sequence import HOISequence

    out, jobs, *_ = generated
    folder = out / "clips" / jobs[0].clip_id
    clip = load_clip(folder)
    seq = HOISequence.load(folder / "sequence.npz")
    R_world = axis_angle_to_matrix_np(seq.hands[0].global_orient)
    R_cam = axis_angle_to_matrix_np(clip.global_orient[:, 0])
    assert np.allclose(R_cam, seq.camera.R[None] @ R_world, atol=1e-6)


def test_cli_commands(generated, tmp_path):
    from typer.testing import CliRunner

    from pam.cli import app

    out = tmp_path / "out"
    shutil.copytree(generated[0], out)
    cli = CliRunner()
    res = cli.invoke(app, ["filter", str(out), "--keep", "0.5"])
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["export", str(out), "--format", "dexycb", "--out", str(tmp_path / "x")])
    assert res.exit_code == 0 and len(read_dexycb(tmp_path / "x")) == 1  # the filtered clip stays out
    res = cli.invoke(app, ["export", str(out), "--format", "coco", "--out", str(tmp_path / "y")])
    assert res.exit_code == 1 and "error: --format: expected one of dexycb, webdataset" in res.output
    res = cli.invoke(app, ["generate", "--spec", str(tmp_path / "none.yaml"), "--out", str(out)])
    assert res.exit_code == 1 and "none.yaml does not exist" in res.output


@needs_chromium
def test_gallery_renders_in_headless_chromium(generated, tmp_path):
    img = screenshot(generated[0] / "index.html", tmp_path / "shot.png", 1200, 800)
    assert img is not None and img.shape[:2] == (800, 1200)
    assert img.std() > 10  # the page drew the table and thumbnails, not a blank canvas


def test_exported_hand_parameters_reproduce_the_camera_frame_hand(generated):
    """pose_m (camera-frame rotation, finger pose, translation) drives the hand model to the annotated joints,
    and the SimpleHand-style frames carry the same joints with the posed mesh around them."""
    import torch

    from pam.engine.export import load_clip, mano_pose_camera, simplehand_frames
    from pam.hand import load_hand_model

    out, jobs, *_ = generated
    clip = load_clip(out / "clips" / jobs[0].clip_id)
    rows = torch.from_numpy(mano_pose_camera(clip, None)[:, 0])
    model = load_hand_model("open", side="right").to(torch.float64)
    betas = torch.from_numpy(clip.betas[0]).expand(len(rows), -1)
    joints = model(rows[:, :3], rows[:, 3:48], betas, rows[:, 48:]).joints.detach().numpy()
    assert np.allclose(joints, clip.joints_3d[:, 0], atol=1e-9)
    frames = list(simplehand_frames(clip, mano_pose_camera(clip, None), None))
    assert len(frames) == 17 and np.allclose(frames[5]["joints_3d"], clip.joints_3d[5, 0])
    vertices = np.array(frames[5]["vertices"])
    assert vertices.shape == (int(np.max(model.faces)) + 1, 3)  # every vertex of the hand mesh
    assert np.linalg.norm(vertices.mean(0) - clip.joints_3d[5, 0].mean(0)) < 0.05  # the mesh sits on its joints


def test_keypoints_scorer_without_hamer_says_what_to_get(tmp_path):
    from pam.engine.filter import make_scorer
    from pam.home import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="HaMeR"):
        make_scorer("keypoints")
    with pytest.raises(ValueError, match="--scorer: expected motion or keypoints"):
        make_scorer("vibes")
