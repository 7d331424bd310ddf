"""Hand pose accuracy: MPJPE, PA-MPJPE, PA-MPVPE and F-score, in millimetres.

Inputs are 3D points in metres, (B, N, 3) (or (N, 3) for one hand): joints in MANO/DexYCB order
(wrist first) or mesh vertices. Outputs are in millimetres, averaged over points and samples.

- MPJPE: mean joint distance after root alignment (both sets translated so the wrist, joint 0,
  is at the origin), as reported by the paper for HaMeR estimates on generated frames.
- PA-MPJPE / PA-MPVPE: mean distance after a similarity Procrustes alignment (rotation,
  translation and scale, Umeyama 1991) of the prediction onto the ground truth.
- F-score@d (FreiHAND protocol): after Procrustes alignment, precision = share of predicted
  points whose nearest ground-truth point is closer than d, recall = the converse; F = 2PR / (P + R).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

M_TO_MM = 1000.0


def _batched(name: str, points: np.ndarray) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected points of shape (B, N, 3) or (N, 3), got {np.shape(points)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = _batched("pred", pred), _batched("gt", gt)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt differ in shape: {p.shape} vs {g.shape}")
    return p, g


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity transform of ``pred`` onto ``gt`` (least squares, Umeyama): (B, N, 3) -> (B, N, 3)."""
    p, g = _pair(pred, gt)
    mp, mg = p.mean(axis=1, keepdims=True), g.mean(axis=1, keepdims=True)
    pc, gc = p - mp, g - mg
    u, s, vt = np.linalg.svd(np.einsum("bni,bnj->bij", pc, gc))  # cross-covariance (B, 3, 3)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))  # avoid reflections
    s[:, 2] *= d
    vt[:, 2] *= d[:, None]
    rot = np.einsum("bij,bjk->bik", u, vt)  # maps row vectors: pc @ rot
    scale = s.sum(axis=1) / np.maximum((pc**2).sum(axis=(1, 2)), 1e-30)
    return scale[:, None, None] * (pc @ rot) + mg


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> float:
    """Mean per-joint position error (mm) after aligning joint ``root`` (the wrist)."""
    p, g = _pair(pred, gt)
    p, g = p - p[:, root:root + 1], g - g[:, root:root + 1]
    return float(np.linalg.norm(p - g, axis=-1).mean() * M_TO_MM)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error (mm) after Procrustes alignment with scale."""
    p, g = _pair(pred, gt)
    return float(np.linalg.norm(procrustes_align(p, g) - g, axis=-1).mean() * M_TO_MM)


def pa_mpvpe(pred_vertices: np.ndarray, gt_vertices: np.ndarray) -> float:
    """Mean per-vertex error (mm) after Procrustes alignment with scale (same vertex topology)."""
    return pa_mpjpe(pred_vertices, gt_vertices)


def f_score(pred: np.ndarray, gt: np.ndarray, threshold_mm: float, align: bool = True) -> float:
    """Mean F-score at ``threshold_mm`` between point sets (B, N, 3) and (B, M, 3) in metres.

    With ``align`` (default; needs N == M) the prediction is first Procrustes-aligned.
    """
    p, g = _batched("pred", pred), _batched("gt", gt)
    if align:
        p = procrustes_align(p, g)
    th = threshold_mm / M_TO_MM
    scores = []
    for pi, gi in zip(p, g):
        precision = float((cKDTree(gi).query(pi)[0] < th).mean())
        recall = float((cKDTree(pi).query(gi)[0] < th).mean())
        scores.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return float(np.mean(scores))
