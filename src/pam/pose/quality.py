"""Quality measures of a hand-object trajectory (``pam pose --report``).

All are computed on the output geometry: the hand model's surface from the sequence's hand
parameters and the object mesh at its per-frame pose.

- penetration: depth of the deepest hand vertex inside the object per frame (libigl signed
  distance); reported as the maximum and the mean over frames, in mm.
- contact ratio: fraction of holding frames where the hand is within ``contact_distance`` of the
  object (``CONTACT_DISTANCE``, 5 mm).
- slip: displacement of the object's centre (its bounding box centre) in the wrist frame since the
  first holding frame, maximum over holding frames, in mm.
- hand jerk: mean magnitude of the wrist's third time derivative (finite differences), m/s^3.
- success: the hand still touches the object at the last frame and the object has not slipped by
  more than ``drop_distance`` (``DROP_DISTANCE``, 25 mm, also the simulator's drop threshold).

Holding frames: from ``seq.meta["pose"]["hold_start"]`` (written by ``pam.pose.generate``) to the
end; for other sequences (importers) the frames from the first contact on.
"""

from __future__ import annotations

import numpy as np
import trimesh

from pam.pose.hand_geometry import PosedHand
from pam.pose.sdf import ObjectSDF
from pam.rotations import axis_angle_to_matrix_np

#: m: a hand vertex this close to the object touches it.
CONTACT_DISTANCE = 0.005
#: m: the object's centre moved this far in the wrist (palm) frame while holding = dropped.
DROP_DISTANCE = 0.025


def penetration_depths(
    hand_vertices: np.ndarray, mesh: trimesh.Trimesh, rotation: np.ndarray, translation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame deepest penetration and nearest distance of a hand to an object.

    Args:
        hand_vertices: (T, V, 3) world hand vertices.
        mesh: the object mesh in its own frame (metres).
        rotation, translation: (T, 3, 3), (T, 3) object-to-world poses.

    Returns:
        depth (T,) >= 0 in metres (0 when nothing is inside) and distance (T,) signed distance of
        the hand vertex closest to (or deepest in) the object.
    """
    local = np.einsum("tji,tvj->tvi", rotation, hand_vertices - translation[:, None])  # R^T (v - t)
    sd = ObjectSDF(mesh)(local)
    return np.maximum(-sd.min(axis=1), 0.0), sd.min(axis=1)


def slip(
    wrist_rotation: np.ndarray, wrist: np.ndarray, point: np.ndarray, hold: np.ndarray
) -> np.ndarray:
    """Displacement (m) of a world point (T, 3) in the wrist frame since the first holding frame.

    ``hold`` (T,) bool marks holding frames; the result is 0 outside them.
    """
    local = np.einsum("tji,tj->ti", wrist_rotation, point - wrist)
    out = np.zeros(len(point))
    if hold.any():
        first = int(np.flatnonzero(hold)[0])
        out[hold] = np.linalg.norm(local[hold] - local[first], axis=1)
    return out


def hand_jerk(wrist: np.ndarray, fps: float) -> float:
    """Mean |d^3 x / dt^3| of the wrist path (T, 3) in m/s^3 (0 for fewer than 4 frames)."""
    if len(wrist) < 4:
        return 0.0
    return float(np.linalg.norm(np.diff(wrist, n=3, axis=0), axis=1).mean() * fps**3)


def evaluate(seq, mesh: trimesh.Trimesh | None = None, hand_model=None, contact_distance: float = CONTACT_DISTANCE,
             drop_distance: float = DROP_DISTANCE) -> dict:
    """All measures for the first hand and first object of a ``HOISequence``.

    ``mesh`` and ``hand_model`` default to the sequence's own (``pam.objects.load_object``,
    ``pam.hand.load_hand_model``).
    """
    from pam.hand import load_hand_model
    from pam.objects import load_object

    hand, obj = seq.hands[0], seq.objects[0]
    mesh = load_object(obj.mesh, scale=obj.scale) if mesh is None else mesh
    model = load_hand_model(hand.model, side=hand.side) if hand_model is None else hand_model
    verts, joints = PosedHand(model, hand.betas)(hand.global_orient, hand.hand_pose, hand.transl)
    depth, nearest = penetration_depths(verts, mesh, obj.rotation, obj.translation)
    touching = nearest <= contact_distance
    hold_start = seq.meta.get("pose", {}).get("hold_start")
    if hold_start is None:
        hold_start = int(np.argmax(touching)) if touching.any() else len(touching)
    hold = np.arange(seq.num_frames) >= hold_start
    centre = obj.rotation @ mesh.bounding_box.centroid + obj.translation
    rot, wrist = axis_angle_to_matrix_np(hand.global_orient), joints[:, 0]
    drift = slip(rot, wrist, centre, hold)
    success = bool(touching[-1] and hold[-1] and drift.max() <= drop_distance)
    return {
        "success": success,
        "max_penetration_mm": float(depth.max() * 1000.0),
        "mean_penetration_mm": float(depth.mean() * 1000.0),
        "contact_ratio": float(touching[hold].mean()) if hold.any() else 0.0,
        "slip_mm": float(drift.max() * 1000.0),
        "hand_jerk": hand_jerk(wrist, seq.fps),
        "hold_start": int(hold_start),
    }
