"""The work behind ``pam appearance``: condition images (or a ``pam render`` folder) -> first frame PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pam.conditions import find_condition_files
from pam.render.video import read_frame


def generate_first_frame(
    out: str | os.PathLike,
    prompt: str,
    conditions: str | os.PathLike | None = None,
    cue_files: Mapping[str, str | os.PathLike | None] | None = None,
    frame: int = 0,
    flux: str | None = None,
    controlnet: str | os.PathLike | None = None,
    height: int | None = None,
    width: int | None = None,
    steps: int = 28,
    guidance: float = 4.0,
    seed: int = 0,
    cpu_offload: bool = False,
    dtype: str = "bfloat16",
) -> Path:
    """Load the pipeline, read the cues (explicit files override the folder's), sample, write ``out``.

    Returns the written path. Raises ``MissingWeightsError`` for absent weights, ``ValueError`` /
    ``FileNotFoundError`` for bad inputs; nothing is written then.
    """
    import torch

    from pam.fileio import atomic_path
    from pam.pipelines.appearance import AppearancePipeline
    from pam.progress import progress_bar

    pipe = AppearancePipeline.from_pretrained_parts(flux, controlnet, torch_dtype=getattr(torch, dtype))
    files = find_condition_files(pipe.cue_names, conditions, cue_files)
    if not files:
        raise ValueError(f"no condition images given or found; this ControlNet reads {list(pipe.cue_names)}")
    cues = {name: read_frame(path, frame) for name, path in files.items()}
    if cpu_offload:
        pipe.enable_model_cpu_offload()
    elif torch.cuda.is_available():
        pipe.to("cuda")
    pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    with progress_bar(f"Stage II ({', '.join(sorted(cues))})") as update:

        def advance(pipeline, step, timestep, kwargs):
            update(step + 1, steps)
            return {}

        image = pipe(
            prompt, cues, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
            seed=seed, callback_on_step_end=advance,
        ).images[0]
    out = Path(out)
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out
