"""Build a :class:`MotionPipeline` from pretrained weights on disk (never downloaded here).

- Base: a local copy of ``THUDM/CogVideoX-5b-I2V`` (subfolders tokenizer, text_encoder, vae, transformer,
  scheduler), by default ``$PAM_HOME/CogVideoX-5b-I2V``.
- ControlNet: either ours (a ``CogVideoXControlNet.save_pretrained`` directory) or the official release's
  Stage III transformer (``GasaiYU/PAM``: a directory of ``.safetensors`` shards or one file, converted on
  load by :mod:`pam.models.cogvideox_release`), by default ``$PAM_HOME/PAM/motion``.

Paths are resolved by :func:`pam.home.locate` (``$PAM_HOME``, default ``~/.cache/pam``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from transformers import AutoTokenizer, T5EncoderModel

from pam.models.cogvideox_controlnet import CogVideoXControlNet
from pam.models.cogvideox_release import load_release
from pam.home import MissingWeightsError, locate
from pam.pipelines.motion import MotionPipeline

BASE_SOURCE = "https://huggingface.co/THUDM/CogVideoX-5b-I2V"
RELEASE_SOURCE = "https://huggingface.co/GasaiYU/PAM (the Stage III transformer)"
BASE_SUBFOLDERS = ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")


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

    Known cost: on the release path the base transformer is read from ``base`` and then overwritten by the
    checkpoint's base entries, so those weights are read twice and briefly held twice in memory.
    """
    base_dir = locate(base, "CogVideoX-5b-I2V", "CogVideoX-5b-I2V (diffusers format)", BASE_SOURCE)
    for sub in BASE_SUBFOLDERS:
        if not (base_dir / sub).is_dir():
            raise MissingWeightsError(
                f"{base_dir} has no {sub}/ folder: it must be a full copy of {BASE_SOURCE} "
                f"({', '.join(BASE_SUBFOLDERS)})"
            )
    transformer = CogVideoXTransformer3DModel.from_pretrained(base_dir / "transformer", torch_dtype=torch_dtype)
    if controlnet is not None:
        if not Path(controlnet, "config.json").is_file():
            raise MissingWeightsError(f"{controlnet} is not a CogVideoXControlNet directory (no config.json)")
        control = CogVideoXControlNet.from_pretrained(controlnet, torch_dtype=torch_dtype)
    else:
        release_path = locate(release, "PAM/motion", "the PAM release's Stage III checkpoint", RELEASE_SOURCE)
        control = load_release(release_path, transformer)
    scheduler = CogVideoXDPMScheduler.from_pretrained(base_dir / "scheduler", timestep_spacing="trailing")
    return MotionPipeline(
        tokenizer=AutoTokenizer.from_pretrained(base_dir / "tokenizer"),
        text_encoder=T5EncoderModel.from_pretrained(base_dir / "text_encoder", torch_dtype=torch_dtype),
        vae=AutoencoderKLCogVideoX.from_pretrained(base_dir / "vae", torch_dtype=torch_dtype),
        transformer=transformer,
        controlnet=control,
        scheduler=scheduler,
    )
