"""Build a :class:`MotionPipeline` from pretrained weights on disk (never downloaded here).

- Base: a local copy of ``THUDM/CogVideoX-5b-I2V`` (subfolders tokenizer, text_encoder, vae, transformer,
  scheduler), by default ``$PAM_HOME/CogVideoX-5b-I2V``.
- ControlNet: either ours (a ``CogVideoXControlNet.save_pretrained`` directory) or the official release's
  Stage III transformer (``GasaiYU/PAM``: a directory of ``.safetensors`` shards or one file, converted on
  load by :mod:`pam.models.cogvideox_release`), by default ``$PAM_HOME/PAM/motion``.

``PAM_HOME`` defaults to ``~/.cache/pam``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from transformers import AutoTokenizer, T5EncoderModel

from pam.models.cogvideox_controlnet import CogVideoXControlNet
from pam.models.cogvideox_release import load_release
from pam.pipelines.motion import MotionPipeline

BASE_HUB_ID = "THUDM/CogVideoX-5b-I2V"
RELEASE_HUB_ID = "GasaiYU/PAM"
BASE_SUBFOLDERS = ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")


def locate_pretrained(path: str | os.PathLike | None, cache_name: str, source: str) -> Path:
    """``path`` if given, else ``$PAM_HOME/<cache_name>``; a FileNotFoundError says what to get and where."""
    home = Path(os.environ.get("PAM_HOME", Path.home() / ".cache" / "pam")).expanduser()
    located = Path(path).expanduser() if path is not None else home / cache_name
    if not located.exists():
        raise FileNotFoundError(
            f"{located} not found. Download {source} from the Hugging Face hub "
            f"(e.g. `huggingface-cli download {source} --local-dir {home / cache_name}`) and pass its path, "
            f"or put it at {home / cache_name} (set PAM_HOME to move that cache)."
        )
    return located


def load_motion_pipeline(
    base: str | os.PathLike | None = None,
    controlnet: str | os.PathLike | None = None,
    release: str | os.PathLike | None = None,
    torch_dtype: torch.dtype = torch.bfloat16,
) -> MotionPipeline:
    """The Stage III pipeline from a CogVideoX-5b-I2V directory plus our ControlNet or the release checkpoint.

    Args:
        base: CogVideoX-5b-I2V directory (default ``$PAM_HOME/CogVideoX-5b-I2V``).
        controlnet: our ControlNet directory; if None, ``release`` is used.
        release: the release's Stage III transformer (default ``$PAM_HOME/PAM/motion``).
    """
    base_dir = locate_pretrained(base, "CogVideoX-5b-I2V", BASE_HUB_ID)
    for sub in BASE_SUBFOLDERS:
        if not (base_dir / sub).is_dir():
            raise FileNotFoundError(
                f"{base_dir} has no {sub}/ folder: it must be a full copy of {BASE_HUB_ID} "
                f"({', '.join(BASE_SUBFOLDERS)})"
            )
    transformer = CogVideoXTransformer3DModel.from_pretrained(base_dir / "transformer", torch_dtype=torch_dtype)
    if controlnet is not None:
        if not Path(controlnet, "config.json").is_file():
            raise FileNotFoundError(f"{controlnet} is not a CogVideoXControlNet directory (no config.json)")
        control = CogVideoXControlNet.from_pretrained(controlnet, torch_dtype=torch_dtype)
    else:
        control = load_release(locate_pretrained(release, "PAM/motion", RELEASE_HUB_ID), transformer)
    scheduler = CogVideoXDPMScheduler.from_pretrained(base_dir / "scheduler", timestep_spacing="trailing")
    return MotionPipeline(
        tokenizer=AutoTokenizer.from_pretrained(base_dir / "tokenizer"),
        text_encoder=T5EncoderModel.from_pretrained(base_dir / "text_encoder", torch_dtype=torch_dtype),
        vae=AutoencoderKLCogVideoX.from_pretrained(base_dir / "vae", torch_dtype=torch_dtype),
        transformer=transformer,
        controlnet=control,
        scheduler=scheduler,
    )
