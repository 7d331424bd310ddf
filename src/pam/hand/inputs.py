"""Checking and normalising the inputs of a hand model's forward pass (shared by all hand models)."""

from __future__ import annotations

import torch


def _as_batch(name: str, value: torch.Tensor | None, batch: int | None, dim: int, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a (B, dim) tensor with ``like``'s dtype and device (zeros when None; (dim,) is broadcast)."""
    if value is None:
        return like.new_zeros(batch or 1, dim)
    value = torch.as_tensor(value).to(dtype=like.dtype, device=like.device)
    if value.dim() == 1:
        value = value[None]
    if value.dim() != 2 or value.shape[1] != dim or (batch is not None and value.shape[0] not in (1, batch)):
        expected = f"({batch}, {dim})" if batch is not None else f"(B, {dim})"
        raise ValueError(f"{name} must have shape {expected} or ({dim},), got {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return value.expand(batch, dim) if batch is not None else value


def hand_inputs(
    like: torch.Tensor,
    global_orient: torch.Tensor,
    hand_pose: torch.Tensor,
    betas: torch.Tensor | None,
    transl: torch.Tensor | None,
    pose_dim: int = 45,
    num_betas: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate forward() inputs and return (global_orient (B,3), hand_pose (B,pose_dim), betas (B,num_betas), transl (B,3)).

    ``like`` is a model buffer whose dtype and device the inputs are cast to. ``hand_pose`` fixes the
    batch size B; betas (num_betas,) or (1, num_betas) and the others with a leading 1 are broadcast.
    """
    hand_pose = _as_batch("hand_pose", hand_pose, None, pose_dim, like)
    batch = hand_pose.shape[0]
    return (
        _as_batch("global_orient", global_orient, batch, 3, like),
        hand_pose,
        _as_batch("betas", betas, batch, num_betas, like),
        _as_batch("transl", transl, batch, 3, like),
    )
