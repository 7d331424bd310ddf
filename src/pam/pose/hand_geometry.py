"""Hand collision geometry: capsules on the bones of a hand model, grouped into rigid segments.

The palm is one rigid segment (the wrist-to-knuckle bones of all five fingers do not move
relative to the wrist in MANO) and each of the 15 finger bones is its own segment, 16 in all.
Each capsule's radius is measured on the model's own surface: the 85th percentile of the distances
from the bone to the vertices that lie closest to it, so the capsules just enclose the skin (the
simulated object then rests on the shown surface rather than inside it) and a thick or thin hand
(betas) gets thick or thin capsules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from pam.hand.base import BONES, HandModel
from pam.rotations import axis_angle_to_matrix_np

#: The palm bones (wrist to each finger's first joint) and the finger bones, as (parent, child).
PALM_BONES = [b for b in BONES if b[0] == 0]
FINGER_BONES = [b for b in BONES if b[0] != 0]
#: Extra palm capsules between neighbouring knuckles fill the palm's web.
PALM_WEB = [(5, 9), (9, 13), (13, 17)]
#: Fingertip joints (the last joint of each finger, at or just beyond the skin at the tip).
TIPS = (4, 8, 12, 16, 20)
#: Capsule radius = this percentile of the distances from a bone to its nearest skin vertices.
RADIUS_PERCENTILE = 85.0


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points (N, 3) to the segments a-b, a and b (M, 3) -> (N, M)."""
    ab = b - a  # (M, 3)
    ap = points[:, None, :] - a[None]  # (N, M, 3)
    u = np.clip(np.einsum("nmk,mk->nm", ap, ab) / np.maximum(np.einsum("mk,mk->m", ab, ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(ap - u[..., None] * ab[None], axis=-1)


def tip_insets(vertices: np.ndarray, faces: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """How far (5,) each fingertip joint (``TIPS``) lies beyond the skin along its distal bone, 0 where it
    lies on or inside it (or the axis meets no skin): the bone's axis, cast from its first joint, leaves
    the skin that much short of the tip. A MANO fingertip keypoint is a skin vertex (about 0); the
    OpenHand's lie about 2 mm out. ``vertices`` (V, 3) and ``faces`` (F, 3) of the flat hand, ``joints`` (21, 3)."""
    skin = trimesh.Trimesh(vertices, faces, process=False)
    base = joints[[t - 1 for t in TIPS]]
    length = np.linalg.norm(joints[list(TIPS)] - base, axis=1)
    direction = (joints[list(TIPS)] - base) / length[:, None]
    hits, ray, _ = skin.ray.intersects_location(base, direction, multiple_hits=True)
    exits = np.full(len(TIPS), -np.inf)
    np.maximum.at(exits, ray, np.einsum("nk,nk->n", hits - base[ray], direction[ray]))
    leaves = np.where(np.isfinite(exits), exits, length)  # no skin on the axis: nothing to pull back
    return np.clip(length - leaves, 0.0, None)


def finger_axes(joints: np.ndarray, radius: np.ndarray, inset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finger capsules' axes for hands' joints (..., 21, 3): their starts and far ends (..., 15, 3,
    ``FINGER_BONES`` order). A far end is the bone's child joint, but on a distal bone pulled back by its
    capsule's radius (15,) and its fingertip's inset (5,, ``tip_insets``), so that its end cap ends where
    the skin does."""
    a = joints[..., [p for p, _ in FINGER_BONES], :]
    b = joints[..., [c for _, c in FINGER_BONES], :]
    tip = np.array([c in TIPS for _, c in FINGER_BONES])
    pull = np.where(tip, radius + np.repeat(inset, 3), 0.0)
    d = (b - a) / np.linalg.norm(b - a, axis=-1, keepdims=True)
    return a, b - d * pull[:, None]


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations taking unit vectors a to b: a (3,) and b (..., 3) -> (..., 3, 3).

    Undefined only for b = -a, which bones never reach (fingers bend < 180 degrees).
    """
    v = np.cross(a, b)
    c = np.einsum("k,...k->...", a, b)
    skew = np.zeros((*v.shape[:-1], 3, 3))
    skew[..., 0, 1], skew[..., 0, 2], skew[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    skew = skew - np.swapaxes(skew, -1, -2)
    k = 1.0 / np.maximum(1.0 + c, 1e-9)
    return np.eye(3) + skew + (skew @ skew) * k[..., None, None]


@dataclass
class HandCapsules:
    """Capsules of one hand shape, in the local frames of its 16 rigid segments.

    Attributes:
        segment: (C,) which segment each capsule belongs to (0 = palm, 1 + i = FINGER_BONES[i]).
        start, end: (C, 3) capsule axis end points in the segment frame.
        radius: (C,) capsule radii in metres.
        rest_joints: (21, 3) joints of the flat hand with zero global orient and translation.
        tip_inset: (5,) how far each fingertip joint lies beyond the skin (``tip_insets``): a distal
            capsule's end cap ends that much short of the joint, where the skin ends.
    """

    segment: np.ndarray
    start: np.ndarray
    end: np.ndarray
    radius: np.ndarray
    rest_joints: np.ndarray
    tip_inset: np.ndarray

    @property
    def tip_radii(self) -> np.ndarray:
        """(5,) m: the fingertip (distal segment) capsule radii, thumb first: how far above a surface each
        fingertip's axis stays."""
        return self.radius[self.segment > 0][2::3]

    @classmethod
    def from_model(cls, model: HandModel, betas: np.ndarray | None = None,
                   percentile: float = RADIUS_PERCENTILE) -> "HandCapsules":
        """Measure capsules on ``model``'s flat hand with shape ``betas`` (10,); each radius is
        ``percentile`` of the bone's skin distances (50: the capsule surface runs through the skin).
        Measured once per model, shape and percentile: the result is shared, its arrays read-only."""
        shape = None if betas is None else tuple(np.asarray(betas, dtype=np.float64).ravel().tolist())
        return _measured_capsules(model, shape, float(percentile))

    @classmethod
    def _measure(cls, model: HandModel, betas: tuple | None, percentile: float) -> "HandCapsules":
        with torch.no_grad():
            out = model(
                torch.zeros(1, 3, dtype=torch.float64),
                torch.zeros(1, 45, dtype=torch.float64),
                betas=None if betas is None else torch.as_tensor(betas, dtype=torch.float64).reshape(1, 10),
            )
        joints = out.joints[0].double().numpy()
        verts = out.vertices[0].double().numpy()
        bones = PALM_BONES + PALM_WEB + FINGER_BONES
        a = joints[[p for p, _ in bones]]
        b = joints[[c for _, c in bones]]
        dist = segment_distance(verts, a, b)
        nearest = dist.argmin(axis=1)
        radius = np.array(
            [np.percentile(dist[nearest == i, i], percentile) if np.any(nearest == i) else 0.008
             for i in range(len(bones))]
        )
        inset = tip_insets(verts, model.faces, joints)
        n_palm = len(PALM_BONES) + len(PALM_WEB)
        b[n_palm:] = finger_axes(joints, radius[n_palm:], inset)[1]
        # segment frames at rest: the palm frame is the wrist's, a finger bone's frame sits on its
        # parent joint with the world's axes
        segment = np.concatenate([np.zeros(n_palm, dtype=int), 1 + np.arange(len(FINGER_BONES))])
        origin = np.concatenate([np.repeat(joints[:1], n_palm, axis=0), a[n_palm:]])
        arrays = dict(segment=segment, start=a - origin, end=b - origin, radius=radius, rest_joints=joints,
                      tip_inset=inset)
        for value in arrays.values():
            value.flags.writeable = False
        return cls(**arrays)

    def segment_poses(self, joints: np.ndarray, global_orient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment frames of posed hands.

        Args:
            joints: (N, 21, 3) posed joints.
            global_orient: (N, 3) wrist axis-angles.

        Returns:
            positions (N, 16, 3) and rotations (N, 16, 3, 3) of the segment frames in the world.
        """
        wrist_rot = axis_angle_to_matrix_np(global_orient)  # (N, 3, 3)
        parents = [p for p, _ in FINGER_BONES]
        children = [c for _, c in FINGER_BONES]
        bone = joints[:, children] - joints[:, parents]  # (N, 15, 3)
        local = np.einsum("nji,nbj->nbi", wrist_rot, bone)  # in the wrist frame
        local /= np.linalg.norm(local, axis=-1, keepdims=True)
        rest = self.rest_joints[children] - self.rest_joints[parents]
        rest /= np.linalg.norm(rest, axis=-1, keepdims=True)
        bend = np.stack([minimal_rotation(rest[i], local[:, i]) for i in range(len(FINGER_BONES))], axis=1)
        rot = np.concatenate([wrist_rot[:, None], wrist_rot[:, None] @ bend], axis=1)
        pos = np.concatenate([joints[:, :1], joints[:, parents]], axis=1)
        return pos, rot


@functools.lru_cache(maxsize=16)
def _measured_capsules(model: HandModel, betas: tuple | None, percentile: float) -> HandCapsules:
    """``HandCapsules._measure``, once per (model, shape, percentile): a trajectory asks for each set
    four times (grasp synthesis and the simulator, per hand)."""
    return HandCapsules._measure(model, betas, percentile)


#: For each finger in keypoint order (thumb, index, middle, ring, little): its three joints'
#: slots in MANO's 45-value ``hand_pose``.
FINGER_POSE_JOINTS = [[12, 13, 14], [0, 1, 2], [3, 4, 5], [9, 10, 11], [6, 7, 8]]


def finger_pose(base: np.ndarray, direction: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Hand poses with each finger (or each finger joint) moved along its part of ``direction``.

    Args:
        base, direction: (..., 45) MANO hand poses (start pose, and the closing direction).
        closure: (..., 5) per-finger amounts, fingers in keypoint order (thumb .. little), or
            (..., 15) per-joint amounts, three per finger in that order (base to tip).

    Returns:
        (..., 45) hand poses ``base + closure * direction`` on each joint.
    """
    closure = np.asarray(closure, dtype=np.float64)
    per_joint = np.zeros(closure.shape[:-1] + (15,))
    for f, joints in enumerate(FINGER_POSE_JOINTS):
        per_joint[..., joints] = closure[..., f : f + 1] if closure.shape[-1] == 5 else closure[..., 3 * f : 3 * f + 3]
    return base + np.repeat(per_joint, 3, axis=-1) * direction


class PosedHand:
    """A hand model with fixed shape, evaluated in float64 NumPy.

    Attributes:
        model: the ``HandModel``; faces: (F, 3); betas: (10,).
        wrist: (3,) the wrist joint at zero pose and translation (the rotation centre).
    """

    def __init__(self, model: HandModel, betas: np.ndarray | None = None):
        self.model = model.to(torch.float64)
        self.betas = np.zeros(10) if betas is None else np.asarray(betas, dtype=np.float64)
        self.side = model.side
        self.faces = np.asarray(model.faces, dtype=np.int64)
        self.rest_joints = self(np.zeros((1, 3)), np.zeros((1, 45)), np.zeros((1, 3)))[1][0]
        self.wrist = self.rest_joints[0]

    def finger_joints(self, hand_pose: np.ndarray) -> np.ndarray:
        """The 21 joints (..., 21, 3) of hands with zero global orient and translation, by forward
        kinematics of the rest joints (exact for LBS joints; no model call): (..., 45) -> (..., 21, 3)."""
        hand_pose = np.asarray(hand_pose, dtype=np.float64)
        rot = axis_angle_to_matrix_np(hand_pose.reshape(*hand_pose.shape[:-1], 15, 3))
        out = np.broadcast_to(self.rest_joints, hand_pose.shape[:-1] + (21, 3)).copy()
        for f, slots in enumerate(FINGER_POSE_JOINTS):
            chain = [1 + 4 * f + i for i in range(4)]  # the finger's three joints and its tip
            frame = np.broadcast_to(np.eye(3), hand_pose.shape[:-1] + (3, 3))
            for i in range(3):
                frame = frame @ rot[..., slots[i], :, :]
                bone = self.rest_joints[chain[i + 1]] - self.rest_joints[chain[i]]
                out[..., chain[i + 1], :] = out[..., chain[i], :] + np.einsum("...ij,j->...i", frame, bone)
        return out

    def __call__(self, global_orient: np.ndarray, hand_pose: np.ndarray, transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3), (N, 45), (N, 3) -> vertices (N, V, 3), joints (N, 21, 3)."""
        with torch.no_grad():
            out = self.model(
                torch.as_tensor(global_orient, dtype=torch.float64),
                torch.as_tensor(hand_pose, dtype=torch.float64),
                betas=torch.as_tensor(self.betas, dtype=torch.float64),
                transl=torch.as_tensor(transl, dtype=torch.float64),
            )
        return out.vertices.numpy(), out.joints.numpy()

    def transl_for(self, rotation: np.ndarray, point_rest: np.ndarray, point_world: np.ndarray) -> np.ndarray:
        """The ``transl`` that puts the rest-frame point ``point_rest`` (3,) at ``point_world`` (..., 3)
        when the hand is rotated by ``rotation`` (..., 3, 3) about its wrist."""
        return point_world - np.einsum("...ij,j->...i", rotation, point_rest - self.wrist) - self.wrist

    def posed_points(self, points: np.ndarray, rotation: np.ndarray, transl: np.ndarray) -> np.ndarray:
        """Rest-frame points (P, 3), or (N, ..., P, 3), of hands rotated by ``rotation`` (N, 3, 3) about the
        wrist and moved by ``transl`` (N, 3): world points (N, ..., P, 3)."""
        points = np.asarray(points, dtype=np.float64)
        extra = (1,) * max(points.ndim - 3, 0)
        rot_t = rotation.transpose(0, 2, 1).reshape(len(rotation), *extra, 3, 3)
        shift = (self.wrist + transl).reshape(len(transl), *extra, 1, 3)
        return (points - self.wrist) @ rot_t + shift

    def canonical_axes(self, flexed_pose: np.ndarray) -> np.ndarray:
        """(3, 3) rows: finger direction, palm normal x finger direction, palm normal (where fingers flex to),
        in the rest frame; a right-handed orthonormal basis."""
        _, joints = self(np.zeros((2, 3)), np.stack([np.zeros(45), flexed_pose]), np.zeros((2, 3)))
        flat, flexed = joints
        knuckles = [5, 9, 13, 17]
        finger = flat[knuckles].mean(axis=0) - flat[0]
        finger /= np.linalg.norm(finger)
        tips = list(TIPS[1:])
        palm = (flexed[tips] - flat[tips]).mean(axis=0)
        palm -= finger * (palm @ finger)
        palm /= np.linalg.norm(palm)
        lateral = np.cross(palm, finger)
        return np.stack([finger, lateral, palm])
