"""Independent quality check of a final hand-object sequence (``pam pose --report``, ``benchmarks/pose.py``).

It reads only the ``HOISequence``: the hand surface from its hand model (``pam.hand``), the object
meshes (``pam.objects``, or given) at their per-frame poses, and distances from libigl. It shares
no code and no acceptance rule with the generator (``generate``, ``grasp``, ``physics``), so it
grades any source alike: the generator, importers, other tools. Every threshold is a field of
``Thresholds`` (``THRESHOLDS`` holds the defaults, documented in docs/pose.md).

Definitions, per hand-object pair (the hand with the most frames in contact with the object; each
hand, when ``meta["pose"]["hands"]`` names two or more hands holding the object together):

- gap: signed distance (mm) from the hand surface (all vertices) to the object, negative inside.
  In contact: gap <= ``contact_gap_mm``.
- table top: ``meta["pose"]["table_z"]``, else the lowest object point in frame 0.
- carried frames: the object's lowest point is more than ``lift_mm`` above its frame-0 height (or
  ``meta["pose"]["carry_start"]`` up to ``meta["pose"]["carry_end"]`` or the end; with several
  objects, the entry of ``meta["pose"]["hands"]`` whose ``"object"`` is this object's index).
  carry start: the first carried frame.
- grip frame: ``meta["pose"]["grip_frame"]``, else the first frame of the contact run that reaches
  the carry start (not carried: that reaches the last frame); none without such a run.
- below table (mm): deepest hand-surface vertex under the table top over all frames and hands.
- pre-grasp disturbance: the largest horizontal displacement (mm) of the object's centre and
  rotation (deg) relative to frame 0, over the frames up to the grip frame and up to the last
  frame before the carry start (an object dragged along the table after the grip is disturbed
  too; the vertical motion before lift-off is the lift itself).
- contact fraction: carried frames in contact / carried frames.
- penetration (mm): deepest hand vertex inside the object; max over frames, and mean over the
  frames in contact.
- carried gap (mm): the median over carried frames of the gap (negative: the skin pressed into
  the object). Reported, not checked: above 0 the shown hand never touches what it carries (a
  real fingertip's pulp is pressed in by about a millimetre when it holds something).
- slip (mm) and in-hand rotation (deg): motion of the object in the wrist frame (wrist joint,
  global_orient) relative to the first carried frame, max over carried frames; slip follows the
  object point the hand touched at the first carried frame.
- hold (frames, s): number of carried frames.
- hand jerk (m/s^3): |third finite difference of the wrist joint| * fps^3, max and mean over frames.

``success`` means every check holds; ``failed`` names the failing checks. A check whose measure is
undefined (slip, rotation, contact of an object never carried) does not fail on its own: the
``hold`` check fails instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import igl
import numpy as np
import torch
import trimesh
from scipy.spatial.transform import Rotation

#: Kept for ``pam.pose.generate`` and ``pam.pose.physics``, which import them as their own
#: tolerances (end-of-clip gap 5 mm, drop at 25 mm); the quality check uses ``THRESHOLDS`` only.
CONTACT_DISTANCE = 0.005
DROP_DISTANCE = 0.025


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of the quality check (docs/pose.md gives the reasons)."""

    contact_gap_mm: float = 2.0  # hand surface this close to the object touches it
    lift_mm: float = 5.0  # object this far above its rest height is carried
    below_table_mm: float = 2.0  # deepest hand vertex under the table top
    disturbance_mm: float = 10.0  # object moved before the grip
    disturbance_deg: float = 10.0  # object turned before the grip
    contact_fraction: float = 0.95  # of carried frames in contact
    max_penetration_mm: float = 5.0  # deepest hand vertex inside the object, any frame
    mean_penetration_mm: float = 2.0  # mean over the frames in contact
    slip_mm: float = 5.0  # touched object point moving in the wrist frame while carried
    in_hand_rotation_deg: float = 10.0  # object turning in the wrist frame while carried
    min_hold_s: float = 0.5  # time carried
    max_jerk: float = 100.0  # m/s^3, peak wrist jerk


THRESHOLDS = Thresholds()
#: m: hand vertices farther than this from an object's bounding box are not measured exactly
#: (their distance is only known to exceed it), far more than any threshold needs.
NEAR = 0.02


@dataclass(frozen=True)
class QualityReport:
    """Every measure of one sequence (worst over its hand-object pairs), ``success`` and ``failed``.

    Measures that need a carried object are None when it never was; ``pairs`` holds the per-object
    measures (dicts) when the sequence has more than one object.
    """

    success: bool
    failed: tuple[str, ...]
    below_table_mm: float
    disturbance_mm: float
    disturbance_deg: float
    contact_fraction: float | None
    max_penetration_mm: float
    mean_penetration_mm: float
    slip_mm: float | None
    in_hand_rotation_deg: float | None
    carried_gap_mm: float | None
    hold_frames: int
    hold_s: float
    jerk_max: float
    jerk_mean: float
    grip_frame: int | None
    carry_start: int | None
    pairs: tuple[dict, ...] = field(default=())

    def as_dict(self) -> dict:
        """Plain JSON-ready values (lists, not tuples)."""
        out = asdict(self)
        out["failed"] = list(self.failed)
        out["pairs"] = [dict(p) for p in self.pairs]
        return out


def hand_object_distances(
    hand_vertices: np.ndarray, mesh: trimesh.Trimesh, rotation: np.ndarray, translation: np.ndarray,
    near: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Signed distances of hand vertices to an object, negative inside.

    Args:
        hand_vertices: (T, V, 3) world hand vertices.
        mesh: the object mesh in its own frame (metres).
        rotation, translation: (T, 3, 3), (T, 3) object-to-world poses.
        near: if given (m), vertices farther than this from the mesh's bounding box are not
            measured: they get their distance to the box (a lower bound) and their own position
            as closest point. Saves most of the time of frames where the hand is away.

    Returns:
        distance (T, V) in metres and the closest object surface points (T, V, 3) in the object frame.
    """
    local = np.einsum("tji,tvj->tvi", rotation, hand_vertices - translation[:, None])  # R^T (v - t)
    lo, hi = mesh.bounds
    dist = np.linalg.norm(np.maximum(np.maximum(lo - local, local - hi), 0.0), axis=-1)
    closest = local.copy()
    measure = np.ones(dist.shape, dtype=bool) if near is None else dist <= near
    if measure.any():
        sign = igl.SIGNED_DISTANCE_TYPE_PSEUDONORMAL if mesh.is_watertight else \
            igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER  # exact sign when closed, robust across holes
        d, _, c, _ = igl.signed_distance(
            np.ascontiguousarray(local[measure]),
            np.ascontiguousarray(mesh.vertices, dtype=np.float64),
            np.ascontiguousarray(mesh.faces, dtype=np.int64),
            sign_type=sign,
        )
        dist[measure], closest[measure] = d, c
    return dist, closest


def penetration_depths(
    hand_vertices: np.ndarray, mesh: trimesh.Trimesh, rotation: np.ndarray, translation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame deepest penetration (T,) >= 0 and gap (T,) (the smallest signed distance), in metres,
    of hand vertices (T, V, 3) to an object at poses (T, 3, 3), (T, 3)."""
    gap = hand_object_distances(hand_vertices, mesh, rotation, translation)[0].min(axis=1)
    return np.maximum(-gap, 0.0), gap


def in_wrist_frame(wrist_rotation: np.ndarray, wrist: np.ndarray, points: np.ndarray) -> np.ndarray:
    """World points (T, 3) -> the same points in the wrist frame, (T, 3)."""
    return np.einsum("tji,tj->ti", wrist_rotation, points - wrist)


def rotation_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (deg) of the rotations taking a (3, 3) to each of b (T, 3, 3): |log(a^T b)|."""
    return np.degrees(Rotation.from_matrix(np.einsum("ji,tjk->tik", a, b)).magnitude())


def hand_jerk(wrist: np.ndarray, fps: float) -> np.ndarray:
    """|d^3 x / dt^3| (m/s^3) of a wrist path (T, 3) by third finite differences, (T - 3,)."""
    return np.linalg.norm(np.diff(wrist, n=3, axis=0), axis=1) * fps**3


def contact_runs_start(contact: np.ndarray, end: int) -> int | None:
    """First frame of the run of ``contact`` (T,) bool frames that reaches frame ``end``; None if
    ``end`` is not in contact."""
    if not contact[end]:
        return None
    start = end
    while start > 0 and contact[start - 1]:
        start -= 1
    return start


def _carried(lift: np.ndarray, pose_meta: dict, thresholds: Thresholds) -> np.ndarray:
    """(T,) bool carried frames from the object's lift (T,) in metres, or from the meta."""
    if pose_meta.get("carry_start") is not None:
        frames, end = np.arange(len(lift)), pose_meta.get("carry_end")
        return (frames >= int(pose_meta["carry_start"])) & (frames < (len(lift) if end is None else int(end)))
    return lift > thresholds.lift_mm / 1000.0


def _pair(verts: np.ndarray, wrist: np.ndarray, wrist_rot: np.ndarray, mesh: trimesh.Trimesh, rotation: np.ndarray,
          translation: np.ndarray, fps: float, pose_meta: dict, thresholds: Thresholds) -> dict:
    """Measures of one hand (vertices (T, V, 3), wrist (T, 3), wrist rotations (T, 3, 3)) and one object."""
    T = len(verts)
    dist, closest = hand_object_distances(verts, mesh, rotation, translation, near=NEAR)
    gap = dist.min(axis=1)
    contact = gap <= thresholds.contact_gap_mm / 1000.0
    world = np.einsum("tij,vj->tvi", rotation, np.asarray(mesh.vertices)) + translation[:, None]
    low = world[..., 2].min(axis=1)
    carried = _carried(low - low[0], pose_meta, thresholds)
    carry = np.flatnonzero(carried)
    carry_start = int(carry[0]) if carry.size else None

    grip = pose_meta.get("grip_frame")
    if grip is None:
        grip = contact_runs_start(contact, carry_start if carry_start is not None else T - 1)
    grip = None if grip is None else int(grip)
    last = [f for f in (grip, None if carry_start is None else carry_start - 1) if f is not None]
    window = slice(0, max(max(last) + 1, 1) if last else T)
    centre = rotation @ mesh.bounding_box.centroid + translation
    shift = np.linalg.norm(centre[window, :2] - centre[0, :2], axis=1).max()
    turn = rotation_angles_deg(rotation[0], rotation[window]).max()

    depth = np.maximum(-gap, 0.0)
    out = {
        "disturbance_mm": float(shift * 1000.0),
        "disturbance_deg": float(turn),
        "max_penetration_mm": float(depth.max() * 1000.0),
        "mean_penetration_mm": float(depth[contact].mean() * 1000.0) if contact.any() else 0.0,
        "contact_fraction": None, "slip_mm": None, "in_hand_rotation_deg": None, "carried_gap_mm": None,
        "hold_frames": int(carry.size), "hold_s": float(carry.size / fps),
        "grip_frame": grip, "carry_start": carry_start, "contact_frames": int(contact.sum()),
    }
    if carry.size:
        f0 = carry[0]
        touched = closest[f0, np.argmin(dist[f0])]  # object point nearest the hand, object frame
        point = rotation[carry] @ touched + translation[carry]
        local = in_wrist_frame(wrist_rot[carry], wrist[carry], point)
        in_hand = np.einsum("tji,tjk->tik", wrist_rot[carry], rotation[carry])  # object rotation in the wrist frame
        out.update(
            contact_fraction=float(contact[carry].mean()),
            slip_mm=float(np.linalg.norm(local - local[0], axis=1).max() * 1000.0),
            in_hand_rotation_deg=float(rotation_angles_deg(in_hand[0], in_hand).max()),
            carried_gap_mm=float(np.median(gap[carry]) * 1000.0),
        )
    return out


#: check name -> predicate on the measures (None measures pass: see the module docstring)
CHECKS = {
    "below_table": lambda m, t: m["below_table_mm"] <= t.below_table_mm,
    "disturbance": lambda m, t: m["disturbance_mm"] <= t.disturbance_mm and m["disturbance_deg"] <= t.disturbance_deg,
    "contact": lambda m, t: m["contact_fraction"] is None or m["contact_fraction"] >= t.contact_fraction,
    "penetration": lambda m, t: m["max_penetration_mm"] <= t.max_penetration_mm
    and m["mean_penetration_mm"] <= t.mean_penetration_mm,
    "slip": lambda m, t: m["slip_mm"] is None or m["slip_mm"] <= t.slip_mm,
    "in_hand_rotation": lambda m, t: m["in_hand_rotation_deg"] is None
    or m["in_hand_rotation_deg"] <= t.in_hand_rotation_deg,
    "hold": lambda m, t: m["hold_s"] >= t.min_hold_s,
    "jerk": lambda m, t: m["jerk_max"] <= t.max_jerk,
}


def _object_meta(pose_meta: dict, k: int, num_objects: int) -> dict:
    """The generator's grip and carry frames for object ``k``: its entry in ``pose_meta["hands"]``,
    else the top-level keys when there is only one object, else none."""
    for entry in pose_meta.get("hands", []):
        if isinstance(entry, dict) and entry.get("object") == k:
            return entry
    return pose_meta if num_objects == 1 else {}


def _holders(pose_meta: dict, k: int, num_hands: int) -> list[int]:
    """The hands that ``pose_meta["hands"]`` (one entry per hand) says hold object ``k`` together, if two or more."""
    entries = pose_meta.get("hands", [])
    if not isinstance(entries, list) or len(entries) != num_hands:
        return []
    holders = [h for h, e in enumerate(entries) if isinstance(e, dict) and e.get("object") == k]
    return holders if len(holders) > 1 else []


def _worst(pairs: list[dict]) -> dict:
    """One set of measures from several pairs: the worst value of each (None only if all are None)."""
    lowest_is_worst = {"contact_fraction", "hold_frames", "hold_s"}
    out = {}
    for key in pairs[0]:
        values = [p[key] for p in pairs if p[key] is not None]
        if key in ("grip_frame", "carry_start", "object", "hand"):  # of the first pair
            out[key] = pairs[0][key]
        elif not values:
            out[key] = None
        else:
            out[key] = min(values) if key in lowest_is_worst else max(values)
    return out


def evaluate(seq, meshes: list[trimesh.Trimesh] | None = None, hand_models: list | None = None,
             thresholds: Thresholds = THRESHOLDS) -> QualityReport:
    """Grade a ``HOISequence``: every measure of the module docstring, ``success`` and ``failed``.

    Args:
        seq: the final sequence (one or more hands, one or more objects).
        meshes: one mesh per object in its own frame (metres); default ``pam.objects.load_object``
            of each ``ObjectTrack.mesh`` and ``scale``.
        hand_models: one ``HandModel`` per hand; default ``pam.hand.load_hand_model(model, side)``.
        thresholds: the thresholds to grade against.
    """
    from pam.hand import load_hand_model
    from pam.objects import load_object

    if meshes is None:
        meshes = [load_object(o.mesh, scale=o.scale) for o in seq.objects]
    if hand_models is None:
        hand_models = [load_hand_model(h.model, side=h.side) for h in seq.hands]
    if not seq.hands or not seq.objects:
        raise ValueError(f"evaluate: the sequence needs a hand and an object, got {len(seq.hands)} hands "
                         f"and {len(seq.objects)} objects")
    if len(meshes) != len(seq.objects) or len(hand_models) != len(seq.hands):
        raise ValueError(f"evaluate: {len(seq.objects)} objects and {len(seq.hands)} hands need as many meshes "
                         f"and hand models, got {len(meshes)} and {len(hand_models)}")
    pose_meta = seq.meta.get("pose", {})
    hands = []
    for track, model in zip(seq.hands, hand_models):
        dtype = next(model.buffers()).dtype  # the model is used as it is (float32 is precise to < 1 um here)
        orient, pose, betas, transl = (torch.as_tensor(a, dtype=dtype) for a in
                                       (track.global_orient, track.hand_pose, track.betas, track.transl))
        with torch.no_grad():
            out = model(orient, pose, betas=betas, transl=transl)
        rot = Rotation.from_rotvec(track.global_orient).as_matrix()
        hands.append((out.vertices.double().numpy(), out.joints.double().numpy()[:, 0], rot))

    table = pose_meta.get("table_z")
    if table is None:
        table = min((o.rotation[0] @ np.asarray(m.vertices).T)[2].min() + o.translation[0, 2]
                    for o, m in zip(seq.objects, meshes))
    below = max(float(table) - v[..., 2].min() for v, _, _ in hands)
    jerks = [hand_jerk(wrist, seq.fps) for _, wrist, _ in hands]

    pairs = []
    for k, (obj, mesh) in enumerate(zip(seq.objects, meshes)):
        frames_meta = _object_meta(pose_meta, k, len(seq.objects))
        per_hand = [_pair(v, w, r, mesh, obj.rotation, obj.translation, seq.fps, frames_meta, thresholds)
                    for v, w, r in hands]
        holders = _holders(pose_meta, k, len(hands))
        if not holders:  # the hand that handles it
            holders = [max(range(len(hands)), key=lambda i: per_hand[i]["contact_frames"])]
        pairs += [{"object": obj.name, "hand": h, **per_hand[h]} for h in holders]
    measures = _worst(pairs)
    for key in ("object", "hand", "contact_frames"):
        measures.pop(key)
    measures["below_table_mm"] = max(below * 1000.0, 0.0)
    measures["jerk_max"] = float(max((j.max() for j in jerks if j.size), default=0.0))
    measures["jerk_mean"] = float(max((j.mean() for j in jerks if j.size), default=0.0))
    failed = tuple(name for name, holds in CHECKS.items() if not holds(measures, thresholds))
    return QualityReport(success=not failed, failed=failed, pairs=tuple(pairs) if len(pairs) > 1 else (), **measures)
