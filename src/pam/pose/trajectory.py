"""Timing and interpolation of hand motion: minimum-jerk profiles, rotation slerp.

The minimum-jerk profile (Flash & Hogan 1985) between rest states is the quintic
``s(u) = 10 u^3 - 15 u^4 + 6 u^5`` of normalised time ``u`` in [0, 1]: zero velocity and
acceleration at both ends, the smoothest point-to-point motion a human reach follows.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


def minimum_jerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk progress s(u) for normalised time u (any shape), clipped to [0, 1]."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u**3 * (10.0 + u * (-15.0 + 6.0 * u))


def phase_progress(frames: np.ndarray, start: float, end: float) -> np.ndarray:
    """Minimum-jerk progress of a phase running from frame ``start`` to ``end`` at each of ``frames``.

    Returns (len(frames),) values: 0 before ``start``, 1 after ``end``.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if end <= start:
        return (frames >= end).astype(np.float64)
    return minimum_jerk((frames - start) / (end - start))


def interpolate_positions(p0: np.ndarray, p1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Linear interpolation: p0, p1 (..., D), progress s (T,) -> (T, ..., D)."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64).reshape(-1, *([1] * p0.ndim))
    return p0 + s * (p1 - p0)


def slerp_rotations(r0: np.ndarray, r1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Spherical interpolation along the shortest arc: r0, r1 (3, 3), s (T,) -> (T, 3, 3)."""
    key = Rotation.from_matrix(np.stack([r0, r1]))
    return Slerp([0.0, 1.0], key)(np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)).as_matrix()


def slerp_axis_angles(a0: np.ndarray, a1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Per-joint slerp of axis-angle poses: a0, a1 (J*3,), s (T,) or (T, J) -> (T, J*3)."""
    q0 = Rotation.from_rotvec(np.asarray(a0, dtype=np.float64).reshape(-1, 3)).as_quat()  # (J, 4)
    q1 = Rotation.from_rotvec(np.asarray(a1, dtype=np.float64).reshape(-1, 3)).as_quat()
    q1 = np.where((np.sum(q0 * q1, axis=-1) < 0.0)[:, None], -q1, q1)  # shortest arc
    s = np.asarray(s, dtype=np.float64)
    s = np.broadcast_to(s[:, None] if s.ndim == 1 else s, (len(s), len(q0)))
    dot = np.clip(np.sum(q0 * q1, axis=-1), -1.0, 1.0)  # (J,)
    theta = np.arccos(dot)
    sin_t = np.sin(theta)
    small = sin_t < 1e-8
    w0 = np.where(small, 1.0 - s, np.sin((1.0 - s) * theta) / np.where(small, 1.0, sin_t))
    w1 = np.where(small, s, np.sin(s * theta) / np.where(small, 1.0, sin_t))
    q = w0[..., None] * q0 + w1[..., None] * q1  # (T, J, 4)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return Rotation.from_quat(q.reshape(-1, 4)).as_rotvec().reshape(len(s), -1)
