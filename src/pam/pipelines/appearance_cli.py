"""The work behind ``pam appearance``: condition images (or a ``pam render`` folder) -> first frame PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# File stems recognised in a conditions folder: `pam render` names first, then the release's samples.
CUE_FILE_STEMS = {
    "depth": ("depth", "val_depth"),
    "seg": ("seg", "seg_mask", "val_seg_mask"),
    "hand": ("hand_keypoints", "hand", "val_hand_keypoints", "val_hand"),
    "normal": ("normal", "val_normal"),
}
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_frame(path: str | os.PathLike, frame: int = 0) -> np.ndarray:
    """Frame ``frame`` of a video, or the image itself, as uint8 RGB ``(H, W, 3)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"condition file {path} does not exist")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        import imageio.v2 as imageio

        try:
            with imageio.get_reader(path, "ffmpeg") as reader:
                image = reader.get_data(frame)
        except (IndexError, OSError, RuntimeError) as err:
            raise ValueError(f"cannot read frame {frame} of {path}: {err}") from err
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path} is not a readable image: {err}") from err
    return np.ascontiguousarray(image[..., :3])


def find_cue_files(directory: str | os.PathLike, names) -> dict[str, Path]:
    """Cue files for ``names`` in a conditions folder (e.g. ``depth.mp4``, ``seg.mp4``, ``hand_keypoints.mp4``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"conditions folder {directory} does not exist")
    found = {}
    for name in names:
        candidates = [
            directory / f"{stem}{suffix}"
            for stem in CUE_FILE_STEMS.get(name, (name,))
            for suffix in VIDEO_SUFFIXES + IMAGE_SUFFIXES
        ]
        path = next((p for p in candidates if p.is_file()), None)
        if path is not None:
            found[name] = path
    return found


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
    from rich.progress import Progress

    from pam.fileio import atomic_path
    from pam.pipelines.appearance import AppearancePipeline

    pipe = AppearancePipeline.from_pretrained_parts(flux, controlnet, torch_dtype=getattr(torch, dtype))
    files = find_cue_files(conditions, pipe.cue_names) if conditions is not None else {}
    files.update({name: Path(path) for name, path in (cue_files or {}).items() if path is not None})
    if not files:
        raise ValueError(f"no condition images given or found; this ControlNet reads {list(pipe.cue_names)}")
    cues = {name: read_frame(path, frame) for name, path in files.items()}
    if cpu_offload:
        pipe.enable_model_cpu_offload()
    elif torch.cuda.is_available():
        pipe.to("cuda")
    pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    with Progress() as progress:
        task = progress.add_task(f"Stage II ({', '.join(sorted(cues))})", total=steps)

        def advance(pipeline, step, timestep, kwargs):
            progress.advance(task)
            return {}

        image = pipe(
            prompt, cues, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
            seed=seed, callback_on_step_end=advance,
        ).images[0]
    out = Path(out)
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out
