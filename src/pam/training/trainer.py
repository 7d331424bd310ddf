"""The accelerate training loop, generic over :class:`~pam.training.stages.Stage`.

``train(config)`` runs a fixed sequence: accelerator -> clips and cache (filled where missing; the
encoders then leave) -> frozen base + trainable ControlNet -> optimiser, LR schedule, EMA -> resume ->
loop. Each optimiser step accumulates ``gradient_accumulation_steps`` micro-batches, clips the
gradient norm, steps the optimiser, the schedule and the EMA, logs, validates and checkpoints. Launch
with ``accelerate launch -m pam train motion ...`` for several processes (DDP, FSDP or DeepSpeed through
the configs in ``configs/accelerate/``), or run it in one process.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pam.training.config import OptimConfig, TrainConfig

Progress = Callable[[dict], None]


def make_optimizer(optim: OptimConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """AdamW (torch) or 8-bit AdamW (bitsandbytes) over ``params`` with the configured values."""
    kwargs = dict(lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay, eps=optim.eps)
    if optim.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise ValueError(
                "optim.optimizer=adamw8bit needs bitsandbytes (CUDA): pip install 'pam-engine[train]' bitsandbytes"
            ) from exc
        return bnb.optim.AdamW8bit(params, **kwargs)
    return torch.optim.AdamW(params, **kwargs)


def make_lr_schedule(optim: OptimConfig, optimizer: torch.optim.Optimizer):
    """diffusers' schedule of that name with ``warmup_steps`` over ``max_steps`` optimiser steps."""
    from diffusers.optimization import get_scheduler

    extra = {"num_cycles": optim.num_cycles} if optim.scheduler == "cosine_with_restarts" else {}
    return get_scheduler(
        optim.scheduler, optimizer, num_warmup_steps=optim.warmup_steps, num_training_steps=optim.max_steps, **extra
    )


def flat_config(config: TrainConfig) -> dict:
    """The configuration as flat ``a.b`` scalars (what trackers take as hyper-parameters)."""
    from pam.config import config_to_dict

    out = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            out[prefix] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)

    walk("", config_to_dict(config))
    return out


def train(
    config: TrainConfig, resume: str | None = None, weights_only: bool = False, progress: Progress | None = None
) -> Path:
    """Train ``config.stage``'s ControlNet; returns the run folder (``config.output_dir``).

    Args:
        resume: ``latest`` (the newest checkpoint of the run, or a fresh start if none) or a checkpoint
            folder: weights, optimiser, schedule, RNG and data position restored exactly.
        weights_only: take only the ControlNet weights of ``resume`` (any world size) and start at step 0.
        progress: called on the main process after every optimiser step with
            ``{"step", "max_steps", "loss", "lr", "step_time"}``.
    """
    from accelerate import Accelerator, DistributedType
    from accelerate.utils import ProjectConfiguration

    from pam.config import save_config
    from pam.training import checkpoint as ckpt
    from pam.training.data import TrainState, make_loader
    from pam.training.stages import make_stage, sample_seed

    out = Path(config.output_dir)
    optim = config.optim
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # without it, torchrun's processes on a CPU machine each run alone
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=optim.gradient_accumulation_steps,
        log_with=None if config.tracker == "none" else config.tracker,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    rank, world, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    stage = make_stage(config)

    dataset, val_clips, cache, extras = prepare_data(stage, accelerator)
    global_batch = optim.batch_size * world
    batches_per_epoch = len(dataset) // global_batch

    # ------------------------------------------------------------------ models and optimiser
    module = stage.build_module(device, stage.weight_dtype, extras)
    if resume and weights_only:
        path = ckpt.resolve_resume(out, resume)
        if path is not None:
            loaded = type(module.controlnet).from_pretrained(path / "controlnet")
            module.controlnet.load_state_dict(loaded.state_dict())
        resume = None
    params = [p for p in module.controlnet.parameters() if p.requires_grad]
    optimizer = make_optimizer(optim, params)
    lr_schedule = make_lr_schedule(optim, optimizer)
    ema = None
    if optim.ema_decay is not None:
        from diffusers.training_utils import EMAModel

        controlnet = module.controlnet
        ema = EMAModel(params, decay=optim.ema_decay, model_cls=type(controlnet), model_config=controlnet.config)
        ema.to(device)
    if accelerator.distributed_type == DistributedType.DEEPSPEED:  # no prepared DataLoader to read it from
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = optim.batch_size
    model, optimizer = accelerator.prepare(module, optimizer)
    state = TrainState()
    accelerator.register_for_checkpointing(state, lr_schedule, *([ema] if ema is not None else []))

    if resume:
        path = ckpt.resolve_resume(out, resume)
        if path is not None:
            saved = ckpt.read_state(path)
            if saved.get("world_size") != world or saved.get("global_batch") != global_batch:
                raise ValueError(
                    f"{path}: saved with {saved.get('world_size')} processes (global batch {saved.get('global_batch')}), "
                    f"now {world} ({global_batch}): an exact resume needs the same; use --weights-only"
                )
            accelerator.load_state(str(path))
    if accelerator.is_main_process:
        save_config(config, out / "config.yaml")
    if config.tracker != "none":
        accelerator.init_trackers("pam-train", config=flat_config(config))
    validate_now = bool(val_clips) and config.validation.every > 0
    if validate_now and accelerator.distributed_type == DistributedType.FSDP:
        validate_now = False  # sharded weights: validate from a checkpoint instead (docs/training.md)

    # ------------------------------------------------------------------ the loop
    accum, micro, losses = optim.gradient_accumulation_steps, 0, []
    started = time.perf_counter()
    while state.step < optim.max_steps:
        loader = make_loader(
            dataset, optim.batch_size, rank, world, config.seed, state.epoch, state.cursor, config.data.num_workers
        )
        for batch in loader:
            batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
            seeds = [sample_seed(config.seed, state.step, micro, rank * optim.batch_size + j) for j in range(optim.batch_size)]
            with accelerator.accumulate(model):
                loss = model(batch, seeds)
                accelerator.backward(loss)
                if accelerator.sync_gradients and optim.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            state.advance(global_batch, batches_per_epoch)
            losses.append(loss.detach().float())
            micro += 1
            if micro < accum:
                continue
            lr_schedule.step()
            if ema is not None:
                ema.step(params)
            state.step += 1
            mean_loss = accelerator.reduce(torch.stack(losses).mean(), "mean").item()
            micro, losses = 0, []
            step_time = time.perf_counter() - started
            started = time.perf_counter()
            logs = {"loss": mean_loss, "lr": lr_schedule.get_last_lr()[0], "step_time": step_time,
                    "samples_per_s": global_batch * accum / step_time}
            if state.step % config.log_every == 0:
                accelerator.log(logs, step=state.step)
            if progress is not None and accelerator.is_main_process:
                progress({"step": state.step, "max_steps": optim.max_steps, **logs})
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"step {state.step}: the loss is {mean_loss}; lower optim.lr or check the data")
            last = state.step >= optim.max_steps
            if validate_now and (state.step % config.validation.every == 0 or last):
                if accelerator.is_main_process:
                    validate(stage, accelerator, accelerator.unwrap_model(model), val_clips, cache, extras, out, state.step)
                accelerator.wait_for_everyone()
            if state.step % config.checkpoint.every == 0 or last:
                meta = {**state.state_dict(), "world_size": world, "global_batch": global_batch, "stage": stage.name}
                ckpt.save_checkpoint(accelerator, out, state.step, model, ema, meta)
                if accelerator.is_main_process:
                    ckpt.prune(out, config.checkpoint.keep)
            started = time.perf_counter()
            if last:
                break
            if state.cursor == 0:
                break  # the epoch rolled over: a new order
    accelerator.unwrap_model(model).detach_base()
    accelerator.end_training()
    return out


def prepare_data(stage, accelerator):
    """Find the clips, fill the cache where records are missing (each process its shard), load the stage-wide
    records and drop the text encoders. Returns (training dataset, validation clips, cache, extras)."""
    from pam.training.data import LatentDataset, find_clips
    from pam.training.latent_cache import CacheError, LatentCache, fill_cache, load_extras, record_key

    config = stage.config
    train_clips = find_clips(config.data.train)
    val_clips = find_clips(config.data.val)[: config.validation.num_clips] if config.data.val else []
    global_batch = config.optim.batch_size * accelerator.num_processes
    if len(train_clips) < global_batch:
        raise ValueError(f"{len(train_clips)} training clips do not fill one global batch of {global_batch}")
    cache = LatentCache(config.cache.dir, config.cache.dtype)
    if config.cache.fill_missing:
        fill_cache(stage, cache, train_clips + val_clips, accelerator.device, accelerator.process_index,
                   accelerator.num_processes)
        accelerator.wait_for_everyone()
    keys = [record_key(stage, cache, clip) for clip in train_clips]
    missing = [clip.clip_id for clip, key in zip(train_clips, keys) if not cache.has(key)]
    if missing:
        raise CacheError(f"{len(missing)} clips are not in the cache {cache.root} (e.g. {missing[0]}): run `pam train cache`")
    extras = load_extras(stage, cache)
    stage.release(*(name for name in stage.encoder_parts if name != "vae"))  # the VAE stays for validation
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return LatentDataset(cache, keys, [clip.clip_id for clip in train_clips]), val_clips, cache, extras


@torch.no_grad()
def validate(stage, accelerator, module, clips: list, cache, extras: dict, out: Path, step: int) -> dict:
    """Generate each held-out clip, write ``validation/step-<n>/<clip_id>.mp4|png`` and ``metrics.json``,
    log PSNR / SSIM / Motion Fidelity (mean over clips) to the tracker; returns the means."""
    from pam.fileio import atomic_path
    from pam.metrics.image import psnr, ssim
    from pam.render.video import write_video
    from pam.training.latent_cache import record_key

    folder = out / "validation" / f"step-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    module.controlnet.eval()
    rows = {}
    try:
        for clip in clips:
            record = cache.load(record_key(stage, cache, clip), clip.clip_id).tensors
            with accelerator.autocast():
                generated = stage.generate(module, clip, record, extras)
            reference = stage.reference(clip)[: len(generated)]
            row = {"psnr": float(np.mean(psnr(generated, reference))), "ssim": float(np.mean(ssim(generated, reference)))}
            if len(generated) > 1 and stage.config.validation.motion_fidelity:
                row["motion_fidelity"] = _motion_fidelity(generated, reference)
            if len(generated) > 1:
                write_video(folder / f"{clip.clip_id}.mp4", generated, fps=15.0)
            else:
                from PIL import Image

                with atomic_path(folder / f"{clip.clip_id}.png") as tmp:
                    Image.fromarray(generated[0]).save(tmp, format="PNG")
            rows[clip.clip_id] = row
    finally:
        module.controlnet.train()
    means = {f"val/{name}": float(np.nanmean([row[name] for row in rows.values()])) for name in next(iter(rows.values()))}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps({"step": step, "mean": means, "clips": rows}, indent=2) + "\n")
    accelerator.log(means, step=step)
    return means


def _motion_fidelity(generated: np.ndarray, reference: np.ndarray) -> float:
    """Motion Fidelity (Lucas-Kanade tracks); NaN where no point can be tracked (e.g. a still reference)."""
    from pam.metrics.motion_fidelity import motion_fidelity

    try:
        return float(motion_fidelity(generated, reference))
    except ValueError:
        return float("nan")
