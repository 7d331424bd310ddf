"""``pam motion``: first frame + cue videos -> mp4 video (Stage III), and the command's video I/O.

Cue videos come from explicit paths or from a directory (e.g. written by ``pam render``) holding
``<cue>.mp4`` files named after the ControlNet's cue slots (``depth.mp4``, ``seg.mp4``, ``hand.mp4``; the
release's checkpoint also takes ``tracking.mp4`` and ``normal.mp4``). Video files are read and written with
imageio's ffmpeg plugin, here only, until a shared video module exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pam.fileio import atomic_path


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video file as uint8 (T, H, W, 3)."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        frames = iio.imread(path, plugin="FFMPEG")
    except Exception as error:
        raise ValueError(f"cannot read video {path}: {error}") from error
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"{path}: expected an RGB video, got frames of shape {frames.shape}")
    return frames


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 (T, H, W, 3) frames as an H.264 mp4 (crash-safe: temporary name, then rename)."""
    import imageio.v3 as iio

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, frames, plugin="FFMPEG", fps=fps, codec="libx264", macro_block_size=1)
    return Path(path)


def gather_cues(
    names: tuple[str, ...], paths: dict[str, str | None], directory: str | os.PathLike | None, num_frames: int
) -> dict[str, np.ndarray]:
    """Cue videos by slot name: explicit paths first, then ``<directory>/<name>.mp4``; the first ``num_frames``."""
    cues = {}
    for name in names:
        path = paths.get(name)
        if path is None and directory is not None and (Path(directory) / f"{name}.mp4").is_file():
            path = Path(directory) / f"{name}.mp4"
        if path is None:
            continue
        video = read_video(path)
        if len(video) < num_frames:
            raise ValueError(f"{path}: has {len(video)} frames, {num_frames} needed")
        cues[name] = video[:num_frames]
    unknown = sorted(name for name, path in paths.items() if path is not None and name not in names)
    if unknown:
        raise ValueError(f"this ControlNet has no slot for {unknown}; its cues are {list(names)}")
    if not cues:
        raise ValueError(f"no cue video given or found (looked for {', '.join(n + '.mp4' for n in names)})")
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
    from rich.console import Console

    from pam.pipelines.motion import DEFAULT_NEGATIVE_PROMPT
    from pam.pipelines.motion_loading import load_motion_pipeline

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {list(dtypes)}, got {dtype!r}")
    if offload not in ("none", "model", "sequential"):
        raise ValueError(f"offload must be none, model or sequential, got {offload!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    console = Console(stderr=True)
    with console.status("loading CogVideoX-5b-I2V and the ControlNet"):
        pipe = load_motion_pipeline(base, controlnet=controlnet, release=release, torch_dtype=dtypes[dtype])
    cues = gather_cues(pipe.controlnet.cues, cue_paths, cues_dir, num_frames)
    first_frame = PIL.Image.open(image).convert("RGB")
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if vae_tiling:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
    console.print(f"generating {num_frames} frames at {height} x {width} from cues {sorted(cues)}")
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
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    ).frames[0]
    video = (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
    path = write_video(output, video, fps)
    console.print(f"wrote {path}")
    return path
