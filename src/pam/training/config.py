"""The training configuration: a tree of frozen dataclasses read from YAML by :mod:`pam.config`.

Defaults are the paper's and the release's values (REFERENCE.md): AdamW lr 1e-4, betas (0.9, 0.95),
weight decay 1e-3, eps 1e-8, gradient clip 1.0, 100 warm-up steps, cosine with restarts (1 cycle), bf16,
gradient checkpointing; Stage II cue dropout depth 0.2 / seg 0.2 / hand 0.05 (the release's), Stage III
cue masking 0.2 per cue and 0.05 for all first-frame latents. The release never published Stage II's
optimiser settings; Stage III's are used for both.

Paths are relative to the working directory. ``--set optim.lr=3e-5`` style overrides apply on top of
the YAML file (:func:`load_train_config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Mapping, Sequence

STAGES = ("appearance", "motion")
StageName = Literal["appearance", "motion"]
PAPER_CUES = ("depth", "seg", "hand")
RELEASE_APPEARANCE_DROPOUT = {"depth": 0.2, "seg": 0.2, "hand": 0.05}
MOTION_CUE_DROPOUT = {"depth": 0.2, "seg": 0.2, "hand": 0.2}


def _check_probabilities(name: str, probabilities: Mapping[str, float], cues: Sequence[str]) -> None:
    for cue, p in probabilities.items():
        if cue not in cues:
            raise ValueError(f"{name}: {cue!r} is not one of the cues {list(cues)}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name}.{cue}: a probability in [0, 1], got {p}")


@dataclass(frozen=True)
class DataConfig:
    """Clip folders (from ``pam dataset build`` or ``pam generate``): each entry is a clip folder or a
    folder of clip folders. ``val`` clips are held out for validation."""

    train: tuple[Path, ...] = ()
    val: tuple[Path, ...] = ()
    num_workers: int = 2

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ValueError(f"num_workers: at least 0, got {self.num_workers}")


@dataclass(frozen=True)
class ModelConfig:
    """Base model and ControlNet initialisation.

    ``base``: the FLUX.1-dev (Stage II) or CogVideoX-5b-I2V (Stage III) diffusers folder (default under
    ``$PAM_HOME``). ``controlnet``: a saved ControlNet to start from (default: copies of the base's first
    blocks with zero projections). ``tiny``: tiny random-weight models from :mod:`pam.smoke` (``--smoke``).
    """

    base: Path | None = None
    controlnet: Path | None = None
    cues: tuple[str, ...] = PAPER_CUES
    tiny: bool = False

    def __post_init__(self) -> None:
        if not self.cues or len(set(self.cues)) != len(self.cues):
            raise ValueError(f"cues: distinct names, got {list(self.cues)}")
        unknown = sorted(set(self.cues) - {"depth", "seg", "hand", "normal"})
        if unknown:
            raise ValueError(f"cues: unknown {unknown} (a clip folder has depth, seg, hand, normal)")


@dataclass(frozen=True)
class AppearanceSettings:
    """Stage II: single frames of each clip (the release trains on frames 0, 8, ..., 48 at 480 x 640; the
    paper's design runs at 480 x 720)."""

    height: int = 480
    width: int = 720
    frames: tuple[int, ...] = (0, 8, 16, 24, 32, 40, 48)
    num_layers: int = 2
    cue_dropout: dict[str, float] = field(default_factory=lambda: dict(RELEASE_APPEARANCE_DROPOUT))
    guidance: float = 4.0
    max_sequence_length: int = 512

    def __post_init__(self) -> None:
        if self.height % 16 or self.width % 16 or self.height <= 0 or self.width <= 0:
            raise ValueError(f"height and width: positive multiples of 16, got {self.height} x {self.width}")
        if not self.frames or min(self.frames) < 0:
            raise ValueError(f"frames: non-empty, non-negative frame indices, got {list(self.frames)}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers: at least 1, got {self.num_layers}")


@dataclass(frozen=True)
class MotionSettings:
    """Stage III: 49-frame clips at 480 x 720. ``first_frame_noise`` adds Gaussian noise of standard
    deviation sigma = exp(N(noise_log_sigma_mean, noise_log_sigma_std)) to the first-frame latent (CogVideoX's
    image-to-video training adds it to the image before encoding; the cache holds latents, so it is added
    to the latent)."""

    height: int = 480
    width: int = 720
    num_frames: int = 49
    num_layers: int = 12
    cue_dropout: dict[str, float] = field(default_factory=lambda: dict(MOTION_CUE_DROPOUT))
    first_frame_drop: float = 0.05
    first_frame_noise: bool = True
    noise_log_sigma_mean: float = -3.0
    noise_log_sigma_std: float = 0.5
    max_sequence_length: int = 226

    def __post_init__(self) -> None:
        if self.height % 16 or self.width % 16 or self.height <= 0 or self.width <= 0:
            raise ValueError(f"height and width: positive multiples of 16, got {self.height} x {self.width}")
        if self.num_frames < 1 or (self.num_frames - 1) % 4:
            raise ValueError(f"num_frames: of the form 4k + 1 (e.g. 49), got {self.num_frames}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers: at least 1, got {self.num_layers}")
        if not 0.0 <= self.first_frame_drop <= 1.0:
            raise ValueError(f"first_frame_drop: a probability in [0, 1], got {self.first_frame_drop}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, schedule and batch. ``batch_size`` is per process; the global batch is
    ``batch_size * processes * gradient_accumulation_steps``."""

    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 1e-3
    eps: float = 1e-8
    max_grad_norm: float = 1.0
    scheduler: Literal["cosine_with_restarts", "cosine", "linear", "constant", "constant_with_warmup"] = (
        "cosine_with_restarts"
    )
    warmup_steps: int = 100
    num_cycles: int = 1
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_steps: int = 8000
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "gradient_accumulation_steps", "max_steps", "num_cycles"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_steps < 0:
            raise ValueError(f"lr must be positive and warmup_steps non-negative, got {self.lr}, {self.warmup_steps}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay: in (0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class CacheConfig:
    """The latent cache (``pam train cache``): shared by any number of runs and processes."""

    dir: Path = Path("cache/latents")
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    fill_missing: bool = True


@dataclass(frozen=True)
class CheckpointConfig:
    """``OUTPUT_DIR/checkpoint-<step>/`` every ``every`` optimiser steps; the newest ``keep`` are kept."""

    every: int = 500
    keep: int = 3

    def __post_init__(self) -> None:
        if self.every < 1 or self.keep < 1:
            raise ValueError(f"every and keep: at least 1, got {self.every}, {self.keep}")


@dataclass(frozen=True)
class ValidationConfig:
    """Generation on held-out clips every ``every`` steps (0: never). ``steps`` / ``guidance`` default to
    the stage's inference settings (Stage II: 28 steps, guidance 4; Stage III: 50 steps, CFG 6)."""

    every: int = 500
    num_clips: int = 4
    steps: int | None = None
    guidance: float | None = None
    seed: int = 0
    motion_fidelity: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run reads. ``stage`` picks the ``appearance`` or ``motion`` section
    (set by the command when the file leaves it out)."""

    stage: StageName | None = None
    output_dir: Path = Path("runs/train")
    seed: int = 42
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    gradient_checkpointing: bool = True
    tracker: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    log_every: int = 1
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    appearance: AppearanceSettings = field(default_factory=AppearanceSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        _check_probabilities("appearance.cue_dropout", self.appearance.cue_dropout, self.model.cues)
        _check_probabilities("motion.cue_dropout", self.motion.cue_dropout, self.model.cues)
        if self.log_every < 1:
            raise ValueError(f"log_every: at least 1, got {self.log_every}")

    @property
    def settings(self) -> AppearanceSettings | MotionSettings:
        """The active stage's section."""
        if self.stage is None:
            raise ValueError("stage: not set (appearance or motion)")
        return self.appearance if self.stage == "appearance" else self.motion


def load_train_config(
    stage: str, source: str | os.PathLike | Mapping | None = None, overrides: Sequence[str] = ()
) -> TrainConfig:
    """A :class:`TrainConfig` for ``stage`` from a YAML file or mapping plus ``a.b=value`` overrides.

    Raises:
        pam.config.ConfigError (a ValueError): naming the file and the key, also when the file's
        ``stage`` is another stage than the command's.
    """
    from pam.config import ConfigError, load_config

    if stage not in STAGES:
        raise ConfigError(f"stage: expected one of {', '.join(STAGES)}, got {stage!r}")
    config = load_config(TrainConfig, source, overrides)
    if config.stage is None:
        return replace(config, stage=stage)
    if config.stage != stage:
        raise ConfigError(f"{source or 'config'}: stage: this command trains {stage!r}, the config says {config.stage!r}")
    return config
