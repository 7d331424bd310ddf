"""Settings of one Stage II / Stage III run, as frozen dataclasses (built by ``pam appearance`` / ``pam motion``,
reusable by the engine and by training validation). Per-clip inputs (prompt, first frame, cue files, output path)
are not settings and stay outside. Importing this module loads neither torch nor diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pam.cli_options import DEFAULT_SEED, DTYPES, OFFLOAD_MODES, check_choice


def _check_common(options) -> None:
    check_choice(options.dtype, DTYPES, "dtype")
    check_choice(options.offload, OFFLOAD_MODES, "offload")
    if options.steps < 1:
        raise ValueError(f"steps must be at least 1, got {options.steps}")
    for name in ("height", "width"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if options.cues is not None and (not options.cues or len(set(options.cues)) != len(options.cues)):
        raise ValueError(f"cues must be distinct names, got {list(options.cues)}")


@dataclass(frozen=True)
class AppearanceOptions:
    """Stage II (first frame) settings.

    Attributes:
        base: FLUX.1-dev directory (diffusers format) or hub id; None: ``$PAM_HOME/FLUX.1-dev``.
        controlnet: a ControlNet folder or the release's ``controlnet.bin``; None: ``$PAM_HOME/PAM/controlnet.bin``.
        height, width: output size; None: the ControlNet's default (480 x 720, or 480 x 640 for the release).
        steps, guidance, seed: sampling (Flux guidance embedding, no true CFG).
        frame: which frame of condition videos to read.
        cues: cue names to feed; None: those the checkpoint was trained with (the others get the null input).
        dtype, device, offload: ``bf16|fp16|fp32``; None = CUDA if available; ``none|model|sequential``.
    """

    base: Optional[str] = None
    controlnet: Optional[Path] = None
    height: Optional[int] = None
    width: Optional[int] = None
    steps: int = 28
    guidance: float = 4.0
    seed: int = DEFAULT_SEED
    frame: int = 0
    cues: Optional[tuple[str, ...]] = None
    dtype: str = "bf16"
    device: Optional[str] = None
    offload: str = "none"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.frame < 0:
            raise ValueError(f"frame must be >= 0, got {self.frame}")


@dataclass(frozen=True)
class MotionOptions:
    """Stage III (video) settings.

    Attributes:
        base: CogVideoX-5b-I2V directory; None: ``$PAM_HOME/CogVideoX-5b-I2V``.
        controlnet: our ControlNet folder (``save_pretrained``) or the release's Stage III transformer (shards
            folder or file); None: ``$PAM_HOME/PAM/motion``.
        frames (4k + 1), height, width, steps, guidance (dynamic CFG), seed, fps: sampling and output.
        negative_prompt: None: the release's fixed negative prompt.
        cues: cue names to feed; None: those the checkpoint was trained with (the others get zero latents).
        dtype, device, offload, vae_tiling: memory and placement.
    """

    base: Optional[str] = None
    controlnet: Optional[Path] = None
    frames: int = 49
    height: int = 480
    width: int = 720
    steps: int = 50
    guidance: float = 6.0
    seed: int = DEFAULT_SEED
    fps: float = 15.0
    negative_prompt: Optional[str] = None
    cues: Optional[tuple[str, ...]] = None
    dtype: str = "bf16"
    device: Optional[str] = None
    offload: str = "none"
    vae_tiling: bool = True

    def __post_init__(self) -> None:
        _check_common(self)
        if self.frames < 1 or (self.frames - 1) % 4:
            raise ValueError(f"frames must be of the form 4k + 1 (e.g. 49), got {self.frames}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
