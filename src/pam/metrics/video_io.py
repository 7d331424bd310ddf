"""Minimal video reading for evaluation (imageio + imageio-ffmpeg).

Kept deliberately small and local to ``pam.metrics``: once the shared video I/O of
``pam.render.video`` lands, this module can be replaced by it.
"""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")


class VideoReadError(ValueError):
    """A video file that cannot be read as RGB frames; the message names the file."""


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Read all frames of a video as uint8 RGB, shape (T, H, W, 3)."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    try:
        frames = iio.imread(path, index=None)
    except Exception as exc:  # imageio raises many types for corrupt or unknown files
        raise VideoReadError(f"{path}: cannot read video ({exc})") from exc
    frames = np.asarray(frames)
    if frames.ndim == 3:  # a single image or a grayscale clip
        frames = frames[None] if frames.shape[-1] in (3, 4) else frames[..., None]
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise VideoReadError(f"{path}: expected a video of frames (T, H, W, C), got shape {frames.shape}")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames[..., :3].astype(np.uint8, copy=False))
