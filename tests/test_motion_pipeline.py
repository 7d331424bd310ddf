"""Stage III pipeline end to end on tiny random-weight models: determinism, agreement with diffusers'
image-to-video pipeline when the ControlNet is zero, input errors, loading from disk, and ``pam motion``."""

from __future__ import annotations


import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler, CogVideoXImageToVideoPipeline
from tiny_cogvideox import HEIGHT, NUM_FRAMES, WIDTH, scheduler, tiny_transformer, tiny_vae
from tiny_text import tiny_t5, tiny_tokenizer

from pam.models.cogvideox_controlnet import RELEASE_CUES, RELEASE_TRAINED_CUES, CogVideoXControlNet
from pam.models.cogvideox_release import join_release_state_dict
from pam.pipelines.motion import MotionPipeline
from pam.render.video import read_video, write_video
from samples import SAMPLES as OFFICIAL_SAMPLES

PROMPT = "a hand holds the red mug"
SMALL = dict(height=HEIGHT, width=WIDTH, num_inference_steps=3, negative_prompt="blurry")


def random_video(seed: int, frames: int = NUM_FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, HEIGHT, WIDTH, 3), dtype=np.uint8)


def perturb(controlnet: CogVideoXControlNet) -> CogVideoXControlNet:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in controlnet.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return controlnet


@pytest.fixture(scope="module")
def parts():
    return dict(
        tokenizer=tiny_tokenizer(),
        text_encoder=tiny_t5(),
        vae=tiny_vae(),
        transformer=tiny_transformer(num_layers=2),
        scheduler=scheduler(),
    )


@pytest.fixture(scope="module")
def pipe(parts):
    controlnet = perturb(CogVideoXControlNet.from_transformer(parts["transformer"], num_layers=1))
    return MotionPipeline(controlnet=controlnet, **parts)


def frame0() -> np.ndarray:
    return random_video(0, 1)[0]


def test_end_to_end_is_deterministic_for_a_seed(pipe):
    cues = {"depth": random_video(1), "hand": torch.from_numpy(random_video(2)).permute(3, 0, 1, 2) / 127.5 - 1}

    def generate(seed, **kw):
        return pipe(frame0(), cues, PROMPT, generator=torch.Generator().manual_seed(seed), **SMALL, **kw).frames

    first = generate(7)
    np.testing.assert_array_equal(pipe(frame0(), cues, PROMPT, seed=7, **SMALL).frames, first)
    assert first.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3) and first.dtype == np.float32
    assert 0 <= first.min() and first.max() <= 1
    assert np.array_equal(first, generate(7))
    assert not np.allclose(first, generate(8))
    # the cues matter (same seed, one cue changed)
    other = dict(cues, depth=random_video(3))
    changed = pipe(frame0(), other, PROMPT, generator=torch.Generator().manual_seed(7), **SMALL).frames
    assert not np.allclose(first, changed)
    # with the ControlNet's residuals scaled to zero the cues no longer matter (the name AppearancePipeline uses)
    muted = [pipe(frame0(), c, PROMPT, seed=7, controlnet_conditioning_scale=0.0, **SMALL).frames for c in (cues, other)]
    np.testing.assert_array_equal(muted[0], muted[1])
    assert not np.allclose(muted[0], first)


def test_zero_controlnet_matches_diffusers_image_to_video(parts):
    """With a zero-initialised ControlNet and no cue, the output is diffusers' CogVideoX image-to-video."""
    controlnet = CogVideoXControlNet.from_transformer(parts["transformer"], num_layers=2)
    ours = MotionPipeline(controlnet=controlnet, **parts)
    theirs = CogVideoXImageToVideoPipeline(**parts)
    image = PIL.Image.fromarray(frame0())
    common = dict(
        prompt=PROMPT, negative_prompt="blurry", height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES,
        num_inference_steps=3, guidance_scale=6.0, use_dynamic_cfg=True, output_type="np",
        max_sequence_length=16,
    )  # fmt: skip
    expected = theirs(image, generator=torch.Generator().manual_seed(3), **common).frames
    got = ours(image, {}, generator=torch.Generator().manual_seed(3), **common).frames
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_clear_errors_for_bad_inputs(pipe):
    cues = {"depth": random_video(1)}
    call = dict(generator=torch.Generator().manual_seed(0), **SMALL)
    with pytest.raises(ValueError, match="4k \\+ 1"):
        pipe(frame0(), {"depth": random_video(1, frames=10)}, PROMPT, **call)
    with pytest.raises(ValueError, match="num_frames=9"):
        pipe(frame0(), {"depth": random_video(1), "seg": random_video(2, frames=5)}, PROMPT, **call)
    with pytest.raises(ValueError, match=r"unknown cue\(s\) \['normal'\]"):
        pipe(frame0(), {"normal": random_video(1)}, PROMPT, **call)
    with pytest.raises(ValueError, match="cues\\['depth'\\]"):
        pipe(frame0(), {"depth": random_video(1).astype(np.float32)}, PROMPT, **call)
    with pytest.raises(TypeError, match="cues\\['seg'\\]"):
        pipe(frame0(), {"seg": [random_video(1)]}, PROMPT, **call)
    with pytest.raises(ValueError, match="only generates 64 x 96"):
        pipe(frame0(), cues, PROMPT, **dict(call, height=128))
    with pytest.raises(ValueError, match="one prompt"):
        pipe(frame0(), cues, [PROMPT, PROMPT], **call)


@pytest.fixture(scope="module")
def model_dirs(parts, pipe, tmp_path_factory):
    """A tiny on-disk 'CogVideoX-5b-I2V' directory, our ControlNet and a release-format checkpoint."""
    root = tmp_path_factory.mktemp("weights")
    CogVideoXImageToVideoPipeline(**parts).save_pretrained(root / "base")
    pipe.controlnet.save_pretrained(root / "controlnet")
    release = CogVideoXControlNet.from_transformer(parts["transformer"], num_layers=1, cues=RELEASE_CUES)
    state = join_release_state_dict(parts["transformer"].state_dict(), perturb(release).state_dict())
    (root / "release").mkdir()
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, root / "release" / "diffusion_pytorch_model.safetensors")
    return root


def test_loading_from_disk(model_dirs, pipe, monkeypatch, tmp_path):
    loaded = MotionPipeline.from_pretrained_parts(model_dirs / "base", controlnet=model_dirs / "controlnet", torch_dtype=torch.float32)
    assert loaded.scheduler.config.timestep_spacing == "trailing"
    cues = {"depth": random_video(1)}
    run = dict(generator=torch.Generator().manual_seed(1), **SMALL)
    expected = pipe(frame0(), cues, PROMPT, **run).frames
    run["generator"] = torch.Generator().manual_seed(1)
    np.testing.assert_array_equal(loaded(frame0(), cues, PROMPT, **run).frames, expected)

    loaded.save_pretrained(tmp_path / "whole")  # the whole pipeline, ControlNet included, round-trips
    reloaded = MotionPipeline.from_pretrained(tmp_path / "whole")
    run["generator"] = torch.Generator().manual_seed(1)
    np.testing.assert_array_equal(reloaded(frame0(), cues, PROMPT, **run).frames, expected)

    monkeypatch.setenv("PAM_HOME", str(model_dirs))
    (model_dirs / "PAM").mkdir(exist_ok=True)
    (model_dirs / "PAM" / "motion").symlink_to(model_dirs / "release")
    release = MotionPipeline.from_pretrained_parts(model_dirs / "base", torch_dtype=torch.float32)
    assert release.controlnet.cue_names == RELEASE_CUES
    release(frame0(), cues, PROMPT, **dict(run, num_inference_steps=1))

    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="THUDM/CogVideoX-5b-I2V"):
        MotionPipeline.from_pretrained_parts()
    with pytest.raises(FileNotFoundError, match="GasaiYU/PAM"):
        MotionPipeline.from_pretrained_parts(model_dirs / "base")
    (tmp_path / "partial").mkdir()
    with pytest.raises(FileNotFoundError, match="no tokenizer/ folder"):
        MotionPipeline.from_pretrained_parts(tmp_path / "partial")


def test_cli_writes_a_video(model_dirs, tmp_path):
    from typer.testing import CliRunner

    from pam.cli import app

    PIL.Image.fromarray(frame0()).save(tmp_path / "first.png")
    cues = tmp_path / "cues"
    write_video(cues / "depth.mp4", random_video(1, frames=12), fps=15)
    write_video(cues / "hand_keypoints.mp4", random_video(2), fps=15)
    assert read_video(cues / "depth.mp4").shape == (12, HEIGHT, WIDTH, 3)
    common = [
        str(tmp_path / "first.png"), "--prompt", PROMPT, "--frames", "9", "--height", "64", "--width", "96",
        "--steps", "2", "--dtype", "fp32", "--device", "cpu", "--base", str(model_dirs / "base"),
        "--controlnet", str(model_dirs / "controlnet"),
    ]  # fmt: skip
    def invoke(output, *extra):
        return CliRunner().invoke(app, ["motion", common[0], *common[1:], "-o", str(tmp_path / output), *extra])

    result = invoke("out.mp4", str(cues))
    assert result.exit_code == 0, result.output
    video = read_video(tmp_path / "out.mp4")
    assert video.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert "cues fed: depth, seg, hand (the cues this checkpoint was trained with)" in " ".join(result.output.split())

    bad = invoke("bad.mp4", "--seg", str(tmp_path / "missing.mp4"))
    assert bad.exit_code == 1 and "missing.mp4" in bad.output
    assert not (tmp_path / "bad.mp4").exists()


SAMPLES = OFFICIAL_SAMPLES / "dexycb"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="official samples not available")
def test_official_sample_cues_run_through_the_pipeline(pipe):
    """The release's DexYCB example (first frame + depth / seg / keypoint videos) read, resized and sampled."""
    cues = {
        name: read_video(SAMPLES / f"val_{file}.mp4")[:NUM_FRAMES]
        for name, file in (("depth", "depth"), ("seg", "seg_mask"), ("hand", "hand_keypoints"))
    }
    assert all(video.shape[0] == NUM_FRAMES and video.dtype == np.uint8 for video in cues.values())
    image = PIL.Image.open(SAMPLES / "val_image.jpg")
    run = dict(SMALL, num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    frames = pipe(image, cues, PROMPT, **run).frames
    assert frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3) and np.isfinite(frames).all()


def test_from_pretrained_accepts_the_base_ddim_scheduler(parts, pipe, tmp_path):
    """CogVideoX-5b-I2V ships a DDIM scheduler: `from_pretrained(base, controlnet=...)` builds the DPM
    scheduler from its config (as diffusers pipelines swap schedulers) and samples like the DPM pipeline."""
    ddim = CogVideoXDDIMScheduler.from_config(parts["scheduler"].config)
    CogVideoXImageToVideoPipeline(**dict(parts, scheduler=ddim)).save_pretrained(tmp_path / "base")
    loaded = MotionPipeline.from_pretrained(tmp_path / "base", controlnet=pipe.controlnet)
    assert type(loaded.scheduler) is CogVideoXDPMScheduler
    assert loaded.scheduler.config.timestep_spacing == "trailing" and loaded.scheduler.config.rescale_betas_zero_snr
    cues = {"depth": random_video(1)}
    run = dict(SMALL, num_inference_steps=2)
    expected = pipe(frame0(), cues, PROMPT, seed=3, **run).frames
    np.testing.assert_array_equal(loaded(frame0(), cues, PROMPT, seed=3, **run).frames, expected)


def test_cli_feeds_the_release_its_trained_cues_only(model_dirs, tmp_path, monkeypatch):
    """The release's normal slot was always zero in its training: a conditions folder's normal.mp4 is not
    fed by default (same video as without it); --cues can still force it."""
    from typer.testing import CliRunner

    import pam.pipelines.loading
    from pam.cli import app

    real_loader, loaded = pam.pipelines.loading.load_motion_pipeline, []

    def load_once(options):  # the three runs share one loaded release pipeline (the options are the same)
        loaded.append(loaded[0] if loaded else real_loader(options))
        return loaded[-1]

    monkeypatch.setattr(pam.pipelines.loading, "load_motion_pipeline", load_once)

    PIL.Image.fromarray(frame0()).save(tmp_path / "first.png")
    with_normal, without_normal = tmp_path / "with", tmp_path / "without"
    for folder in (with_normal, without_normal):
        write_video(folder / "depth.mp4", random_video(1), fps=15)
        write_video(folder / "hand_keypoints.mp4", random_video(2), fps=15)
    write_video(with_normal / "normal.mp4", random_video(3), fps=15)

    def generate(folder, out, *extra):
        result = CliRunner().invoke(app, [
            "motion", str(tmp_path / "first.png"), str(folder), "-p", PROMPT, "--frames", "9", "--height", "64",
            "--width", "96", "--steps", "1", "--dtype", "fp32", "--device", "cpu", "--base", str(model_dirs / "base"),
            "--controlnet", str(model_dirs / "release"), "-o", str(tmp_path / out), *extra,
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split()), read_video(tmp_path / out)

    output, default = generate(with_normal, "default.mp4")
    assert "cues fed: depth, seg, hand (the cues this checkpoint was trained with); null input for tracking, normal" in output
    np.testing.assert_array_equal(default, generate(without_normal, "without.mp4")[1])
    output, forced = generate(with_normal, "forced.mp4", "--cues", "depth,hand,normal")
    assert "normal never given in this checkpoint's training" in output
    assert not np.array_equal(forced, default)
    assert len(loaded) == 3 and loaded[0].trained_cue_names == RELEASE_TRAINED_CUES
