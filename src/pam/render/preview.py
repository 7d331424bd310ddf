"""Preview layouts: condition videos side by side, and a contact sheet of a few frames."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def tile_videos(videos: Sequence[np.ndarray], columns: int | None = None) -> np.ndarray:
    """Lay out equally sized (T, H, W, 3) uint8 videos on a grid, row by row (black where empty).

    ``columns`` defaults to all videos in one row. Returns (T, rows * H, columns * W, 3).
    """
    if not videos:
        raise ValueError("tile_videos: no videos given")
    shape = np.shape(videos[0])
    if any(np.shape(v) != shape for v in videos) or len(shape) != 4:
        raise ValueError(f"tile_videos: videos must share one (T, H, W, 3) shape, got {[np.shape(v) for v in videos]}")
    columns = columns or len(videos)
    rows = -(-len(videos) // columns)
    T, H, W, C = shape
    grid = np.zeros((T, rows * H, columns * W, C), np.uint8)
    for i, video in enumerate(videos):
        r, c = divmod(i, columns)
        grid[:, r * H : (r + 1) * H, c * W : (c + 1) * W] = video
    return grid


def contact_sheet(video: np.ndarray, count: int = 6, columns: int = 3) -> np.ndarray:
    """``count`` evenly spaced frames of a (T, H, W, 3) video on a grid: (rows * H, columns * W, 3)."""
    video = np.asarray(video)
    picks = np.unique(np.linspace(0, len(video) - 1, min(count, len(video))).round().astype(int))
    return tile_videos([video[i : i + 1] for i in picks], columns=min(columns, len(picks)))[0]
