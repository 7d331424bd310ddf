"""`pam dataset build` on a miniature DexYCB: clip folders that validate, resized video and
intrinsics that agree with the dataset's own 2D joint labels, prompts, resume, failures, errors."""

import json

import numpy as np
import pytest
from dataset_fixtures import SERIALS, make_dexycb, write_mano_files
from typer.testing import CliRunner

from pam.cli import app
from pam.data import ClipRef
from pam.data.build import resize_camera
from pam.data.clip_folder import ClipFolder
from pam.render.video import read_video
from pam.sequence import Camera

T, H, W = 6, 96, 108  # 640 x 480 -> 108 x 96: x scaled by 0.16875, y by 0.2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("build")
    write_mano_files(base / "mano")
    truth = make_dexycb(base / "dex-ycb", base / "mano", num_frames=T)
    return base, truth


def _says(output: str, text: str) -> bool:
    """Whether the command's ``output`` says ``text``, however the console wrapped its lines (it may break
    a line at a space and keep the space, or inside a long path)."""
    return "".join(text.split()) in "".join(output.split())


def _build(base, out, *extra):
    args = ["dataset", "build", str(base / "dex-ycb"), "--source", "dexycb", "--split", "s0-train", "--out", str(out),
            "--frames", str(T), "--height", str(H), "--width", str(W), "--mano-dir", str(base / "mano"), *extra]
    return CliRunner().invoke(app, args)


def test_resize_camera_maps_pixel_centres_like_the_image_resize():
    cam = Camera(K=np.array([[615.0, 0, 321.2], [0, 614.5, 240.8], [0, 0, 1]]), height=480, width=640)
    big = resize_camera(cam, 480, 720)
    np.testing.assert_allclose(big.K[0], [615.0 * 1.125, 0, 321.2 * 1.125 + 0.0625])
    np.testing.assert_allclose(big.K[1], cam.K[1])
    # the left edge of pixel 0 and the right edge of the last pixel stay the image's edges
    point = np.array([[-0.5 - cam.K[0, 2], 0.0, cam.K[0, 0]], [639.5 - cam.K[0, 2], 0.0, cam.K[0, 0]]])
    np.testing.assert_allclose(big.project(point)[:, 0], [-0.5, 719.5], atol=1e-9)


def test_build_writes_clip_folders_that_match_the_labels(dataset, tmp_path):
    base, truth = dataset
    out = tmp_path / "clips"
    refs = [ClipRef("dexycb", truth["sequence"], serial, 0, T) for serial in SERIALS]
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({refs[1].clip_id: "a hand picks up a red mug"}))
    result = _build(base, out, "--limit", "3", "--captions", str(captions))
    # the third clip (the next sequence) has no label files: reported, the others are built
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and _says(result.output, "labels_000000.npz: missing label file")
    assert _says(result.output, ": 2 built, 0 already complete, 1 failed")
    clip = ClipFolder.open(out / refs[0].clip_id)
    assert clip.prompt == "a hand grasps a mug"
    assert ClipFolder.open(out / refs[1].clip_id).prompt == "a hand picks up a red mug"
    meta = clip.meta
    assert meta["source"]["kind"] == "dexycb" and meta["source"]["clip_id"] == refs[0].clip_id
    assert meta["hand_valid"] == {"right": [False] + [True] * (T - 1)}
    assert meta["build"]["native_size"] == [480, 640] and meta["build"]["resize"] == "stretch"
    video = read_video(clip.video_path)
    assert video.shape == (T, H, W, 3)
    assert video[0, :, : W // 2 - 4, 0].mean() > 190 and video[0, :, W // 2 + 4 :, 0].mean() < 60
    seq = clip.sequence()
    assert (seq.camera.height, seq.camera.width) == (H, W) and seq.fps == 30.0
    # rendered keypoints = the dataset's own joint_2d (640 x 480 pixels) mapped to the clip size
    sx, sy = W / 640, H / 480
    want = (truth["joint_2d"] + 0.5) * [sx, sy] - 0.5
    got = clip.annotations()["joints_2d"][:, 0]
    np.testing.assert_allclose(got[1:], want[1:], atol=2e-3)
    # frame 0 has no hand in the dataset: no condition shows one
    keypoints = read_video(clip.condition_path("hand"))
    assert keypoints[0].max() < 40 and keypoints[1:].max(axis=(1, 2, 3)).min() > 100
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary folders left
    again = _build(base, out, "--limit", "2")
    assert again.exit_code == 0, again.output
    assert _says(again.output, ": 0 built, 2 already complete, 0 failed")


def test_build_errors_name_the_input(dataset, tmp_path):
    base, _ = dataset
    result = CliRunner().invoke(app, ["dataset", "build", str(tmp_path / "nope"), "--source", "dexycb",
                                      "--split", "s0-train", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "error:" in result.output and "nope: no such dexycb root folder" in result.output
    result = _build(base, tmp_path / "o", "--split", "s9-train")
    assert result.exit_code == 1 and "error: unknown dexycb split 's9-train'" in result.output
    result = CliRunner().invoke(app, ["dataset", "build", str(base / "dex-ycb"), "--source", "graspxl",
                                      "--split", "all", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "error: --source must be one of dexycb, oakink2" in result.output
    assert not (tmp_path / "o").exists()
    (tmp_path / "no-mano").mkdir()
    result = _build(base, tmp_path / "o", "--mano-dir", str(tmp_path / "no-mano"))
    assert result.exit_code == 1 and "error: No MANO_RIGHT.pkl or MANO_RIGHT.npz found" in result.output
    assert not list((tmp_path / "o").iterdir())


def test_oakink2_clips_follow_the_moving_camera(tmp_path):
    from dataset_fixtures import make_oakink2

    from pam.data import make_reader
    from pam.data.build import BuildOptions, build_dataset
    from pam.scene import build_scene

    write_mano_files(tmp_path / "mano")
    truth = make_oakink2(tmp_path / "OakInk2", num_images=8, image_hw=(120, 212))
    options = BuildOptions(source="oakink2", root=tmp_path / "OakInk2", split="all", out=tmp_path / "clips",
                           num_frames=4, height=64, width=96, mano_dir=tmp_path / "mano", shard=(1, 2))
    report = build_dataset(options)
    # clips: (top, 0), (top, 4), (ego, 0), (ego, 4); shard 1/2 takes the second and the fourth
    assert not report.failed and [c.split("__")[-2:] for c in report.built] == [["allocentric_top", "000004-004"],
                                                                                ["egocentric", "000004-004"]]
    clip = ClipFolder.open(tmp_path / "clips" / report.built[1])
    assert clip.prompt == "a hand grasps a teapot and an O01@0001@00001"
    assert read_video(clip.video_path).shape == (4, 64, 96, 3)
    native = make_reader("oakink2", tmp_path / "OakInk2", num_frames=4, mano_dir=tmp_path / "mano").sequence(
        ClipRef.from_clip_id(report.built[1]))
    scene = build_scene(native, mano_dir=tmp_path / "mano")
    want = np.stack([native.camera.project(scene.joints[t], t) for t in range(4)])  # (T, hands, 21, 2) at 212 x 120
    want = (want + 0.5) * [96 / 212, 64 / 120] - 0.5
    np.testing.assert_allclose(clip.annotations()["joints_2d"], want, atol=1e-3)
    assert clip.sequence().camera.is_moving
