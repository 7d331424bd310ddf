"""AppearancePipeline end to end at a tiny size, loading of parts, the training loss, the CLI."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from diffusers import FluxPipeline
from PIL import Image
from tiny_flux import TEXT_DIM, flux_scheduler, perturb_, tiny_pipeline_parts, xflux_state_dict
from typer.testing import CliRunner

from pam.models.flux_controlnet import FluxMultiConditionControlNet
from pam.models.flux_release import FluxReleaseControlNet
from pam.home import MissingWeightsError
from pam.pipelines.appearance import AppearancePipeline, shift_mu
from pam.training.appearance_loss import appearance_loss
from optim_steps import optimizer_steps
from samples import SAMPLES as OFFICIAL_SAMPLES

HEIGHT, WIDTH = 32, 48
PROMPT = "a hand holds the red mug"
CALL = dict(height=HEIGHT, width=WIDTH, num_inference_steps=3, max_sequence_length=16)


def random_cues(seed: int = 0, size=(HEIGHT * 2, WIDTH * 2)) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "depth": rng.integers(0, 256, (*size, 3), dtype=np.uint8),
        "seg": Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)),
        "hand": torch.rand(3, *size, generator=torch.Generator().manual_seed(seed)) * 2 - 1,
    }


@pytest.fixture(scope="module")
def pipe() -> AppearancePipeline:
    parts = tiny_pipeline_parts()
    controlnet = perturb_(FluxMultiConditionControlNet.from_transformer(parts["transformer"]))
    pipeline = AppearancePipeline(controlnet=controlnet, **parts)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_runs_end_to_end_at_requested_size_and_is_deterministic(pipe):
    images = pipe(PROMPT, random_cues(), seed=7, **CALL).images
    assert len(images) == 1 and images[0].size == (WIDTH, HEIGHT)
    again = pipe(PROMPT, random_cues(), generator=torch.Generator().manual_seed(7), output_type="np", **CALL).images
    assert np.array_equal(np.asarray(images[0]), (again[0] * 255).round().astype(np.uint8))
    other = pipe(PROMPT, random_cues(), seed=8, output_type="np", **CALL).images
    assert not np.allclose(other, again)
    batch = pipe([PROMPT, "the can"], random_cues(), seed=7, num_images_per_prompt=2, output_type="np", **CALL).images
    assert batch.shape == (4, HEIGHT, WIDTH, 3)


def test_cues_steer_the_image_and_a_dropped_cue_is_the_null_input(pipe):
    def latents(cues, **kw):
        return pipe(PROMPT, cues, seed=3, output_type="latent", **CALL, **kw).images

    cues = random_cues()
    full = latents(cues)
    without_seg = {k: v for k, v in cues.items() if k != "seg"}
    dropped = latents(without_seg)
    assert not torch.allclose(full, dropped, atol=1e-5)
    null_seg = dict(without_seg, seg=np.zeros((HEIGHT * 2, WIDTH * 2, 3), np.uint8))  # all -1 after x/127.5 - 1
    torch.testing.assert_close(latents(null_seg), dropped, rtol=0, atol=1e-6)
    torch.testing.assert_close(latents(cues, cue_scales={"seg": 0.0}), dropped, rtol=0, atol=1e-6)
    half = latents(cues, cue_scales={"seg": 0.5})
    assert not torch.allclose(half, full, atol=1e-5) and not torch.allclose(half, dropped, atol=1e-5)


def test_zero_initialised_controlnet_without_cues_matches_diffusers_flux():
    parts = tiny_pipeline_parts()
    controlnet = FluxMultiConditionControlNet.from_transformer(parts["transformer"])
    ours, reference = AppearancePipeline(controlnet=controlnet, **parts), FluxPipeline(**parts)
    for p in (ours, reference):
        p.set_progress_bar_config(disable=True)
    call = dict(CALL, guidance_scale=4.0, output_type="latent")
    a = ours(PROMPT, generator=torch.Generator().manual_seed(0), **call).images
    b = reference(PROMPT, generator=torch.Generator().manual_seed(0), **call).images
    torch.testing.assert_close(a, b, rtol=0, atol=0)

def test_prompt_embeddings_match_prompt(pipe):
    embeds, pooled, _ = pipe.encode_prompt(PROMPT, None, max_sequence_length=16)
    a = pipe(PROMPT, random_cues(), seed=1, output_type="latent", **CALL).images
    b = pipe(prompt_embeds=embeds, pooled_prompt_embeds=pooled, cues=random_cues(), seed=1, output_type="latent", **CALL).images
    torch.testing.assert_close(a, b)


def test_clear_errors_for_bad_cues(pipe):
    with pytest.raises(ValueError, match=r"unknown cue\(s\) \['normal'\]"):
        pipe(PROMPT, dict(random_cues(), normal=np.zeros((8, 8, 3), np.uint8)), **CALL)
    with pytest.raises(ValueError, match="cue 'seg': expected a uint8 array"):
        pipe(PROMPT, dict(random_cues(), seg=np.zeros((32, 32, 4), np.uint8)), **CALL)
    with pytest.raises(ValueError, match="different numbers of images"):
        pipe(PROMPT, dict(random_cues(), seg=np.zeros((2, 64, 96, 3), np.uint8)), **CALL)
    with pytest.raises(ValueError, match="cue 'depth': numpy images must be uint8"):
        pipe(PROMPT, dict(random_cues(), depth=np.zeros((64, 96, 3), np.float32)), **CALL)
    with pytest.raises(ValueError, match="cue 'hand': tensor values must lie in"):
        pipe(PROMPT, dict(random_cues(), hand=torch.full((3, 64, 96), 255.0)), **CALL)
    with pytest.raises(ValueError, match="multiples of 16"):
        pipe(PROMPT, random_cues(), **dict(CALL, height=40))


def test_release_controlnet_in_the_pipeline():
    parts = tiny_pipeline_parts()
    net = perturb_(FluxReleaseControlNet.from_transformer(parts["transformer"]))
    pipe = AppearancePipeline(controlnet=net, **parts)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.default_size == (480, 640)
    cues = {k: v for k, v in random_cues().items()}
    a = pipe(PROMPT, cues, seed=2, output_type="latent", **CALL).images
    b = pipe(PROMPT, dict(cues, normal=np.zeros((HEIGHT * 2, WIDTH * 2, 3), np.uint8)), seed=2, output_type="latent", **CALL).images
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # missing normal = the release's all -1 normal


def save_tiny_parts(tmp_path):
    parts = tiny_pipeline_parts()
    FluxPipeline(**parts).save_pretrained(tmp_path / "flux")
    net = perturb_(FluxMultiConditionControlNet.from_transformer(parts["transformer"]))
    net.save_pretrained(tmp_path / "controlnet")
    return parts, net


def test_from_pretrained_parts_and_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingWeightsError, match="FLUX.1-dev.*black-forest-labs/FLUX.1-dev.*home/FLUX.1-dev"):
        AppearancePipeline.from_pretrained_parts()
    parts, net = save_tiny_parts(tmp_path)
    with pytest.raises(MissingWeightsError, match="GasaiYU/PAM.*home/PAM/controlnet.bin"):
        AppearancePipeline.from_pretrained_parts(tmp_path / "flux")
    pipe = AppearancePipeline.from_pretrained_parts(tmp_path / "flux", tmp_path / "controlnet", torch_dtype=torch.float32)
    assert isinstance(pipe.controlnet, FluxMultiConditionControlNet)
    reference = AppearancePipeline(controlnet=net, **parts)
    for p in (pipe, reference):
        p.set_progress_bar_config(disable=True)
    a = pipe(PROMPT, random_cues(), seed=0, output_type="latent", **CALL).images
    b = reference(PROMPT, random_cues(), seed=0, output_type="latent", **CALL).images
    torch.testing.assert_close(a, b)
    reference.save_pretrained(tmp_path / "pipeline")  # the whole pipeline round-trips the diffusers way
    reloaded = AppearancePipeline.from_pretrained(tmp_path / "pipeline")
    reloaded.set_progress_bar_config(disable=True)
    torch.testing.assert_close(reloaded(PROMPT, random_cues(), seed=0, output_type="latent", **CALL).images, b)
    torch.save(xflux_state_dict(hidden=16, heads=2, txt=TEXT_DIM, vec=TEXT_DIM), tmp_path / "controlnet.bin")
    release = AppearancePipeline.from_pretrained_parts(tmp_path / "flux", tmp_path / "controlnet.bin", torch_dtype=torch.float32)
    assert isinstance(release.controlnet, FluxReleaseControlNet) and release.default_size == (480, 640)


def test_loss_decreases_and_trains_only_the_controlnet():
    parts = tiny_pipeline_parts()
    transformer = parts["transformer"].requires_grad_(False)
    controlnet = FluxMultiConditionControlNet.from_transformer(transformer).train()
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 16, 4, 6, generator=gen)
    cues = {name: torch.randn(2, 16, 4, 6, generator=gen) for name in controlnet.cue_names}
    null = {name: torch.zeros(1, 16, 4, 6) for name in controlnet.cue_names}
    text = torch.randn(2, 5, 32, generator=gen), torch.randn(2, 32, generator=gen)
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=1e-2)

    def loss(**kw):
        return appearance_loss(transformer, controlnet, latents, cues, null, *text, generator=torch.Generator().manual_seed(5), **kw)

    losses = optimizer_steps(loss, optimizer, 8)
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(p.grad is None for p in transformer.parameters())
    # dropout with probability 1 equals feeding the null inputs
    with torch.no_grad():
        all_dropped = loss(cue_dropout={name: 1.0 for name in controlnet.cue_names})
        null_fed = appearance_loss(transformer, controlnet, latents, {}, null, *text, generator=torch.Generator().manual_seed(5))
        assert torch.equal(all_dropped, null_fed)
        assert torch.isfinite(loss(cue_dropout=True))


def test_cli_writes_first_frame_from_a_render_folder(tmp_path, monkeypatch):
    import imageio.v2 as imageio

    from pam.cli import app

    monkeypatch.setenv("PAM_HOME", str(tmp_path / "home"))
    save_tiny_parts(tmp_path)
    conditions = tmp_path / "render"
    conditions.mkdir()
    cues = {k: v for k, v in random_cues().items() if k != "hand"}
    imageio.mimwrite(conditions / "depth.mp4", [cues["depth"]] * 2, fps=15, macro_block_size=16)
    cues["seg"].save(conditions / "seg.png")
    hand = tmp_path / "hand.png"
    Image.fromarray(np.full((64, 96, 3), 200, np.uint8)).save(hand)
    args = ["appearance", str(conditions), "-p", PROMPT, "--hand", str(hand), "--height", "32", "--width", "48",
            "--steps", "2", "--dtype", "fp32", "--controlnet", str(tmp_path / "controlnet")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "frame.png")])
    assert result.exit_code == 1 and "FLUX.1-dev" in result.output and not (tmp_path / "frame.png").exists()
    result = CliRunner().invoke(app, [*args, "--base", str(tmp_path / "flux"), "--out", str(tmp_path / "frame.png")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "frame.png").size == (48, 32)


SAMPLES = OFFICIAL_SAMPLES / "dexycb"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="official samples not present")
def test_official_sample_conditions_drive_the_pipeline(pipe):
    from pam.models import FluxMultiConditionControlNet as exported
    from pam.conditions import find_condition_files
    from pam.render.video import VideoError, read_frame

    assert exported is FluxMultiConditionControlNet
    files = find_condition_files(("depth", "seg", "hand", "normal"), SAMPLES)
    assert {k: p.name for k, p in files.items()} == {
        "depth": "val_depth.mp4", "seg": "val_seg_mask.mp4", "hand": "val_hand_keypoints.mp4", "normal": "val_normal.mp4"
    }
    frames = {name: read_frame(files[name]) for name in pipe.cue_names}
    assert frames["seg"].shape == (480, 720, 3) and frames["depth"].shape == (384, 640, 3)
    assert frames["seg"].dtype == np.uint8 and frames["seg"].max() > 100  # hand / object colours present
    image = pipe(PROMPT, frames, seed=0, **CALL).images[0]
    assert image.size == (WIDTH, HEIGHT)
    with pytest.raises(VideoError, match="frame 500 asked for"):
        read_frame(files["seg"], 500)


def test_loss_with_the_release_controlnet_reads_pixels():
    parts = tiny_pipeline_parts()
    transformer = parts["transformer"].requires_grad_(False)
    net = perturb_(FluxReleaseControlNet.from_transformer(transformer))
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 16, 4, 6, generator=gen)
    pixels = {name: torch.rand(2, 3, 32, 48, generator=gen) * 2 - 1 for name in ("depth", "seg", "hand")}
    null = {name: torch.full((1, 3, 32, 48), -1.0) for name in net.cue_names}
    text = torch.randn(2, 5, 32, generator=gen), torch.randn(2, 32, generator=gen)
    value = appearance_loss(transformer, net, latents, pixels, null, *text, cue_dropout=True, generator=gen)
    value.backward()
    assert torch.isfinite(value) and net.controlnet2.input_hint_block.conv_in.weight.grad.abs().sum() > 0


def test_memory_switches_bf16_and_vae_slicing():
    parts = tiny_pipeline_parts()
    pipe = AppearancePipeline(controlnet=perturb_(FluxMultiConditionControlNet.from_transformer(parts["transformer"])), **parts)
    pipe.set_progress_bar_config(disable=True)
    call = dict(CALL, seed=4, num_images_per_prompt=2, output_type="np")
    plain = pipe(PROMPT, random_cues(), **call).images
    pipe.vae.enable_slicing()  # one sample at a time through the VAE: same images
    np.testing.assert_allclose(pipe(PROMPT, random_cues(), **call).images, plain, atol=1e-4)
    pipe.to(dtype=torch.bfloat16)
    low = pipe(PROMPT, random_cues(), **call).images
    assert low.shape == plain.shape and np.isfinite(low).all()


def xflux_release_sigmas(steps: int, height: int, width: int) -> np.ndarray:
    """The release's schedule, re-implemented from x-flux's formula: get_schedule(steps, (W//8)(H//8)//256),
    i.e. t on linspace(1, 0, steps + 1) shifted by mu linear in L from (256, 0.5) to (4096, 1.15)."""
    seq_len = (width // 8) * (height // 8) // 256
    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (seq_len - 256)
    t = np.linspace(1.0, 0.0, steps + 1)
    with np.errstate(divide="ignore"):
        return np.exp(mu) / (np.exp(mu) + (1.0 / t - 1.0))


def test_shift_rules_closed_form():
    config = flux_scheduler().config
    assert shift_mu(480, 640, "x-flux", config) == pytest.approx(0.5 + 0.65 * (18 - 256) / 3840, abs=1e-12)  # 0.460
    assert shift_mu(480, 640, "flux", config) == pytest.approx(0.5 + 0.65 * (1200 - 256) / 3840, abs=1e-12)  # 0.660
    with pytest.raises(ValueError, match="shift rule"):
        shift_mu(480, 640, "bfl", config)


def test_release_weights_sample_on_the_release_schedule():
    """28 steps at 480 x 640 (the release's setting): the release's sigmas are x-flux's, to float precision;
    the paper's net keeps FluxPipeline's schedule, which differs by up to ~0.05 there. A tiny run checks
    that sampling uses this schedule (at 32 x 48 the two rules still differ by ~2e-4)."""
    parts = tiny_pipeline_parts()
    release = AppearancePipeline(controlnet=FluxReleaseControlNet.from_transformer(parts["transformer"]), **parts)
    paper = AppearancePipeline(controlnet=FluxMultiConditionControlNet.from_transformer(parts["transformer"]), **parts)
    expected = xflux_release_sigmas(28, 480, 640)
    release.set_timesteps(28, 480, 640)
    np.testing.assert_allclose(release.scheduler.sigmas.numpy(), expected, rtol=0, atol=1e-6)
    paper.set_timesteps(28, 480, 640)
    gap = np.abs(paper.scheduler.sigmas.numpy() - expected).max()
    assert 0.04 < gap < 0.06, gap

    release.set_progress_bar_config(disable=True)
    release(PROMPT, random_cues(), seed=0, output_type="latent", **CALL)
    tiny = xflux_release_sigmas(CALL["num_inference_steps"], HEIGHT, WIDTH)
    np.testing.assert_allclose(release.scheduler.sigmas.numpy(), tiny, rtol=0, atol=1e-6)
    paper.set_timesteps(CALL["num_inference_steps"], HEIGHT, WIDTH)
    assert np.abs(paper.scheduler.sigmas.numpy() - tiny).max() > 1e-4


def test_cli_feeds_the_release_its_trained_cues_only(tmp_path, monkeypatch):
    """A `pam render` folder has normal.mp4, but the release never saw a normal image in training: by default
    it gets depth, seg and hand (normal stays the null image, as in its training); --cues overrides."""
    from pam.cli import app

    monkeypatch.setenv("PAM_HOME", str(tmp_path / "home"))
    save_tiny_parts(tmp_path)
    torch.save(xflux_state_dict(hidden=16, heads=2, txt=TEXT_DIM, vec=TEXT_DIM), tmp_path / "controlnet.bin")
    with_normal, without_normal = tmp_path / "with", tmp_path / "without"
    for folder in (with_normal, without_normal):
        folder.mkdir()
        for name, image in random_cues().items():
            array = np.asarray(image) if not isinstance(image, torch.Tensor) else (image.permute(1, 2, 0).numpy() * 127.5 + 127.5).astype(np.uint8)
            Image.fromarray(array).save(folder / f"{name}.png")
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(with_normal / "normal.png")
    common = ["-p", PROMPT, "--height", "32", "--width", "48", "--steps", "2", "--dtype", "fp32", "--device", "cpu",
              "--base", str(tmp_path / "flux"), "--controlnet", str(tmp_path / "controlnet.bin")]

    def generate(folder, out, *extra):
        result = CliRunner().invoke(app, ["appearance", str(folder), *common, "-o", str(tmp_path / out), *extra])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split()), np.asarray(Image.open(tmp_path / out))  # rich wraps at 80

    output, default = generate(with_normal, "default.png")
    assert "cues fed: depth, hand, seg (the cues this checkpoint was trained with); null input for normal" in output
    assert np.array_equal(default, generate(without_normal, "no_normal.png")[1])
    output, forced = generate(with_normal, "forced.png", "--cues", "depth,seg,hand,normal")
    assert "normal never given in this checkpoint's training" in output
    assert not np.array_equal(forced, default)
