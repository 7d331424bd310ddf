"""Trainers on tiny random models (CPU): cache, data order, overfitting, exact resume, multi-process
equivalence, frozen base, checkpoints in the pipelines, the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pam.config import ConfigError
from pam.sequence import Camera, HOISequence, ObjectTrack
from pam.training.config import load_train_config
from pam.training.data import ResumableBatches, TrainState, find_clips
from pam.training.latent_cache import LatentCache, fill_cache, load_extras, record_key
from pam.training.smoke import smoke_settings, write_synthetic_clip
from pam.training.stages import make_stage

FRAMES, HEIGHT, WIDTH = 9, 64, 96


def moving_mug(shift: float) -> HOISequence:
    """A mug sliding across a 64 x 96 view over 9 frames (no hand: the conditions render in a second)."""
    x = np.linspace(-0.04, 0.04, FRAMES) + shift
    track = ObjectTrack("mug", np.tile(np.eye(3), (FRAMES, 1, 1)), np.stack([x, 0 * x, 0 * x], 1))
    camera = Camera(K=np.array([[110.0, 0, 48], [0, 110.0, 32], [0, 0, 1]]), t=np.array([0, 0, 0.35]),
                    height=HEIGHT, width=WIDTH)
    return HOISequence(hands=[], objects=[track], camera=camera, fps=15.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    for i, shift in enumerate((0.0, 0.02)):
        write_synthetic_clip(root / "train", f"mug-{i}", moving_mug(shift), prompt="a red mug on the table")
    write_synthetic_clip(root / "val", "mug-val", moving_mug(-0.02), prompt="the mug on the table")
    return root


def make_config(clips: Path, out: Path, stage: str = "motion", *overrides: str):
    settings = smoke_settings(stage, out)
    settings.update(tracker="none", data={"train": [str(clips / "train")], "val": [str(clips / "val")], "num_workers": 0})
    settings["cache"] = {"dir": str(clips / f"cache-{stage}")}
    settings["validation"] = {"every": 0}
    return load_train_config(stage, settings, overrides)


def run_train(config, **kwargs) -> Path:
    from accelerate.state import AcceleratorState

    from pam.training.trainer import train

    AcceleratorState._reset_state(True)
    return train(config, **kwargs)


def fixed_loss(config, controlnet_dir: Path | None, draws: int = 6) -> float:
    """Mean loss over the training clips with fixed draws (same t, noise, masks) for a ControlNet."""
    stage = make_stage(config)
    cache = LatentCache(config.cache.dir, config.cache.dtype)
    module = stage.build_module(torch.device("cpu"), torch.float32, load_extras(stage, cache))
    if controlnet_dir is not None:
        module.controlnet.load_state_dict(type(module.controlnet).from_pretrained(controlnet_dir).state_dict())
    records = [cache.load(record_key(stage, cache, clip)).tensors for clip in find_clips(config.data.train)]
    batch = {name: torch.stack([r[name] for r in records]) for name in records[0]}
    with torch.no_grad():
        losses = [module(batch, [1000 * k + i for i in range(len(records))]).item() for k in range(draws)]
    module.detach_base()
    return float(np.mean(losses))


# ------------------------------------------------------------------------------------------ config
def test_config_defaults_are_the_papers_and_overrides_apply(tmp_path):
    config = load_train_config("motion")
    o = config.optim
    assert (o.lr, o.betas, o.weight_decay, o.eps, o.max_grad_norm, o.warmup_steps) == (1e-4, (0.9, 0.95), 1e-3, 1e-8, 1.0, 100)
    assert (o.scheduler, config.mixed_precision, config.gradient_checkpointing) == ("cosine_with_restarts", "bf16", True)
    assert config.motion.cue_dropout == {"depth": 0.2, "seg": 0.2, "hand": 0.2} and config.motion.first_frame_drop == 0.05
    assert config.appearance.cue_dropout == {"depth": 0.2, "seg": 0.2, "hand": 0.05}
    assert (config.motion.num_frames, config.motion.height, config.motion.width) == (49, 480, 720)
    path = tmp_path / "train.yaml"
    path.write_text("stage: appearance\noptim:\n  lr: 3.0e-5\n")
    config = load_train_config("appearance", path, ["optim.batch_size=4", "appearance.cue_dropout={depth: 0.5}"])
    assert (config.optim.lr, config.optim.batch_size, config.appearance.cue_dropout) == (3e-5, 4, {"depth": 0.5})
    for stage in ("motion", "appearance"):  # the example configs in the repository validate
        assert load_train_config(stage, Path(__file__).parents[1] / "configs" / "train" / f"{stage}.yaml").stage == stage
    with pytest.raises(ConfigError, match="this command trains 'motion'"):
        load_train_config("motion", path)
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_train_config("motion", None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="cue_dropout"):
        load_train_config("motion", None, ["motion.cue_dropout={normal: 0.5}"])


def test_importing_the_training_package_loads_neither_accelerate_nor_diffusers():
    code = ("import sys, pam.cli, pam.training.cli, pam.training.trainer, pam.training.stages, pam.training.data; "
            "print(sorted(m for m in ('accelerate', 'diffusers') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ data order
def test_batches_resume_from_a_cursor_and_split_over_processes():
    whole = [b for b in ResumableBatches(10, 2, 0, 1, seed=3, epoch=1, start=0)]
    assert sorted(i for b in whole for i in b) == sorted(torch.randperm(10, generator=torch.Generator().manual_seed(3 * 1_000_003 + 1)).tolist())
    assert list(ResumableBatches(10, 2, 0, 1, seed=3, epoch=1, start=4)) == whole[2:]
    ranks = [list(ResumableBatches(10, 1, r, 2, seed=3, epoch=1, start=0)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == whole  # two processes of batch 1 = one of batch 2
    assert list(ResumableBatches(10, 2, 0, 1, seed=3, epoch=2, start=0)) != whole
    state = TrainState()
    for _ in range(5):
        state.advance(2, 5)
    assert (state.epoch, state.cursor, state.samples_seen) == (1, 0, 10)


# ------------------------------------------------------------------------------------------ cache
def test_cache_is_keyed_by_content_resumable_and_bf16(clips, tmp_path):
    config = make_config(clips, tmp_path / "run", "motion", f"cache.dir={tmp_path / 'cache'}")
    stage = make_stage(config)
    cache = LatentCache(config.cache.dir, "bf16")
    clip_list = find_clips(config.data.train)
    first = fill_cache(stage, cache, clip_list)
    assert (first.written, first.skipped) == (2, 0)
    assert (fill_cache(stage, cache, clip_list).written, fill_cache(stage, cache, clip_list).skipped) == (0, 2)
    record = cache.load(record_key(stage, cache, clip_list[0])).tensors
    assert record["video"].dtype == torch.bfloat16 and record["video"].shape == (3, 4, 8, 12)
    assert record["image"].shape == (1, 4, 8, 12) and record["prompt_embeds"].shape == (16, 32)
    assert {f"cue.{c}" for c in ("depth", "seg", "hand")} <= set(record)
    # The record is the VAE posterior mean of the clip's first 9 frames, scaled.
    from pam.training.stages import frames_to_tensor, read_frames

    vae = stage.part("vae")
    video = frames_to_tensor(read_frames(clip_list[0].video_path, FRAMES), HEIGHT, WIDTH, False).transpose(0, 1)[None]
    expected = vae.config.scaling_factor * vae.encode(video).latent_dist.mode()[0].transpose(0, 1)
    torch.testing.assert_close(record["video"].float(), expected, atol=0.02 * expected.abs().max().item(), rtol=0.01)
    # Another prompt is another key; the other clip's record is untouched; another dtype another key.
    keys = [record_key(stage, cache, c) for c in clip_list]
    prompt = clip_list[1].path / "prompt.txt"
    original = prompt.read_text()
    prompt.write_text("a hand holds the mug\n")
    try:
        assert record_key(stage, cache, clip_list[1]) != keys[1] and record_key(stage, cache, clip_list[0]) == keys[0]
    finally:
        prompt.write_text(original)
        os.utime(prompt, ns=(0, 0))  # a new mtime: the hash is recomputed from the bytes
    assert record_key(stage, cache, clip_list[1]) == keys[1]
    fp32 = make_stage(make_config(clips, tmp_path / "run", "motion", "cache.dtype=fp32"))
    assert record_key(fp32, cache, clip_list[0]) != keys[0]
    rows = cache.manifest()
    assert {row["clip_id"] for row in rows.values()} == {"mug-0", "mug-1", "negative_prompt"}
    assert all(row["bytes"] == cache.path(key).stat().st_size for key, row in rows.items())


# ------------------------------------------------------------------------------------------ training
def wide_flux_transformer(seed: int = 0):
    """The smoke Flux transformer at width 64 instead of 16: a width-16 stream cannot carry the 64 velocity
    features of a 2 x 2 packed token, so the narrow model's loss has a floor above half its start."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=3, num_single_layers=1, attention_head_dim=32,
                                  num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
                                  guidance_embeds=True, axes_dims_rope=[8, 12, 12]).eval()


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["motion", "appearance"])
def test_overfitting_two_clips_halves_the_loss(clips, tmp_path, stage, monkeypatch):
    import pam.smoke

    monkeypatch.setattr(pam.smoke, "tiny_flux_transformer", wide_flux_transformer)
    extra = ["motion.first_frame_drop=0.0"] if stage == "motion" else []
    lr = "1.0e-2" if stage == "motion" else "3.0e-3"
    config = make_config(clips, tmp_path / "run", stage, "optim.max_steps=300", f"optim.lr={lr}", "optim.warmup_steps=0",
                         "optim.batch_size=2", "optim.scheduler=cosine", "checkpoint.every=300",
                         f"{stage}.cue_dropout={{}}", *extra)
    out = run_train(config)
    before = fixed_loss(config, None)  # the zero-initialised ControlNet: the base alone
    after = fixed_loss(config, out / "checkpoint-300" / "controlnet")
    assert after < 0.5 * before, (before, after)


def test_killed_after_a_checkpoint_and_resumed_is_bit_identical(clips, tmp_path):
    overrides = ("optim.max_steps=3", "checkpoint.every=2", "checkpoint.keep=5", "optim.warmup_steps=1",
                 "optim.gradient_accumulation_steps=2")
    straight = run_train(make_config(clips, tmp_path / "straight", "motion", *overrides))
    config = make_config(clips, tmp_path / "resumed", "motion", *overrides)

    def kill(logs):
        if logs["step"] == 3:  # after checkpoint-2, before checkpoint-3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_train(config, progress=kill)
    assert [p.name for p in sorted(config.output_dir.glob("checkpoint-*"))] == ["checkpoint-2"]
    run_train(config, resume="latest")
    for name in ("model.safetensors", "controlnet/diffusion_pytorch_model.safetensors"):
        a, b = load_file(straight / "checkpoint-3" / name), load_file(config.output_dir / "checkpoint-3" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    opt_a = torch.load(straight / "checkpoint-3" / "optimizer.bin", weights_only=False)["state"]
    opt_b = torch.load(config.output_dir / "checkpoint-3" / "optimizer.bin", weights_only=False)["state"]
    assert all(torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"]) for i in opt_a)
    state = json.loads((config.output_dir / "checkpoint-3" / "train_state.json").read_text())
    assert (state["step"], state["samples_seen"]) == (3, 6)


def test_base_is_frozen_and_outside_the_optimizer(clips, tmp_path):
    from pam.training.trainer import make_optimizer

    config = make_config(clips, tmp_path / "run", "motion")
    stage = make_stage(config)
    cache = LatentCache(config.cache.dir, config.cache.dtype)
    fill_cache(stage, cache, find_clips(config.data.train))
    module = stage.build_module(torch.device("cpu"), torch.float32, load_extras(stage, cache))
    base_before = {k: v.clone() for k, v in module.transformer.state_dict().items()}
    optimizer = make_optimizer(config.optim, [p for p in module.parameters() if p.requires_grad])
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in module.controlnet.parameters()}
    assert not in_optimizer & {id(p) for p in module.transformer.parameters()}
    assert not any(k.startswith("transformer") for k in module.state_dict())
    records = [cache.load(record_key(stage, cache, c)).tensors for c in find_clips(config.data.train)]
    batch = {name: torch.stack([r[name] for r in records]) for name in records[0]}
    for step in range(2):
        module(batch, [step, step + 7]).backward()
        optimizer.step()
        optimizer.zero_grad()
    module.detach_base()
    assert all(p.grad is None for p in module.transformer.parameters())
    assert all(torch.equal(base_before[k], v) for k, v in module.transformer.state_dict().items())
    assert not torch.equal(module.controlnet.controlnet_blocks[0].weight, torch.zeros_like(module.controlnet.controlnet_blocks[0].weight))


def test_validation_ema_and_weights_only_resume(clips, tmp_path):
    from pam.models.cogvideox_controlnet import CogVideoXControlNet

    first = run_train(make_config(clips, tmp_path / "first", "motion", "optim.max_steps=2", "optim.warmup_steps=0",
                                  "optim.lr=1.0e-2", "optim.ema_decay=0.5", "checkpoint.every=2",
                                  "validation.every=2", "validation.steps=2"))
    metrics = json.loads((first / "validation" / "step-2" / "metrics.json").read_text())
    assert set(metrics["clips"]) == {"mug-val"} and (first / "validation" / "step-2" / "mug-val.mp4").is_file()
    assert set(metrics["mean"]) == {"val/psnr", "val/ssim", "val/motion_fidelity"} and metrics["mean"]["val/psnr"] > 0
    trained = CogVideoXControlNet.from_pretrained(first / "checkpoint-2" / "controlnet").state_dict()
    ema = CogVideoXControlNet.from_pretrained(first / "checkpoint-2" / "controlnet_ema").state_dict()
    moved = [k for k in trained if not torch.equal(trained[k], ema[k])]
    assert moved and trained.keys() == ema.keys()  # the EMA lags the weights
    # Another run takes only the weights (its own optimiser, step 0); with a negligible lr it keeps them.
    second = run_train(make_config(clips, tmp_path / "second", "motion", "optim.max_steps=1", "optim.lr=1.0e-12",
                                   "checkpoint.every=1", "optim.batch_size=2"),
                       resume=str(first / "checkpoint-2"), weights_only=True)
    state = json.loads((second / "checkpoint-1" / "train_state.json").read_text())
    assert (state["step"], state["global_batch"]) == (1, 2)
    after = CogVideoXControlNet.from_pretrained(second / "checkpoint-1" / "controlnet").state_dict()
    assert all(torch.allclose(after[k], trained[k], atol=1e-6) for k in trained)


def test_eight_bit_adamw_needs_bitsandbytes():
    pytest.importorskip("accelerate")
    from pam.training.config import OptimConfig
    from pam.training.trainer import make_optimizer

    param = torch.nn.Parameter(torch.zeros(3))
    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(ValueError, match="pip install"):
            make_optimizer(OptimConfig(optimizer="adamw8bit"), [param])
    else:
        assert type(make_optimizer(OptimConfig(optimizer="adamw8bit"), [param])).__name__ == "AdamW8bit"
    optimizer = make_optimizer(OptimConfig(), [param])
    assert optimizer.defaults["betas"] == (0.9, 0.95) and optimizer.defaults["weight_decay"] == 1e-3


@pytest.mark.parametrize("stage", ["motion", "appearance"])
def test_checkpoint_loads_into_the_pipeline_and_changes_its_output(clips, tmp_path, stage):
    from pam.smoke import tiny_cogvideox_parts, tiny_flux_parts

    out = run_train(make_config(clips, tmp_path / "run", stage, "optim.max_steps=4", "optim.warmup_steps=0",
                                "optim.lr=1.0e-2", "checkpoint.every=4"))
    saved = out / "checkpoint-4" / "controlnet"
    video = (clips / "val" / "mug-val")
    from pam.render.video import read_video

    cues = {c: read_video(video / f, max_frames=FRAMES) for c, f in (("depth", "depth.mp4"), ("seg", "seg.mp4"), ("hand", "hand_keypoints.mp4"))}
    if stage == "motion":
        from pam.models.cogvideox_controlnet import CogVideoXControlNet
        from pam.pipelines.motion import MotionPipeline

        parts = tiny_cogvideox_parts(seed=0)
        trained = CogVideoXControlNet.from_pretrained(saved)
        zero = CogVideoXControlNet.from_transformer(parts["transformer"], num_layers=1)

        def generate(net):
            pipe = MotionPipeline(controlnet=net, **parts)
            pipe.set_progress_bar_config(disable=True)
            return pipe(image=cues["depth"][0], cues=cues, prompt="a red mug", height=HEIGHT, width=WIDTH,
                        num_inference_steps=2, seed=0, output_type="np").frames[0]
    else:
        from pam.models.flux_controlnet import FluxMultiConditionControlNet
        from pam.pipelines.appearance import AppearancePipeline

        parts = tiny_flux_parts(seed=0)
        trained = FluxMultiConditionControlNet.from_pretrained(saved)
        zero = FluxMultiConditionControlNet.from_transformer(parts["transformer"])

        def generate(net):
            pipe = AppearancePipeline(controlnet=net, **parts)
            pipe.set_progress_bar_config(disable=True)
            return pipe(prompt="a red mug", cues={c: v[0] for c, v in cues.items()}, height=HEIGHT, width=WIDTH,
                        num_inference_steps=2, seed=0, output_type="np").images
    assert {k: v.shape for k, v in trained.state_dict().items()} == {k: v.shape for k, v in zero.state_dict().items()}
    base = generate(zero)
    assert np.abs(generate(trained) - base).max() > 1e-3


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(clips, tmp_path):
    common = ["optim.max_steps=3", "optim.warmup_steps=0", "optim.lr=1.0e-3", "checkpoint.every=3", "data.num_workers=0"]
    one = make_config(clips, tmp_path / "one", "motion", "optim.batch_size=2", *common)
    run_train(one)  # also fills the cache
    config = tmp_path / "two.yaml"
    from pam.config import save_config

    two = make_config(clips, tmp_path / "two", "motion", "optim.batch_size=1", *common)
    save_config(two, config)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "pam", "train", "motion", "--config", str(config)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((two.output_dir / "checkpoint-3" / "train_state.json").read_text())
    assert state["world_size"] == 2 and state["global_batch"] == 2
    a = load_file(one.output_dir / "checkpoint-3" / "model.safetensors")
    b = load_file(two.output_dir / "checkpoint-3" / "model.safetensors")
    assert a.keys() == b.keys() and a["controlnet.cue_combine.weight"].abs().max() > 0  # trained away from zero
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_cache_then_reports_bad_configs_without_traceback(clips, tmp_path):
    from typer.testing import CliRunner

    from pam.cli import app
    from pam.config import save_config

    config = tmp_path / "motion.yaml"
    save_config(make_config(clips, tmp_path / "run", "motion", f"cache.dir={tmp_path / 'cache'}"), config)
    def cache(*extra: str) -> str:
        result = CliRunner().invoke(app, ["train", "cache", "--config", str(config), *extra])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())  # Rich wraps lines

    assert "3 records written" in cache()
    assert "0 records written, 3 already there" in cache().replace(" (0.00 MiB)", "")

    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: fast\n")
    result = CliRunner().invoke(app, ["train", "motion", "--config", str(bad)])
    assert result.exit_code == 1 and "optim.lr: expected a number" in result.output
    result = CliRunner().invoke(app, ["train", "motion"])
    assert result.exit_code == 1 and "--config" in result.output


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path):
    """`pam train motion --smoke`: Stage I clips, cache, training, checkpoints, validation, on the CPU."""
    from accelerate.state import AcceleratorState
    from typer.testing import CliRunner

    from pam.cli import app

    AcceleratorState._reset_state(True)
    out = tmp_path / "smoke"
    result = CliRunner().invoke(app, ["train", "motion", "--smoke", "--output-dir", str(out), "--max-steps", "4",
                                      "--checkpoint-every", "2", "--set", "validation.every=4", "--set", "tracker=none"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in sorted(out.glob("checkpoint-*"))] == ["checkpoint-2", "checkpoint-4"]
    assert len(find_clips([out / "smoke-clips" / "train"])) == 2
    assert (out / "validation" / "step-4" / "smoke-val-000.mp4").is_file() and (out / "config.yaml").is_file()
