"""``pam train cache | appearance | motion``: the typer sub-app and the work behind each command.

``pam.cli`` registers :data:`train_app`; launch several processes with
``accelerate launch -m pam train motion --config train-motion.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import typer

train_app = typer.Typer(help="Train the Stage II / III ControlNets (latent cache, accelerate trainers).",
                        no_args_is_help=True)


@dataclass(frozen=True)
class TrainOptions:
    """What the train commands take from the command line."""

    stage: str
    config: Path | None = None
    smoke: bool = False
    output_dir: Path | None = None
    max_steps: int | None = None
    checkpoint_every: int | None = None
    resume: str | None = None
    weights_only: bool = False
    overrides: tuple[str, ...] = field(default_factory=tuple)


def resolve_config(options: TrainOptions):
    """The :class:`~pam.training.config.TrainConfig` of the options: the smoke settings or ``--config``,
    then ``--output-dir``, ``--max-steps``, ``--checkpoint-every`` and ``--set`` overrides."""
    from pam.training.config import load_train_config
    from pam.training.smoke import smoke_settings

    overrides = list(options.overrides)
    if options.output_dir is not None:
        overrides.insert(0, f"output_dir={options.output_dir}")
    if options.max_steps is not None:
        overrides.insert(0, f"optim.max_steps={options.max_steps}")
    if options.checkpoint_every is not None:
        overrides.insert(0, f"checkpoint.every={options.checkpoint_every}")
    if options.smoke:
        if options.config is not None:
            raise ValueError("--smoke builds its own configuration: use --set to change it, not --config")
        source = smoke_settings(options.stage, options.output_dir or Path("runs/smoke"))
    elif options.config is None:
        raise ValueError("give --config FILE.yaml (see configs/train/) or --smoke")
    else:
        source = options.config
    return load_train_config(options.stage, source, overrides)


def run_train(options: TrainOptions) -> Path:
    """Train (after building the smoke clips with ``--smoke``); returns the run folder."""
    from pam.progress import console
    from pam.training.trainer import train

    config = resolve_config(options)
    if options.smoke and _is_main_process():
        from pam.progress import progress_bar
        from pam.training.smoke import prepare_smoke_data

        with progress_bar("smoke clips") as update:
            prepare_smoke_data(config.output_dir, progress=update)
    if _is_main_process():
        console.print(f"training the {config.stage} ControlNet -> [bold]{config.output_dir}[/]")
    with training_progress(config.optim.max_steps) as update:
        return train(config, resume=options.resume, weights_only=options.weights_only, progress=update)


def run_cache(options: TrainOptions) -> dict:
    """Fill the latent cache for the config's train and val clips (this process's shard when launched with
    several processes); returns the counts."""
    import torch

    from pam.progress import progress_bar
    from pam.training.data import find_clips
    from pam.training.latent_cache import LatentCache, fill_cache
    from pam.training.stages import make_stage

    config = resolve_config(options)
    if options.smoke and _is_main_process():
        from pam.training.smoke import prepare_smoke_data

        prepare_smoke_data(config.output_dir)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    clips = find_clips(config.data.train) + (find_clips(config.data.val) if config.data.val else [])
    stage = make_stage(config)
    cache = LatentCache(config.cache.dir, config.cache.dtype)
    with progress_bar(f"encoding clips (shard {rank + 1}/{world})") as update:
        report = fill_cache(stage, cache, clips, device, rank, world, progress=update)
    return {"clips": len(clips), "written": report.written, "skipped": report.skipped, "bytes": report.bytes,
            "cache": str(cache.root)}


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", 0)) == 0


class training_progress:
    """A Rich progress bar over optimiser steps with loss, learning rate and step time (main process only)."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if not _is_main_process():
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from pam.progress import console

        self.bar = Progress(
            TextColumn("step"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[step_time]:.2f} s/step"),
            TimeRemainingColumn(), console=console,
        )
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.total, loss=float("nan"), lr=0.0, step_time=0.0)

        def update(logs: dict) -> None:
            self.bar.update(task, completed=logs["step"], loss=logs["loss"], lr=logs["lr"], step_time=logs["step_time"])

        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


# ------------------------------------------------------------------------------------------ commands
ConfigOpt = typer.Option(None, "--config", "-c", help="Training YAML (see configs/train/ and docs/training.md).")
SmokeOpt = typer.Option(False, "--smoke", help="Tiny random models + synthetic clips on the CPU (about a minute).")
OutputOpt = typer.Option(None, "--output-dir", "-o", help="Run folder (checkpoints, logs, validation); overrides output_dir.")
StepsOpt = typer.Option(None, "--max-steps", help="Optimiser steps (overrides optim.max_steps).")
EveryOpt = typer.Option(None, "--checkpoint-every", help="Checkpoint every N steps (overrides checkpoint.every).")
ResumeOpt = typer.Option(None, "--resume", help="'latest' (newest checkpoint of the run) or a checkpoint folder.")
WeightsOpt = typer.Option(False, "--weights-only", help="With --resume: only the ControlNet weights (any world size), step 0.")
SetOpt = typer.Option(None, "--set", help="Override a config value, e.g. --set optim.lr=3e-5 (repeatable).")


def _train(stage: str, config, smoke, output_dir, max_steps, checkpoint_every, resume, weights_only, overrides) -> None:
    from pam.cli_options import user_errors
    from pam.progress import console

    options = TrainOptions(stage, config, smoke, output_dir, max_steps, checkpoint_every, resume, weights_only,
                           tuple(overrides or ()))
    with user_errors():
        out = run_train(options)
    if _is_main_process():
        console.print(f"done: checkpoints in [bold]{out}[/] (checkpoint-<step>/controlnet loads into the pipelines)")


@train_app.command("appearance")
def appearance(config: Optional[Path] = ConfigOpt, smoke: bool = SmokeOpt, output_dir: Optional[Path] = OutputOpt,
               max_steps: Optional[int] = StepsOpt, checkpoint_every: Optional[int] = EveryOpt,
               resume: Optional[str] = ResumeOpt, weights_only: bool = WeightsOpt,
               overrides: Optional[List[str]] = SetOpt) -> None:
    """Train the Stage II (Flux) ControlNet."""
    _train("appearance", config, smoke, output_dir, max_steps, checkpoint_every, resume, weights_only, overrides)


@train_app.command("motion")
def motion(config: Optional[Path] = ConfigOpt, smoke: bool = SmokeOpt, output_dir: Optional[Path] = OutputOpt,
           max_steps: Optional[int] = StepsOpt, checkpoint_every: Optional[int] = EveryOpt,
           resume: Optional[str] = ResumeOpt, weights_only: bool = WeightsOpt,
           overrides: Optional[List[str]] = SetOpt) -> None:
    """Train the Stage III (CogVideoX) ControlNet."""
    _train("motion", config, smoke, output_dir, max_steps, checkpoint_every, resume, weights_only, overrides)


@train_app.command("cache")
def cache(stage: str = typer.Option(None, "--stage", help="appearance or motion (default: the config's stage)."),
          config: Optional[Path] = ConfigOpt, smoke: bool = SmokeOpt, output_dir: Optional[Path] = OutputOpt,
          overrides: Optional[List[str]] = SetOpt) -> None:
    """Encode the config's clips once: VAE latents of videos and cues, text embeddings (shards by process)."""
    from pam.cli_options import user_errors
    from pam.progress import console

    with user_errors():
        stage = stage or _config_stage(config)
        report = run_cache(TrainOptions(stage, config, smoke, output_dir, overrides=tuple(overrides or ())))
    console.print(
        f"cache {report['cache']}: {report['written']} records written ({report['bytes'] / 2**20:.2f} MiB), "
        f"{report['skipped']} already there, {report['clips']} clips in all"
    )


def _config_stage(config: Path | None) -> str:
    import yaml

    data = yaml.safe_load(Path(config).read_text()) if config is not None else None
    stage = data.get("stage") if isinstance(data, dict) else None
    if stage is None:
        raise ValueError("give --stage appearance|motion (the config has no stage)")
    return stage
