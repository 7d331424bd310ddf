import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from browser import needs_chromium, screenshot
from metrics_fixtures import moving_video, random_lpips_files, textured_frame, tiny_i3d_expected, tiny_i3d_file
import pam
from pam.cli import app
from pam.metrics.evaluate import evaluate, pair_videos
from pam.metrics.fvd import fvd
from pam.render.video import read_video, write_video

T, H, W = 12, 64, 96


@pytest.fixture
def folders(tmp_path):
    gen, ref, cond = tmp_path / "gen", tmp_path / "ref", tmp_path / "cond"
    for d in (gen, ref, cond):
        d.mkdir()
    for i, velocity in enumerate([(1.0, 0.5), (-0.5, 1.0), (0.8, -0.8)]):
        clip = moving_video(textured_frame(H, W, seed=i), T, velocity)
        write_video(ref / f"clip{i}.mp4", clip)
        write_video(gen / f"clip{i}.mp4", np.roll(clip, 2, axis=2))
    seg = np.zeros((T, H, W, 3), np.uint8)
    seg[:, 16:48, 24:72] = [92, 0, 255]
    write_video(cond / "clip0_seg_mask.mp4", seg)
    write_video(gen / "extra.mp4", clip)
    return gen, ref, cond


def test_pairing_by_file_name(folders):
    gen, ref, cond = folders
    pairs, unpaired = pair_videos(gen, ref, cond)
    assert [p.name for p in pairs] == ["clip0", "clip1", "clip2"]
    assert pairs[0].conditions == {"seg_mask": cond / "clip0_seg_mask.mp4"}
    assert unpaired == {"generated": ["extra"], "reference": []}


def test_pairing_clip_folders(folders, tmp_path):
    """Clip folders (``<id>/video.mp4``, also under ``clips/``) pair with flat files by id and bring
    their conditions."""
    gen, ref, _ = folders
    clips = tmp_path / "clips_root"
    for i, parent in ((0, clips / "clips"), (1, clips)):
        (parent / f"clip{i}").mkdir(parents=True)
        (ref / f"clip{i}.mp4").rename(parent / f"clip{i}" / "video.mp4")
        write_video(parent / f"clip{i}" / "seg.mp4", read_video(parent / f"clip{i}" / "video.mp4"))
    pairs, unpaired = pair_videos(gen, clips)
    assert [(p.name, p.reference, p.conditions) for p in pairs] == [
        ("clip0", clips / "clips/clip0/video.mp4", {"seg": clips / "clips/clip0/seg.mp4"}),
        ("clip1", clips / "clip1/video.mp4", {"seg": clips / "clip1/seg.mp4"})]
    assert unpaired == {"generated": ["clip2", "extra"], "reference": []}
    write_video(clips / "clip1.mp4", read_video(gen / "clip1.mp4"))
    with pytest.raises(ValueError, match="two videos named 'clip1'"):
        pair_videos(gen, clips)


def test_missing_weights_are_skipped_with_a_message(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    pairs, _ = pair_videos(*folders)
    result = evaluate(pairs, ["psnr", "lpips", "fvd", "mpjpe"])
    assert set(result.skipped) == {"lpips", "fvd", "mpjpe"}
    assert "alexnet-owt-7be5be79.pth" in result.skipped["lpips"]
    assert str(tmp_path / "empty" / "i3d_torchscript.pt") in result.skipped["fvd"]
    assert "hamer.ckpt" in result.skipped["mpjpe"]
    assert all(set(row) == {"psnr"} for row in result.per_video.values())
    assert "lpips" not in result.summary and "fvd" not in result.summary


def test_cli_writes_table_json_csv_report(folders, tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    random_lpips_files(weights)
    tiny_i3d_file(weights / "i3d_torchscript.pt")
    monkeypatch.setenv("PAM_HOME", str(weights))
    gen, ref, cond = folders
    write_video(ref / "clip2.mp4", read_video(ref / "clip2.mp4")[:8])  # shorter than the clip length asked
    write_video(ref / "lonely.mp4", read_video(ref / "clip0.mp4"))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["eval", str(gen), str(ref), "--conditions", str(cond),
                                   "--metrics", "psnr,ssim,lpips,mf,fvd", "--fvd-frames", "10", "--mf-mode", "both",
                                   "--json", str(out / "r.json"), "--csv", str(out / "r.csv"),
                                   "--report", str(out / "report.html")])
    assert res.exit_code == 0, res.output
    assert "PSNR" in res.output and "clip2" in res.output
    doc = json.loads((out / "r.json").read_text())
    assert set(doc["per_video"]) == {"clip0", "clip1", "clip2"}
    assert doc["skipped"] == {}
    assert doc["settings"] == {"metrics": ["psnr", "ssim", "lpips", "mf", "fvd"], "tracker": "lk", "mf_mode": "both",
                               "fvd_frames": 10, "device": "cpu", "pam_version": pam.__version__,
                               "generated": str(gen), "reference": str(ref), "conditions": str(cond)}
    assert doc["unpaired"] == {"generated": ["extra"], "reference": ["lonely"]}
    assert doc["frames"] == {"clip0": T, "clip1": T, "clip2": 8} and doc["short"] == ["clip2"]
    assert any("clip2: left out of FVD" in n for n in doc["notes"])
    assert any(n.startswith("FVD: FVD from 2 videos, fewer than the 6 feature dimensions") for n in doc["notes"])
    summary = doc["summary"]
    assert 10 < summary["psnr"] < 40 and 0 < summary["ssim"] < 1 and summary["lpips"] > 0
    assert summary["mf"] > 0.5  # a 2-pixel shift keeps the motion
    with pytest.warns(UserWarning):  # 2 videos, 6 feature dimensions
        expected_fvd = fvd(*(np.stack([tiny_i3d_expected(read_video(d / f"clip{i}.mp4"), 10) for i in range(2)])
                             for d in (gen, ref)))
    assert summary["fvd"] == pytest.approx(expected_fvd, rel=1e-3)
    assert summary["psnr"] == pytest.approx(np.mean([r["psnr"] for r in doc["per_video"].values()]))
    rows = list(csv.reader(open(out / "r.csv")))
    assert rows[0] == ["video", "psnr", "ssim", "lpips", "mf", "fvd", "frames", "status"]
    status = {row[0]: row[-2:] for row in rows[1:]}
    assert status == {"clip0": [str(T), ""], "clip1": [str(T), ""], "clip2": ["8", "short: 8 of 10 frames"],
                      "extra": ["", "no reference video"], "lonely": ["", "no generated video"], "mean": ["", ""]}
    assert rows[-1][0] == "mean" and float(rows[-1][5]) == pytest.approx(summary["fvd"])
    page = (out / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 3 * 4 * 2 + 4  # pairs x frames x kinds + seg strip
    assert "seg_mask" in page and "src='http" not in page
    assert page.count("<tr class='flag'>") == 3 and "no generated video" in page and "short: 8 of 10 frames" in page
    assert "mf_mode: both" in page and f"pam_version: {pam.__version__}" in page


@needs_chromium
def test_report_renders_in_headless_chromium(folders, tmp_path):
    from pam.metrics.report import write_report

    result = evaluate(pair_videos(*folders)[0], ["psnr", "ssim"])
    write_report(result, tmp_path / "report.html")
    img = screenshot(tmp_path / "report.html", tmp_path / "shot.png", 1000, 900)
    assert img is not None and img.shape[:2] == (900, 1000)
    assert img.std() > 10  # the page drew a table and pictures, not a blank canvas


@pytest.mark.parametrize("args, message", [
    (["--metrics", "psnr,fid"], "metrics: unknown fid"),
    (["--fvd-frames", "-3"], "fvd_frames: expected a whole number of frames >= 1, got -3"),
    (["--fvd-frames", "0"], "fvd_frames: expected a whole number of frames >= 1, got 0"),
    (["--mf-mode", "reference"], "mf_mode: expected one of both, generated_to_reference, published"),
    (["--tracker", "raft"], "tracker: expected one of lk, cotracker3"),
])
def test_cli_rejects_bad_options(tmp_path, args, message):
    res = CliRunner().invoke(app, ["eval", str(tmp_path), str(tmp_path),
                                   "--json", str(tmp_path / "r.json"), *args])
    assert res.exit_code == 1 and f"error: {message}" in res.output
    assert not (tmp_path / "r.json").exists()


def test_cli_missing_folder_and_no_pairs_are_errors(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    write_video(ref / "clip.mp4", moving_video(textured_frame(16, 16), 3, (1.0, 0.0)))
    res = CliRunner().invoke(app, ["eval", str(tmp_path / "nope"), str(ref)])
    assert res.exit_code == 1 and f"error: {tmp_path / 'nope'}: not a directory" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["eval", str(empty), str(ref)])
    assert res.exit_code == 1 and "error: no videos with the same name" in res.output


def test_mpjpe_reads_ground_truth_and_runs_the_estimator(folders, monkeypatch):
    import pam.metrics.evaluate as evaluate_module

    gen, ref, _ = folders
    joints = np.random.default_rng(0).normal(scale=0.05, size=(T, 21, 3))
    np.savez(ref / "clip0.joints.npz", joints=joints, boxes=np.tile([10.0, 10, 50, 50], (T, 1)), side="left")
    calls = []

    class OffsetEstimator:
        def __init__(self, device):
            pass

        def estimate(self, frames, boxes, side):
            calls.append((frames.shape, boxes.shape, side))
            moved = joints.copy()
            moved[:, 3] += [0.021, 0, 0]
            return moved

    monkeypatch.setattr(evaluate_module, "HaMeREstimator", OffsetEstimator)
    result = evaluate(pair_videos(gen, ref)[0], ["mpjpe"])
    assert result.per_video["clip0"]["mpjpe"] == pytest.approx(1.0)  # 21 mm on one of 21 joints
    assert calls == [((T, H, W, 3), (T, 4), "left")]
    assert "mpjpe" not in result.per_video["clip1"]
    assert any("clip1: no MPJPE ground truth" in n for n in result.notes)


def test_a_corrupt_video_is_reported_and_the_rest_evaluated(folders):
    gen, ref, _ = folders
    (gen / "clip1.mp4").write_bytes(b"garbage")
    result = evaluate(pair_videos(gen, ref)[0], ["psnr"])
    assert set(result.per_video) == {"clip0", "clip2"}
    assert any(n.startswith("clip1: skipped:") and "clip1.mp4" in n for n in result.notes)


def test_a_failed_pair_is_left_out_of_every_value(folders, monkeypatch):
    import pam.metrics.evaluate as ev

    pairs, _ = pair_videos(*folders)
    real = ev.motion_fidelity

    def fails_on_clip1(generated, reference, *args, **kwargs):
        if np.array_equal(generated, read_video(pairs[1].generated)):
            raise ValueError("no texture to track")
        return real(generated, reference, *args, **kwargs)

    monkeypatch.setattr(ev, "motion_fidelity", fails_on_clip1)
    result = evaluate(pairs, ["psnr", "mf"])
    assert set(result.per_video) == {"clip0", "clip2"} and "clip1" not in result.thumbnails
    assert result.summary["psnr"] == pytest.approx(np.mean([result.per_video[n]["psnr"] for n in ("clip0", "clip2")]))
    assert any(n.startswith("clip1: skipped: no texture") for n in result.notes)


def test_conditions_go_to_the_longest_matching_stem(tmp_path):
    gen, ref, cond = (tmp_path / d for d in ("gen", "ref", "cond"))
    clip = moving_video(textured_frame(16, 16), 3, (1.0, 0.0))
    for d in (gen, ref):
        for stem in ("val", "val_video"):
            write_video(d / f"{stem}.mp4", clip)
    write_video(cond / "val_video_seg_mask.mp4", clip)
    write_video(cond / "val_seg_mask.mp4", clip)
    pairs = {p.name: {k: c.name for k, c in p.conditions.items()} for p in pair_videos(gen, ref, cond)[0]}
    assert pairs == {"val": {"seg_mask": "val_seg_mask.mp4"}, "val_video": {"seg_mask": "val_video_seg_mask.mp4"}}


def test_malformed_mpjpe_ground_truth_is_named(folders):
    from pam.metrics import evaluate as ev

    pair = pair_videos(*folders)[0][0]
    np.savez(pair.reference.with_name(pair.name + ".joints.npz"), joints=np.zeros((3, 21, 3)))
    with pytest.raises(ValueError, match=r"lacks \['boxes', 'side'\]"):
        ev._mpjpe(pair, np.zeros((3, 8, 8, 3), np.uint8), estimator=None, row={}, notes=[])


def test_mf_mode_and_segmentation_mask_reach_motion_fidelity(folders, monkeypatch):
    import pam.metrics.evaluate as ev

    calls = {}

    def record(generated, reference, tracker, mask=None, mode="both"):
        calls[len(calls)] = (mask, mode)
        return 0.5

    monkeypatch.setattr(ev, "motion_fidelity", record)
    pairs, _ = pair_videos(*folders)
    result = evaluate(pairs, ["mf"], mf_mode="published")
    assert result.per_video["clip0"]["mf"] == 0.5 and result.settings["mf_mode"] == "published"
    (mask0, mode0), (mask1, mode1) = calls[0], calls[1]
    assert mode0 == mode1 == "published"
    assert mask1 is None  # clip1 has no segmentation condition
    rows, cols = np.nonzero(mask0)  # the seg video's rectangle, rows 16..47, columns 24..71
    assert abs(rows.min() - 16) <= 1 and abs(rows.max() - 47) <= 1 and abs(cols.min() - 24) <= 1 and abs(cols.max() - 71) <= 1
