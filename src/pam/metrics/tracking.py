"""Point trackers for Motion Fidelity, behind one interface.

A tracker maps a uint8 video (T, H, W, 3) and query points (N, 2) (x, y pixels in frame 0) to
tracks (T, N, 2) and a visibility mask (T, N) bool.

- :class:`LucasKanadeTracker` (default, offline): OpenCV's pyramidal Lucas-Kanade, frame to frame.
- :class:`CoTracker3Tracker`: Meta's CoTracker3 (offline model) from a local checkpoint; needs
  the ``cotracker`` package (``pip install git+https://github.com/facebookresearch/co-tracker``).

:func:`sample_points` picks the query points on the foreground: inside a mask when one is given
(the hand/object segmentation, or :func:`motion_mask` of the reference video), else where the
first frame has texture to track (Shi-Tomasi corners). :func:`published_query_points` gives the
published Motion Fidelity script's points instead: CoTracker's 55 x 55 grid inside the bounding
box of the first-frame foreground.
"""

from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np
import torch

from pam.metrics.weights import WeightFile, find_weight

COTRACKER3_FILE = WeightFile(
    "cotracker/scaled_offline.pth",
    "https://huggingface.co/facebook/cotracker3 (scaled_offline.pth)",
)


class PointTracker(Protocol):
    def track(self, video: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """video (T, H, W, 3) uint8, points (N, 2) xy in frame 0 -> tracks (T, N, 2), visible (T, N)."""


def motion_mask(video: np.ndarray, threshold: float = 25.0, min_fraction: float = 0.005) -> np.ndarray | None:
    """Pixels (H, W) bool that change by more than ``threshold`` grey levels from the first frame
    at some time (after a 5 x 5 blur against codec noise): the moving foreground of a video taken
    with a still camera. ``None`` when less than ``min_fraction`` of the frame moves.
    """
    grey = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (5, 5), 0) for f in video]
    change = np.zeros(grey[0].shape, np.uint8)
    for g in grey[1:]:
        np.maximum(change, cv2.absdiff(g, grey[0]), out=change)
    mask = change > threshold
    return mask if mask.mean() >= min_fraction else None


def sample_points(frame: np.ndarray, num_points: int = 100, mask: np.ndarray | None = None,
                  min_distance: int = 5) -> np.ndarray:
    """Up to ``num_points`` well-spread points (N, 2) xy float32 on a uint8 frame (H, W, 3).

    With ``mask`` (H, W) bool, points lie inside it: Shi-Tomasi corners first, topped up with
    evenly spaced mask pixels (in raster order) where it has too few corners. Without a mask, Shi-Tomasi
    corners of the whole frame (points where there is texture to track).
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    cv_mask = None
    if mask is not None:
        if mask.shape != gray.shape:
            raise ValueError(f"mask: expected shape {gray.shape}, got {mask.shape}")
        if not mask.any():
            raise ValueError("mask: the foreground mask of the first frame is empty")
        cv_mask = mask.astype(np.uint8) * 255
    corners = cv2.goodFeaturesToTrack(gray, num_points, qualityLevel=0.01, minDistance=min_distance, mask=cv_mask)
    points = np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)
    if mask is not None and len(points) < num_points:
        ys, xs = np.nonzero(mask)
        pick = np.linspace(0, len(xs) - 1, num_points - len(points)).round().astype(int)
        points = np.concatenate([points, np.stack([xs[pick], ys[pick]], 1).astype(np.float32)])
    if len(points) == 0:
        raise ValueError("sample_points: the first frame has no texture to track; give a foreground mask")
    return points.astype(np.float32)


#: CoTracker's model resolution (H, W), in which its predictor lays out query grids (v2 and v3).
COTRACKER_RESOLUTION = (384, 512)


def published_query_points(shape: tuple[int, int], mask: np.ndarray | None = None, grid_size: int = 55) -> np.ndarray:
    """The query points (N, 2) xy float64, in pixels of a (H, W) video, of the published Motion
    Fidelity script: ``CoTrackerPredictor(video, grid_size=55, segm_mask=box)``.

    CoTracker lays a ``grid_size`` x ``grid_size`` grid over its model resolution (384 x 512),
    a margin of 512 / 64 pixels from the border, keeps the points that fall (rounded) on the box
    mask resized there with nearest neighbours, and maps them to the video by (W - 1) / 511 and
    (H - 1) / 383. The box is the script's: rows ``[min, max)`` and columns ``[min, max)`` of the
    foreground pixels of ``mask`` (H, W) bool (its last row and column are left out, as there).
    Without a mask: the whole grid (the script's ``use_mask: False``).
    """
    h, w = shape
    rh, rw = COTRACKER_RESOLUTION
    margin = rw / 64
    gy, gx = np.meshgrid(np.linspace(margin, rh - margin, grid_size), np.linspace(margin, rw - margin, grid_size),
                         indexing="ij")
    gx, gy = gx.ravel(), gy.ravel()
    if mask is not None:
        if mask.shape != (h, w):
            raise ValueError(f"mask: expected shape {(h, w)}, got {mask.shape}")
        rows, cols = np.nonzero(mask)
        if len(rows) == 0:
            raise ValueError("mask: the foreground mask of the first frame is empty")
        box = np.zeros((h, w), bool)
        box[rows.min():rows.max(), cols.min():cols.max()] = True
        # nearest-neighbour resize to the model resolution, then the grid point's rounded pixel
        r = np.minimum(np.floor(np.round(gy) * (h / rh)).astype(int), h - 1)
        c = np.minimum(np.floor(np.round(gx) * (w / rw)).astype(int), w - 1)
        inside = box[r, c]
        if not inside.any():
            raise ValueError("mask: no grid point falls inside the bounding box of the foreground")
        gx, gy = gx[inside], gy[inside]
    return np.stack([gx * (w - 1) / (rw - 1), gy * (h - 1) / (rh - 1)], axis=1)


class LucasKanadeTracker:
    """Pyramidal Lucas-Kanade (OpenCV ``calcOpticalFlowPyrLK``) chained frame to frame.

    A point whose flow fails (status 0) or leaves the frame is invisible from then on and keeps
    its last position.
    """

    def __init__(self, window: int = 21, levels: int = 3):
        self.params = dict(winSize=(window, window), maxLevel=levels,
                           criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))

    def track(self, video: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, h, w = video.shape[:3]
        tracks = np.empty((t, len(points), 2), np.float32)
        visible = np.ones((t, len(points)), bool)
        tracks[0] = points
        prev = cv2.cvtColor(video[0], cv2.COLOR_RGB2GRAY)
        for i in range(1, t):
            cur = cv2.cvtColor(video[i], cv2.COLOR_RGB2GRAY)
            nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, tracks[i - 1].reshape(-1, 1, 2), None, **self.params)
            nxt = nxt.reshape(-1, 2)
            inside = (nxt[:, 0] >= 0) & (nxt[:, 0] <= w - 1) & (nxt[:, 1] >= 0) & (nxt[:, 1] <= h - 1)
            visible[i] = visible[i - 1] & (status.ravel() == 1) & inside
            tracks[i] = np.where(visible[i][:, None], nxt, tracks[i - 1])
            prev = cur
        return tracks, visible


class CoTracker3Tracker:
    """CoTracker3 offline model from a local checkpoint (``scaled_offline.pth``).

    Not exercised by the test suite (no checkpoint here); the interface matches ``cotracker``'s
    ``CoTrackerPredictor(checkpoint, offline=True, window_len=60)``, called with a (1, T, 3, H, W)
    float video in [0, 255] and (1, N, 3) queries (frame index, x, y). CoTracker estimates
    positions through occlusions, and the Motion Fidelity reference code uses them all, so every
    point is reported visible.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str = "cpu"):
        path = find_weight("Motion Fidelity (CoTracker3 tracker)", COTRACKER3_FILE, checkpoint)
        try:
            from cotracker.predictor import CoTrackerPredictor
        except ImportError as exc:
            raise ImportError(
                "CoTracker3 needs the 'cotracker' package: "
                "pip install git+https://github.com/facebookresearch/co-tracker"
            ) from exc
        self.model = CoTrackerPredictor(checkpoint=str(path), offline=True, window_len=60).to(device)
        self.device = device

    @torch.no_grad()
    def track(self, video: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = torch.from_numpy(video).permute(0, 3, 1, 2)[None].float().to(self.device)
        queries = torch.cat([torch.zeros(len(points), 1), torch.from_numpy(points).float()], 1)[None].to(self.device)
        tracks, _ = self.model(frames, queries=queries)
        tracks = tracks[0].cpu().numpy()
        return tracks, np.ones(tracks.shape[:2], bool)
