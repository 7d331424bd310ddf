"""Rotation conversions shared by the hand models, Stage I and the importers.

NumPy code uses ``scipy.spatial.transform.Rotation``; the torch functions below are the
differentiable, batched versions needed inside models.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation


def axis_angle_to_matrix(axis_angle: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    angle = torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)  # (..., 1)
    axis = axis_angle / angle.clamp_min(eps)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + s * skew + (1.0 - c) * (skew @ skew)


def matrix_to_axis_angle_np(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_rotvec().reshape(*matrix.shape[:-2], 3)


def axis_angle_to_matrix_np(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    return Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_matrix().reshape(*axis_angle.shape[:-1], 3, 3)
