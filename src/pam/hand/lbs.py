"""Functional core shared by the hand models: kinematic chains and linear blend skinning.

Pure functions on batched tensors in the style of smplx's ``lbs`` module. ``B`` is the batch
(frames), ``J`` the number of kinematic joints (16 for MANO-style hands), ``V`` the vertices.
Joint ``j`` rotates the bones below it; its rotation is expressed in the rest-pose (model) frame,
relative to its parent, exactly as MANO/SMPL do.
"""

from __future__ import annotations

import torch

from pam.rotations import axis_angle_to_matrix


def blend_shapes(coeffs: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Linear blend-shape offsets.

    Args:
        coeffs: (B, K) coefficients (betas, or pose features).
        directions: (V, 3, K) displacement basis.

    Returns:
        (B, V, 3) per-vertex offsets ``sum_k coeffs[b, k] * directions[:, :, k]``.
    """
    return torch.einsum("bk,vck->bvc", coeffs, directions)


def pose_rotations(global_orient: torch.Tensor, hand_pose: torch.Tensor) -> torch.Tensor:
    """Axis-angle pose -> rotation matrices: (B, 3) and (B, 3 * (J - 1)) -> (B, J, 3, 3)."""
    full_pose = torch.cat([global_orient, hand_pose], dim=-1).reshape(global_orient.shape[0], -1, 3)
    return axis_angle_to_matrix(full_pose)


def pose_feature(rot_mats: torch.Tensor) -> torch.Tensor:
    """MANO/SMPL pose-corrective features: (B, J, 3, 3) -> (B, 9 * (J - 1)) entries of ``R_j - I`` (j >= 1)."""
    eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
    return (rot_mats[:, 1:] - eye).reshape(rot_mats.shape[0], -1)


def batch_rigid_transform(
    rot_mats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics along a kinematic tree.

    Args:
        rot_mats: (B, J, 3, 3) rotation of each joint relative to its parent, in the rest-pose frame.
        joints: (B, J, 3) rest-pose joint locations.
        parents: (J,) parent index of each joint, ``parents[0] == -1``; parents precede children.

    Returns:
        posed_joints: (B, J, 3) joint locations after posing.
        transforms: (B, J, 4, 4) per-joint transforms that map rest-pose points rigidly attached to
            joint ``j`` to their posed location (``G_j @ [I | -joints_j]``), ready for skinning.
    """
    batch, num_joints = joints.shape[:2]
    rel_joints = joints.clone()
    rel_joints[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(batch, num_joints, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rot_mats
    local[..., :3, 3] = rel_joints
    local[..., 3, 3] = 1.0
    parent_list = parents.tolist()  # one host transfer instead of one per joint
    chain = [local[:, 0]]
    for j in range(1, num_joints):
        chain.append(chain[parent_list[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)  # (B, J, 4, 4)
    posed_joints = world[..., :3, 3]
    transforms = world.clone()
    transforms[..., :3, 3] = posed_joints - (world[..., :3, :3] @ joints[..., None])[..., 0]
    return posed_joints, transforms


def skin(vertices: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning.

    Args:
        vertices: (B, V, 3) rest-pose vertices (after any blend shapes).
        weights: (V, J) skinning weights, rows summing to one.
        transforms: (B, J, 4, 4) from :func:`batch_rigid_transform`.

    Returns:
        (B, V, 3) posed vertices ``sum_j w_vj (R_j v + t_j)``.
    """
    blended = torch.einsum("vj,bjrc->bvrc", weights, transforms[..., :3, :])  # (B, V, 3, 4)
    return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]

