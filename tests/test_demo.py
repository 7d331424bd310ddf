"""`pam demo` through the engine: Stage I on the built-in scene and its condition set; without a GPU and the
weights it stops there and says what to add."""

import numpy as np
from typer.testing import CliRunner

from pam import HOISequence
from pam.cli import app
from pam.fileio import load_arrays
from pam.render import read_video


def test_demo_writes_a_lifted_object_clip_with_its_conditions(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--frames", "17"])
    assert result.exit_code == 0, result.output
    assert "stopped after the conditions" in result.output and "a CUDA GPU" in result.output
    assert "FLUX.1-dev" in result.output  # what to add, and where
    (clip,) = (out / "clips").iterdir()
    assert {p.name for p in clip.iterdir()} >= {
        "sequence.npz", "sequence.json", "depth.mp4", "seg.mp4", "hand_keypoints.mp4", "normal.mp4",
        "preview.mp4", "preview.png", "annotations.npz", "meta.json", "prompt.txt",
    }
    assert (out / "manifest.jsonl").is_file() and (out / "index.html").is_file()
    seq = HOISequence.load(clip / "sequence.npz")
    assert seq.num_frames == 17 and [h.model for h in seq.hands] == ["open"]
    lift = seq.objects[0].translation[-1, 2] - seq.objects[0].translation[0, 2]
    assert lift > 0.1  # the built-in target lifts the mug by 15 cm and the simulated mug follows
    ann = load_arrays(clip / "annotations.npz")
    ids = ann["instance_ids"]
    assert ids.shape == (17, 480, 720) and set(np.unique(ids)) == {0, 1, 2}  # background, hand, mug
    assert read_video(clip / "seg.mp4").shape == (17, 480, 720, 3)


def test_demo_rejects_bad_options_without_output(tmp_path):
    for args in (["--frames", "5"], ["--object", "teapot"]):
        result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), *args])
        assert result.exit_code == 1 and "error" in result.output
        assert not (tmp_path / "demo").exists()
