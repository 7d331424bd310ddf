"""``pam motion``: first frame + cue videos -> mp4 video (Stage III).

Cue videos come from explicit paths or from a conditions folder written by ``pam render`` (``depth.mp4``,
``seg.mp4``, ``hand_keypoints.mp4``, ``normal.mp4``; the release's file names are recognised too).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pam.conditions import find_condition_files
from pam.render.video import read_video, write_video


def gather_cues(
    names: tuple[str, ...], paths: dict[str, str | None], directory: str | os.PathLike | None, num_frames: int
) -> dict[str, np.ndarray]:
    """Cue videos by slot name: explicit paths first, then the conditions folder; their first ``num_frames``."""
    unknown = sorted(name for name, path in paths.items() if path is not None and name not in names)
    if unknown:
        raise ValueError(f"this ControlNet has no slot for {unknown}; its cues are {list(names)}")
    found = find_condition_files(names, directory, paths)
    if not found:
        raise ValueError(f"no cue video given or found in {directory} (cues: {list(names)})")
    cues = {}
    for name, path in found.items():
        video = read_video(path, max_frames=num_frames)
        if len(video) < num_frames:
            raise ValueError(f"{path}: has {len(video)} frames, {num_frames} needed")
        cues[name] = video[:num_frames]
    return cues


def run_motion(
    image: str | os.PathLike,
    output: str | os.PathLike,
    prompt: str,
    cue_paths: dict[str, str | None],
    cues_dir: str | os.PathLike | None = None,
    negative_prompt: str | None = None,
    num_frames: int = 49,
    height: int = 480,
    width: int = 720,
    steps: int = 50,
    guidance_scale: float = 6.0,
    seed: int = 42,
    fps: float = 15.0,
    base: str | None = None,
    controlnet: str | None = None,
    release: str | None = None,
    dtype: str = "bf16",
    device: str | None = None,
    offload: str = "none",
    vae_tiling: bool = True,
) -> Path:
    """Load the Stage III pipeline, generate one video and write it to ``output`` (mp4)."""
    import PIL.Image
    import torch

    from pam.pipelines.motion import DEFAULT_NEGATIVE_PROMPT
    from pam.pipelines.motion_loading import load_motion_pipeline
    from pam.progress import console, progress_bar

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {list(dtypes)}, got {dtype!r}")
    if offload not in ("none", "model", "sequential"):
        raise ValueError(f"offload must be none, model or sequential, got {offload!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    first_frame = PIL.Image.open(image).convert("RGB")
    with console.status("loading CogVideoX-5b-I2V and the ControlNet"):
        pipe = load_motion_pipeline(base, controlnet=controlnet, release=release, torch_dtype=dtypes[dtype])
    cues = gather_cues(pipe.controlnet.cues, cue_paths, cues_dir, num_frames)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if vae_tiling:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    with progress_bar(f"Stage III ({', '.join(sorted(cues))})") as update:

        def advance(pipe, step, timestep, tensors):
            update(step + 1, steps)
            return tensors

        frames = pipe(
            first_frame,
            cues,
            prompt=prompt,
            negative_prompt=DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt,
            height=height,
            width=width,
            num_frames=num_frames,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            seed=seed,
            output_type="np",
            callback_on_step_end=advance,
        ).frames[0]
    video = (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
    return write_video(output, video, fps=fps)
