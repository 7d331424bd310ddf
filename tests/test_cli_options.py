"""One CLI convention: the new spellings, the old ones (hidden, with a deprecation note), bad values as errors.

The stage commands' work functions are replaced by recorders, so these tests check exactly what the command line
turns into (options dataclass + inputs) without loading models; the end-to-end CLI runs are in the pipeline tests.
"""

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import pam.cli
import pam.cli_options
from pam.cli import app
from pam.cli_options import parse_dtype
from pam.pipelines.options import AppearanceOptions, MotionOptions

DEPRECATED = "is deprecated"


@pytest.fixture
def calls(monkeypatch):
    """Replace run_appearance / run_motion / run_eval by recorders; returns the list of (name, args, kwargs)."""
    import pam.metrics.cli
    import pam.pipelines.cli

    recorded = []

    def recorder(name, result):
        def record(*args, **kwargs):
            recorded.append((name, args, kwargs))
            return result

        return record

    monkeypatch.setattr(pam.pipelines.cli, "run_appearance", recorder("appearance", Path("first_frame.png")))
    monkeypatch.setattr(pam.pipelines.cli, "run_motion", recorder("motion", Path("video.mp4")))
    monkeypatch.setattr(pam.metrics.cli, "run_eval", recorder("eval", None))
    return recorded


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_user_errors_is_still_importable_from_pam_cli():
    assert pam.cli.user_errors is pam.cli_options.user_errors


def test_appearance_new_spellings(calls, tmp_path):
    result = invoke("appearance", tmp_path, "-p", "a mug", "-o", tmp_path / "f.png", "--base", "flux-dir",
                    "--dtype", "fp16", "--offload", "sequential", "--device", "cpu", "--cues", "depth, seg")
    assert result.exit_code == 0, result.output
    assert DEPRECATED not in result.output
    (_, args, kwargs), = calls
    assert args[0] == AppearanceOptions(base="flux-dir", dtype="fp16", offload="sequential", device="cpu",
                                        cues=("depth", "seg"))
    assert kwargs["out"] == tmp_path / "f.png" and kwargs["conditions"] == tmp_path and kwargs["prompt"] == "a mug"


def test_appearance_old_spellings_still_work_with_a_note(calls, tmp_path):
    result = invoke("appearance", tmp_path, "-p", "a mug", "--flux", "flux-dir", "--cpu-offload", "--dtype", "float32")
    assert result.exit_code == 0, result.output
    for old, new in (("--flux", "--base"), ("--cpu-offload", "--offload model"), ("--dtype float32", "--dtype fp32")):
        assert f"{old} {DEPRECATED}" in result.output and f"use {new}" in result.output
    (_, args, _), = calls
    assert args[0] == AppearanceOptions(base="flux-dir", offload="model", dtype="fp32")
    # old and new spelling with different values: an error, not a silent choice
    both = invoke("appearance", tmp_path, "-p", "x", "--flux", "a", "--base", "b")
    assert both.exit_code == 1 and "error: --flux and --base were both given" in both.output


def test_motion_new_spellings(calls, tmp_path):
    first = tmp_path / "first.png"
    result = invoke("motion", first, tmp_path, "-p", "a mug", "-o", tmp_path / "v.mp4", "--controlnet", tmp_path / "cn",
                    "--depth", tmp_path / "d.mp4", "--frames", "9", "--offload", "model")
    assert result.exit_code == 0, result.output
    assert DEPRECATED not in result.output
    (_, args, kwargs), = calls
    assert args[0] == MotionOptions(controlnet=tmp_path / "cn", frames=9, offload="model")
    assert args[0].seed == AppearanceOptions().seed == 0  # one default seed
    assert kwargs["image"] == first and kwargs["conditions"] == tmp_path and kwargs["out"] == tmp_path / "v.mp4"
    assert kwargs["cue_files"]["depth"] == tmp_path / "d.mp4" and kwargs["cue_files"]["seg"] is None


def test_motion_old_spellings_still_work_with_a_note(calls, tmp_path):
    """The old `pam motion IMAGE OUTPUT --cues-dir DIR --release CKPT` still runs."""
    result = invoke("motion", tmp_path / "first.png", tmp_path / "old.mp4", "--prompt", "a mug",
                    "--cues-dir", tmp_path, "--release", tmp_path / "ckpt")
    assert result.exit_code == 0, result.output
    for old in ("the OUTPUT argument", "--cues-dir", "--release"):
        assert f"{old} {DEPRECATED}" in result.output
    (_, args, kwargs), = calls
    assert kwargs["out"] == tmp_path / "old.mp4" and kwargs["conditions"] == tmp_path
    assert args[0].controlnet == tmp_path / "ckpt"


def test_eval_positional_folders_and_old_options(calls, tmp_path):
    new = invoke("eval", tmp_path / "gen", tmp_path / "ref", "--metrics", "psnr", "--device", "cpu")
    old = invoke("eval", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref", "--metrics", "psnr",
                 "--device", "cpu")
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    assert DEPRECATED not in new.output and "--generated is deprecated" in old.output
    (options,) = calls[0][1]
    assert calls[0][1] == calls[1][1] and (options.generated, options.reference, options.metrics) == (
        tmp_path / "gen", tmp_path / "ref", ("psnr",))
    missing = invoke("eval", tmp_path / "gen")
    assert missing.exit_code == 1 and "error:" in missing.output and "REFERENCE" in missing.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["appearance", ".", "-p", "x", "--dtype", "float64"], "--dtype must be one of bf16, fp16, fp32"),
        (["appearance", ".", "-p", "x", "--offload", "cpu"], "offload must be one of none, model, sequential"),
        (["motion", "f.png", "-p", "x", "--dtype", "half"], "--dtype must be one of"),
        (["motion", "f.png", "-p", "x", "--offload", "all"], "offload must be one of none, model, sequential"),
        (["motion", "f.png", "-p", "x", "--frames", "10"], "frames must be of the form 4k + 1"),
    ],
)
def test_bad_values_are_errors_with_exit_1(calls, args, message):
    result = invoke(*args)
    assert result.exit_code == 1 and f"error: {message}" in result.output, result.output
    assert not calls


def test_out_short_alias_on_every_writing_command():
    for command in ("appearance", "motion", "render", "demo", "pose"):
        help_text = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
        assert "--out" in help_text and "-o" in help_text, command
        assert "--flux" not in help_text and "--cues-dir" not in help_text and "--cpu-offload" not in help_text


def test_parse_dtype():
    assert [parse_dtype(n) for n in ("bf16", "fp16", "fp32")] == [torch.bfloat16, torch.float16, torch.float32]
    with pytest.raises(ValueError, match="dtype must be one of bf16, fp16, fp32; got 'bfloat16'"):
        parse_dtype("bfloat16")


def test_offload_needs_an_accelerator():
    from pam.pipelines.loading import place

    for mode in ("model", "sequential"):
        with pytest.raises(ValueError, match=f"--offload {mode} moves models to an accelerator, but the device is cpu"):
            place(None, mode, "cpu")
