"""Grasp synthesis: steerable wrist poses around the object, fingers closed until they touch it.

Three grasp families (after the Feix et al. 2016 GRASP taxonomy's opposition types), each a hand
pre-shape, a closing pose and a contact pattern that a candidate must show to count as that family:

- ``power``: all fingers wrap, closing along the target hand's style (hT); palm, thumb and two
  more fingers touch the object.
- ``precision`` (pinch): the thumb, opposed, closes onto the index and middle tips while ring and
  little stay tucked; the thumb's and the index's (or middle's) distal segments touch, the palm
  stays off the object.
- ``hook``: the four long fingers curl (proximal joints little, middle and distal joints much),
  the thumb rests half bent beside the index and does not close; two or more long fingers touch
  and wrap around a part of the object (a handle, a rim): the chord from fingertip to knuckle
  passes through the object within ``max_hook_part``, and on a table each touches it where its
  surface faces down or sideways (``hook_under``): under the part it carries, not on top of it.

For each of ``num_candidates`` candidates (NumPy ``Generator``: a seed fixes them):
1. a family, an approach direction ``a`` (object -> hand, not from below the table), a roll of
   the hand about it and an aim point (on the requested region, else on the object's long axis)
   give a wrist rotation whose palm faces the object;
2. the pre-shaped hand slides in along ``-a``, with the family's grip point (palm centre, pinch
   point, hook centre) on the line through the aim, until its first contact, found exactly by
   ray casting (hand vertices against the object, object vertices against the hand, and the table
   plane); the segments that close around the object (the thumb's tip, and the pinching or hooking
   fingers' middle and distal segments) may pass beside it. The hand stops a family-dependent
   standoff short of that contact (precision and hook keep the palm off the object).
   When no candidate holds (step 4), a second pass adds pinches (``pinch_share`` as many as
   the precision candidates) placed across pairs of antipodal surface points (Dex-Net's
   antipodal sampling, for a hand): the thumb's and index's pads straddle the pair (the middle
   finger's, from the curled power pre-shape, for a pair wider than 62 mm), the hand opened
   only a little wider than it and raised if need be so that no finger goes under the table
   (``_pinch_groups``); such a candidate is placed exactly and kept only if no part of the open
   hand is in the object or under the table. When none, pinches included, can hold even at
   ``fallback_mu``, one more round of candidates is drawn from any side (the seed's approach
   sector dropped, in the ranking too);
3. each finger closes from the pre-shape towards the closing pose segment by segment (GraspIt's
   auto-grasp): its joints close together until a segment's capsules touch the object (libigl
   signed distance) or the table; that segment and the joints before it stop, the joints after
   it close on. A joint that closes to ``max_closure`` without touching takes the closing pose's
   angle, so the closing pose (hT's fingers for hT's family) is followed wherever no contact
   stops it. The contact pose is what the output shows (the simulator's grip presses a little
   further, ``pam.pose.generate``).
4. whether the contacts can hold the object at all: a linear program (``pam.pose.wrench``) finds
   the least contact force that balances the object's weight and its torque inside friction
   cones (``support_mu``, ``support_torsion``, below the simulator's own), for the
   ``support_checked`` best-ranked candidates of each family; a grasp that needs more than
   ``max_support`` weights at a contact, or cannot hold at all (a claw on a rim, a pinch beside
   the centre of mass), goes after every grasp that holds (least force first; those that cannot
   hold at all by the least force at the simulator's friction, ``fallback_mu``), and those that
   hold lose ``support_weight`` per weight in the ranking.
Candidates are ranked by contacts, by how squarely another contact opposes the thumb, by how well
the contact normals balance, by how far the fingers end from the closing pose (hT's fingers when
the family is hT's own: ``finger_error``), by how far the wrist must turn from the preferred
orientations (h0, hT), and by how far the contacts lie from a requested region. The best few are
refined on the hand's surface: a finger whose skin sinks more than ``max_penetration`` into the
object is opened back; a grasp with a finger through a thin wall (its capsule axis across the
surface, or its skin past the wall's middle) is dropped.

Steering (:class:`GraspRequest`): an approach direction is sampled within ``approach_cone`` of
the request, a roll within ``roll_jitter``; a region (sampled with twice the candidates, aimed
at its points, approaching along its normals) keeps only candidates with at least two contacts, and
``region_share`` of them, within ``region_reach`` of it; a family keeps only that family. Without a request, each seed
favours one family (hT's own with probability 0.4, each other 0.3) and one approach sector (a
random direction on the upper hemisphere), so that ``--num`` seeds spread over both; the other
families stay in the ranking as fall-backs.

Roll convention: the fingers point along ``cos(roll) r + sin(roll) (a x r)``, where ``r`` is the
world's up axis (+z) made perpendicular to ``a`` (fingers up for a side approach) or, for an
approach within 25 degrees of vertical, the world's +y made perpendicular to ``a``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import trimesh

from pam.hand.anatomy import curl_pose, mirror_pose
from pam.pose.keyframes import KeyframeError, hand_preset
from pam.pose.hand_geometry import (
    FINGER_BONES, FINGER_POSE_JOINTS, PALM_BONES, PALM_WEB, RADIUS_PERCENTILE, TIPS, HandCapsules, PosedHand,
    finger_axes, finger_pose, segment_distance,
)
from pam.pose.sdf import ObjectSDF
from pam.pose.wrench import centre_of_mass, support_force
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

DEFAULTS = dict(
    num_candidates=400,
    num_keep=10,
    distinct_shift=0.005,  # m and ...
    distinct_turn=np.radians(5.0),  # ... rad: kept grasps whose wrists are this close, with the same contacts, are one
    aim_range=0.8,  # aim points along the object's long axis, as a fraction of its half length
    closure_samples=14,
    max_closure=1.6,  # fingers may close this far along the style direction (1 = the style pose)
    clearance=0.002,  # m between hand and object when the wrist stops
    max_penetration=0.0015,  # m of skin inside the object allowed in the contact pose
    palm_contact=0.005,  # m: the palm's skin counts as touching within this distance
    table_margin=0.002,  # m above the table: a hand that stopped partly under it slides in again raised by that much
    power_palm=0.03,  # m: a power grasp's palm is at most this far from the object
    max_hook_part=0.035,  # m of object a hooking finger's tip-knuckle chord may cross
    hook_under=0.0,  # a hooking finger's contact: the object's normal there points at least this far down (-z)
    approach_cone=np.radians(8.0),  # requested approach: sampled within this angle
    roll_jitter=np.radians(8.0),  # requested roll: sampled within this angle
    region_reach=0.005,  # m: a contact whose surface point is this close to the requested region is on it
    region_share=0.6,  # of a grasp's contacts (at least two) that must be on the region: the others may rest on the
    # parts beside it (a hook's fingertips on the mug's body), as a hand's do
    finger_weight=1.0,  # score per radian of mean finger joint error to the closing pose
    support_checked=15,  # best-ranked candidates per family (and per placement: pinch or not) whose hold
    # against gravity is checked (``wrench``)
    support_mu=0.5,  # friction coefficient assumed there (below the simulator's: contacts are not ideal)
    support_torsion=0.003,  # m of torsional friction assumed there (the simulator's: 0.005)
    fallback_mu=0.9,  # friction that orders the grasps that cannot hold at ``support_mu`` (the simulator's)
    max_support=3.0,  # the largest contact force a kept grasp may need to hold the object, in weights ...
    max_grip_force=10.0,  # ... or in newtons, whichever is more (a light object may be pinched beside its centre of mass)
    support_weight=3.0,  # score per weight of that force (docs/pose.md, session 19: 3 ranks better than 1)
    approach_mix=(0.15, 0.7, 0.15),  # shares of free, box-aligned and sector approaches
    family_bonus=10.0,  # score of the seed's favoured family (without a requested family)
    sector_weight=1.0,  # score per radian the approach lies from the seed's favoured sector
    pinch_share=0.6,  # pinches on antipodal pairs when nothing holds, as a share of the precision candidates
    max_pinch=0.09,  # m: the widest pair a pinch takes (thumb and middle pads open 94 mm in the power pre-shape)
    pinch_cone=np.radians(20.0),  # the pair's normals oppose within this angle
    pinch_height=0.0,  # m the pinching hand's capsules keep above the table (a thin object is pinched on its upper edges)
    tip_clearance=0.0005,  # m a pinch at the table keeps the tips' table capsules above it (touching stops them)
    pinch_tilt=np.radians(60.0),  # approach tilt about the pair's line
    pinch_openings=(-1.0, -0.5, -0.25, 0.0, 0.2, 0.4, 0.6),  # closures a pinching hand may approach with
    # (``_pinch_groups``; below 0: opened wider than the precision pre-shape, the thumb and index pads up to 72 mm apart)
    pinch_margin=0.01,  # m the approaching pads are wider apart than the pair
    pinch_depth=0.02,  # m: pairs this far below the object's top are drawn e times less often
    radius_percentile=RADIUS_PERCENTILE,  # of the finger capsules that touch the object (``HandCapsules``) ...
    table_percentile=RADIUS_PERCENTILE,  # ... and of those that touch the table
)

#: Grasp families, in the order used when a seed's favoured family is drawn.
FAMILIES = ("power", "precision", "hook")
#: Named approach directions (object -> hand, world frame, z up). ``side`` comes from the hand's
#: own side (+x for a right hand, -x for a left one); ``front`` from the default camera's side (-y).
APPROACHES = {"top": (0.0, 0.0, 1.0), "front": (0.0, -1.0, 0.0), "side": (1.0, 0.0, 0.0)}
#: Per family: the bones (indices into FINGER_BONES, thumb .. little, 3 each) that may pass
#: beside the object while the hand slides in, and the standoff range (m) it stops short by.
_PASSING = {
    "power": (1, 2),
    "precision": (1, 2, 4, 5, 7, 8),
    "hook": (4, 5, 7, 8, 10, 11, 13, 14),
}
_SLIDE_START = 0.4  # m from the aim point where the sliding grip point starts
#: m above an object's lowest point (where it rests): a finger touching it lower presses level, never down
#: (``press_pose``): pressed down at a plate's edge it slides over onto the top face.
_LOW_CONTACT = 0.015
_PRESS_DAMPING = 1e-4  # m^2: damping of ``press_pose``'s least squares (joints that barely move the contact stay)
_EXACT_WITHIN = 0.02  # m from the object within which closing fingers get exact distances
_SIGN_ONLY = 1e-3  # m: the band of exact distances where only inside or outside matters (and depth inside)
_STANDOFF = {"power": (0.0, 0.0), "precision": (0.004, 0.02), "hook": (0.0, 0.012)}


@dataclass(frozen=True)
class GraspRequest:
    """What the user asks of a grasp; every field is optional (None: the synthesis chooses).

    Attributes:
        approach: direction from the object to the approaching hand, world frame: a name in
            ``APPROACHES`` or 3 numbers (any length).
        region: where to grasp: a point (3 numbers, metres, in the object's frame) or the name of
            a part of a built-in object (``pam.objects.BUILTIN_OBJECTS[name].parts``).
        roll: wrist roll about the approach direction (radians, see the module's convention).
        family: one of ``FAMILIES``.
    """

    approach: str | tuple[float, float, float] | None = None
    region: str | tuple[float, float, float] | None = None
    roll: float | None = None
    family: str | None = None

    def __post_init__(self):
        if isinstance(self.approach, str):
            if self.approach not in APPROACHES:
                raise KeyframeError(f"approach: expected one of {', '.join(APPROACHES)} or x,y,z, got {self.approach!r}")
        elif self.approach is not None:
            vec = _triple("approach", self.approach)
            if np.linalg.norm(vec) < 1e-9:
                raise KeyframeError("approach: the direction vector is zero")
            object.__setattr__(self, "approach", tuple(vec / np.linalg.norm(vec)))
        if self.region is not None and not isinstance(self.region, str):
            object.__setattr__(self, "region", tuple(_triple("region", self.region)))
        if self.roll is not None:
            try:
                roll = float(self.roll)
            except (TypeError, ValueError) as exc:
                raise KeyframeError(f"roll: expected an angle, got {self.roll!r}") from exc
            if not np.isfinite(roll):
                raise KeyframeError(f"roll: expected a finite angle, got {self.roll!r}")
            object.__setattr__(self, "roll", roll)
        if self.family is not None and self.family not in FAMILIES:
            raise KeyframeError(f"family: expected one of {', '.join(FAMILIES)}, got {self.family!r}")

    @classmethod
    def parse(cls, approach: str | None = None, region: str | None = None, roll_deg: float | None = None,
              family: str | None = None) -> "GraspRequest":
        """From command-line text: ``approach`` a name or ``x,y,z``; ``region`` a part name or
        ``x,y,z`` (metres, object frame); ``roll_deg`` in degrees."""
        return cls(
            approach=_text_triple("approach", approach),
            region=_text_triple("region", region),
            roll=None if roll_deg is None else np.radians(float(roll_deg)),
            family=family,
        )

    @staticmethod
    def merged(base: "GraspRequest | None", override: "GraspRequest | None") -> "GraspRequest | None":
        """``base`` with the fields that ``override`` sets (None where neither is given)."""
        if base is None or override is None:
            return override if base is None else base
        return GraspRequest(**{k: v if v is not None else getattr(base, k) for k, v in vars(override).items()})

    def direction(self, side: str = "right") -> np.ndarray | None:
        """The approach as a world unit vector (3,), or None."""
        if self.approach is None:
            return None
        vec = np.array(APPROACHES[self.approach] if isinstance(self.approach, str) else self.approach)
        if self.approach == "side" and side == "left":
            vec = -vec
        return vec

    def in_world(self, object_to_world: np.ndarray) -> "GraspRequest":
        """This request with a region point moved from the object's frame to the world's by the
        (4, 4) transform (part names and directions are unchanged)."""
        if self.region is None or isinstance(self.region, str):
            return self
        point = np.asarray(object_to_world)[:3, :3] @ np.asarray(self.region) + np.asarray(object_to_world)[:3, 3]
        return GraspRequest(self.approach, tuple(point), self.roll, self.family)

    def as_dict(self) -> dict:
        """JSON-ready fields (for ``meta``)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


def _triple(name: str, value) -> np.ndarray:
    try:
        vec = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KeyframeError(f"{name}: expected 3 numbers, got {value!r}") from exc
    if vec.shape != (3,) or not np.all(np.isfinite(vec)):
        raise KeyframeError(f"{name}: expected 3 finite numbers, got {value!r}")
    return vec


def _text_triple(name: str, text: str | None) -> str | tuple | None:
    """``None``, a plain name (checked later), or ``x,y,z`` -> a tuple."""
    if text is None or "," not in text:
        return text
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise KeyframeError(f"{name}: expected a name or x,y,z, got {text!r}") from exc


@dataclass
class Grasp:
    """A hand pose holding the object (world frame, object at its initial pose).

    Attributes:
        rotation: (3, 3) wrist rotation.
        transl: (3,) MANO translation.
        hand_pose: (45,) contact pose (fingers on the surface).
        preshape: (45,) the open pose the hand approaches with.
        approach: (3,) unit direction from the object towards the approaching hand.
        family: one of ``FAMILIES``.
        finger_contact: (5,) which fingers (thumb .. little) touch the object; palm_contact: bool.
        balance: |weighted sum of unit contact normals| / sum of weights (0 = perfectly opposed;
            the thumb weighs as much as the fingers it opposes together, the rest 1 each).
        finger_error: mean joint angle (rad) between ``hand_pose`` and the target hand's fingers
            (``style``, hT's ``hand_pose``).
        support: the largest contact normal force the grasp needs to hold the object against
            gravity, in units of its weight (``pam.pose.wrench.support_force``).
        score: ranking score (higher is better).
        contact_points, contact_normals: (5, 3) per finger, the object's surface point it touches
            and the outward normal there (world; meaningless where ``finger_contact`` is False).
        contact_segment: (5,) per finger, the touching segment (0 proximal .. 2 distal).
    """

    rotation: np.ndarray
    transl: np.ndarray
    hand_pose: np.ndarray
    preshape: np.ndarray
    approach: np.ndarray
    family: str
    finger_contact: np.ndarray
    palm_contact: bool
    balance: float
    finger_error: float
    support: float
    score: float
    contact_points: np.ndarray
    contact_normals: np.ndarray
    contact_segment: np.ndarray

    @property
    def num_contacts(self) -> int:
        return int(self.finger_contact.sum()) + int(self.palm_contact)


def family_poses(family: str, side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """The (45,) pre-shape and closing pose of a grasp family for a ``side`` hand.

    Closures are fractions of each joint's flexion range (``pam.hand.anatomy.curl_pose``); the
    precision pinch was tuned on the OpenHand so that the thumb and index tips meet (6 mm apart).
    """
    return tuple(p.copy() for p in _family_poses(family, side))


@functools.lru_cache(maxsize=None)
def _family_poses(family: str, side: str) -> tuple[np.ndarray, np.ndarray]:
    if family == "power":
        poses = [hand_preset("preshape"), hand_preset("power_grasp")]
    elif family == "precision":
        thumb = hand_preset("pinch")[36:45]  # opposed (palmar abduction) and flexed
        poses = []
        for fingers, thumb_scale in (((0.1, 0.1, 0.75, 0.75), 0.3), ((0.5, 0.5, 0.75, 0.75), 0.6)):
            pose = curl_pose(np.array((0.0, *fingers)))
            pose[36:45] = thumb_scale * thumb
            poses.append(pose)
    elif family == "hook":
        poses = []
        for mcp, distal in ((0.05, 0.35), (0.3, 0.85)):  # the thumb rests half bent, beside the index
            pose = curl_pose(np.array((0.3, distal, distal, distal, distal)))
            mcp_pose = curl_pose(np.array((0.3, mcp, mcp, mcp, mcp)))
            for joints in FINGER_POSE_JOINTS[1:]:
                pose[3 * joints[0] : 3 * joints[0] + 3] = mcp_pose[3 * joints[0] : 3 * joints[0] + 3]
            poses.append(pose)
    else:
        raise KeyframeError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}")
    return tuple(mirror_pose(p) if side == "left" else p for p in poses)


def family_of_pose(hand_pose: np.ndarray, side: str = "right") -> str:
    """The family whose closing pose is nearest (joint angles) to ``hand_pose`` (45,)."""
    dist = [np.linalg.norm(finger_error(hand_pose, family_poses(f, side)[1])) for f in FAMILIES]
    return FAMILIES[int(np.argmin(dist))]


def finger_error(hand_pose: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-joint rotation angle (rad) between MANO hand poses: (..., 45) and (45,) -> (..., 15)."""
    a = axis_angle_to_matrix_np(np.asarray(hand_pose, dtype=np.float64).reshape(*np.shape(hand_pose)[:-1], 15, 3))
    b = axis_angle_to_matrix_np(np.asarray(target, dtype=np.float64).reshape(15, 3))
    return rotation_angle(a, b)


def finger_error_report(hand_pose: np.ndarray, target: np.ndarray) -> dict:
    """Mean and max per-joint angle (rad) between a hand pose (45,) and the target's (45,)."""
    err = finger_error(hand_pose, target)
    return {"mean": float(err.mean()), "max": float(err.max())}


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between rotations a (..., 3, 3) and b (..., 3, 3) (broadcast, e.g. b (3, 3))."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _capsule_points(joints: np.ndarray, radius: np.ndarray, inset: np.ndarray, per_bone: int = 4) -> np.ndarray:
    """Points on the finger bones' capsule axes (``HandCapsules``: radii (15,), fingertip insets (5,)):
    joints (K, 21, 3) -> (K, 15 * per_bone, 3)."""
    a, b = finger_axes(joints, radius, inset)
    t = np.linspace(0.0, 1.0, per_bone)
    return (a[:, :, None] + t[None, None, :, None] * (b - a)[:, :, None]).reshape(len(joints), -1, 3)


def _ray_distances(mesh: trimesh.Trimesh, origins: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Distance along ``direction`` (N, 3) from each origin (N, 3) to ``mesh`` (inf where missed)."""
    dist = np.full(len(origins), np.inf)
    locations, index, _ = mesh.ray.intersects_location(origins, direction, multiple_hits=False)
    if len(index):
        np.minimum.at(dist, index, np.linalg.norm(locations - origins[index], axis=1))
    return dist


def _roll_basis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roll reference ``r`` and ``a x r`` (N, 3) for approach directions a (N, 3) (module docstring)."""
    up = np.where(np.abs(a[:, 2:3]) < np.cos(np.radians(25.0)), [[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]])
    r = up - a * np.einsum("nk,nk->n", a, up)[:, None]
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    return r, np.cross(a, r)


def _cone(axis: np.ndarray, angle: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors uniformly distributed within ``angle`` (rad) of the unit ``axis`` (3,)."""
    cos = rng.uniform(np.cos(angle), 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    sin = np.sqrt(1.0 - cos**2)
    return cos[:, None] * axis + sin[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)


def _sample_approaches(
    mesh: trimesh.Trimesh, n: int, on_table: bool, rng: np.random.Generator, cfg: dict, aims: np.ndarray,
    normals: np.ndarray | None = None, direction: np.ndarray | None = None, roll: float | None = None,
    sector: np.ndarray | None = None, part_axis: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approach directions (n, 3), rolls (n,) and aim points (n, 3), from ``aims`` (8 n, 3).

    A requested ``direction`` or ``roll`` is sampled within ``approach_cone`` / ``roll_jitter``.
    Otherwise the directions are, in the shares of ``approach_mix``, uniformly random, along the
    object's box axes with the fingers along another box axis (the grasps people use on boxes and
    cylinders, most of them), jittered by ~10 degrees, or within 45 degrees of ``sector``. Given the aims' surface
    ``normals`` (8 n, 3) of a region, all are along those (jittered by ~20 degrees), with the
    fingers across ``part_axis`` (the region's long axis: the fingers wrap around it). On a table, directions
    from below are left out.
    """
    box_axes = mesh.bounding_box_oriented.primitive.transform[:3, :3].T  # rows
    m = len(aims)
    pick = rng.integers(0, 3, size=(m, 2))
    pick[:, 1] = (pick[:, 0] + 1 + rng.integers(0, 2, size=m)) % 3
    signs = rng.choice([-1.0, 1.0], size=(m, 2))
    kind = rng.choice(3, size=m, p=cfg["approach_mix"])  # 0 free, 1 box-aligned, 2 sector
    if direction is not None:
        a = _cone(direction, cfg["approach_cone"], m, rng)
        kind[:] = 0
    else:
        free = rng.normal(size=(m, 3))
        aligned = signs[:, :1] * box_axes[pick[:, 0]] + rng.normal(scale=0.18, size=(m, 3))
        near = _cone(sector, np.radians(45.0), m, rng) if sector is not None else free
        if normals is not None:  # a region: every approach along its normals
            near = normals + rng.normal(scale=0.35, size=(m, 3))
            kind[:] = 2
        a = np.where((kind == 1)[:, None], aligned, np.where((kind == 2)[:, None], near, free))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    r, s = _roll_basis(a)
    finger = signs[:, 1:] * box_axes[pick[:, 1]]
    if part_axis is not None and normals is not None:
        across = np.cross(a, part_axis)
        finger = np.where((kind == 2)[:, None], signs[:, 1:] * across, finger)
        kind = np.where(kind == 2, 1, kind)  # rolls from ``finger``, like the box-aligned ones
    if roll is not None:
        rolls = roll + rng.uniform(-cfg["roll_jitter"], cfg["roll_jitter"], m)
    else:
        rolls = np.where(
            kind == 1,
            np.arctan2(np.einsum("nk,nk->n", finger, s), np.einsum("nk,nk->n", finger, r)) + rng.normal(scale=0.18, size=m),
            rng.uniform(0.0, 2.0 * np.pi, m),
        )
    keep = a[:, 2] > -0.25 if on_table else np.ones(m, dtype=bool)
    return a[keep][:n], rolls[keep][:n], aims[keep][:n]


def _antipodal_pairs(mesh: trimesh.Trimesh, points: np.ndarray, normals: np.ndarray, cfg: dict,
                     table_height: float | None, lift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of surface points a pinch can squeeze: from each point (N, 3) with outward normal
    (N, 3), a ray into the object finds the opposite surface; kept where the two normals oppose
    within ``pinch_cone`` and the width is at most ``max_pinch``. On a table, a pair whose lower
    point lies within ``lift`` of it must run within 45 degrees of level (a steeper one puts a
    pad under the object). Returns the points (M, 3) and their partners (M, 3)."""
    inset = 5e-4
    hits, index, tri = mesh.ray.intersects_location(points - inset * normals, -normals, multiple_hits=False)
    p1, n1 = points[index], normals[index]
    n2 = mesh.face_normals[tri]
    width = np.linalg.norm(hits - p1, axis=1)
    ok = (np.einsum("nk,nk->n", n1, n2) < -np.cos(cfg["pinch_cone"])) & (width > 2 * inset) & (width <= cfg["max_pinch"])
    if table_height is not None:
        low = np.minimum(p1[:, 2], hits[:, 2]) < table_height + lift
        steep = np.abs(hits[:, 2] - p1[:, 2]) > np.sqrt(0.5) * width
        ok &= ~(low & steep)
    return p1[ok], hits[ok]


def _pad_path(joints: np.ndarray, radius: np.ndarray, inset: np.ndarray, finger: int = 1, at_tip: bool = False):
    """Where the thumb's and ``finger``'s (1: index, 2: middle) distal pads face each other, for the hand's
    joints (K, 21, 3) along a closing motion (rest frame, zero orient): the facing points (K, 3) on the two
    pads' surfaces, from the closest points of the distal capsules' axes; ``radius`` (15,) the finger
    capsule radii (FINGER_BONES order), ``inset`` (5,) the fingertip insets (``HandCapsules``). ``at_tip``:
    the points on the two tips' spheres that face each other (a pinch at the table, where only the tips
    reach down)."""
    samples = len(joints)
    t = np.ones((1, 1)) if at_tip else np.linspace(0.0, 1.0, 8)[:, None]
    bones = (2, 3 * finger + 2)  # distal segments
    starts, far = finger_axes(joints, radius, inset)
    ends = []
    for bone in bones:
        a, b = starts[:, bone], far[:, bone]
        ends.append(a[:, None] + t[None] * (b - a)[:, None])  # (K, len(t), 3)
    dist = np.linalg.norm(ends[0][:, :, None] - ends[1][:, None], axis=-1).reshape(samples, -1)  # (K, len(t)^2)
    flat = dist.argmin(axis=1)
    k = np.arange(samples)
    thumb, tip = ends[0][k, flat // len(t)], ends[1][k, flat % len(t)]
    u = (tip - thumb) / dist[k, flat][:, None]
    return thumb + radius[bones[0]] * u, tip - radius[bones[1]] * u


def _pinch_approaches(
    mesh: trimesh.Trimesh, n: int, table_height: float | None, rng: np.random.Generator, cfg: dict,
    pads: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tip_pads: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    grip: np.ndarray, axes: np.ndarray, tip_radii: np.ndarray,
    points: np.ndarray | None = None, normals: np.ndarray | None = None, direction: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Approach directions (m, 3), rolls (m,), aims (m, 3), pair widths (m,), opposing fingers
    (m,: indices into ``pads``) and whether each pinch is at the table (m,; its pads are ``tip_pads``),
    m <= n, that put a pinch across antipodal surface points (``_antipodal_pairs``).

    ``pads`` (one per opposing finger: index first, then middle) gives the thumb's and that
    finger's facing pad points (K, 3; ``_pad_path``) and the hand's joints (K, 21, 3) along the closing
    motion; a pair goes to the first finger whose pads open ``pinch_margin`` wider than it. For a
    pair of width w the hand is turned so that, at the closure where the pads are w apart, they
    lie on the pair's line with their midpoint on the pair's (``grip``, rest frame, is the point
    that ``_evaluate_family`` puts on the aim), raised if need be until every finger capsule keeps
    ``pinch_height`` above the table. The turn about the pair's line brings the palm over it from
    above (tilted up to ``pinch_tilt``), or near a requested ``direction``. A pair whose lower
    point is within the fingertips' reach of the table (a plate, a coin, a phone lying flat) is
    pinched the way people pick such a thing up: palm level above it, the two fingertips
    (``tip_pads``: the facing points of the tips' spheres) on its edges, each as low as its own table
    capsule allows (``tip_radii`` (5,), thumb first: the finger's lower than the thumb's). Pairs whose line
    passes near the centre of mass are drawn more often (a pinch beside it must resist the
    object's torque). ``points``/``normals``: a requested region's surface, else the whole surface
    is sampled. Pairs more than about ``pinch_depth`` below the object's top are drawn less often
    (a hand from above does not reach them).
    """
    if points is None:
        points, face = trimesh.sample.sample_surface(mesh, 6 * n, seed=int(rng.integers(2**31)))
        normals = mesh.face_normals[face]
    radius = float(np.max(tip_radii))
    p1, p2 = _antipodal_pairs(mesh, np.asarray(points), np.asarray(normals), cfg, table_height,
                              radius + cfg["pinch_height"])
    width = np.linalg.norm(p2 - p1, axis=1)
    sets = (pads, tip_pads)
    widest = np.array([[np.linalg.norm(tip - thumb, axis=1).max() for thumb, tip, _ in ps] for ps in sets])
    widest -= cfg["pinch_margin"]  # (2, fingers): rows the pads higher up, the tips at the table
    at_table = np.zeros(len(p1), dtype=int)
    if table_height is not None:
        at_table = (np.minimum(p1[:, 2], p2[:, 2]) < table_height + radius + cfg["pinch_height"]).astype(int)
    reach = width <= widest[at_table].max(axis=1)
    p1, p2, width, at_table = p1[reach], p2[reach], width[reach], at_table[reach]
    if len(p1) == 0:
        return np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=int), np.zeros(0, dtype=bool)
    d = (p2 - p1) / width[:, None]
    mid = 0.5 * (p1 + p2)
    com = centre_of_mass(mesh)
    beside = np.cross([0.0, 0.0, 1.0], d)  # horizontal normal of the vertical plane through the pair
    norm = np.linalg.norm(beside, axis=1)
    arm = np.where(norm > 1e-6, np.abs(np.einsum("nk,nk->n", com - mid, beside)) / np.maximum(norm, 1e-6), 0.0)
    depth = mesh.vertices[:, 2].max() - mid[:, 2]  # below the object's top: a hand from above reaches only so far
    weight = np.exp(-arm / 0.01 - depth / cfg["pinch_depth"])
    pick = rng.choice(len(p1), size=n, p=weight / weight.sum())
    d, mid, width, at_table = d[pick], mid[pick], width[pick], at_table[pick]
    d *= rng.choice([-1.0, 1.0], size=(n, 1))  # the thumb on either point
    finger = np.argmax(width[:, None] <= widest[at_table], axis=1)  # the first finger that spans the pair
    at_table = at_table.astype(bool)
    if table_height is not None:
        # at the table, each tip's sphere keeps its own table capsule's radius above it: an end of the pair that
        # lies lower is raised to that height, the finger's (slimmer than the thumb's) less, so that it meets an
        # edge lower down, more squarely
        ends = np.stack([mid - 0.5 * width[:, None] * d, mid + 0.5 * width[:, None] * d], axis=1)  # thumb, finger
        lowest = table_height + cfg["tip_clearance"] + np.stack([np.full(n, tip_radii[0]), tip_radii[finger + 1]], axis=1)
        ends[..., 2] = np.where(at_table[:, None], np.maximum(ends[..., 2], lowest), ends[..., 2])
        mid, d = ends.mean(axis=1), ends[:, 1] - ends[:, 0]
        d /= np.linalg.norm(d, axis=1, keepdims=True)
    thumb, tip, joints = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 21, 3))
    for s_i, ps in enumerate(sets):
        for f, (p_thumb, p_tip, p_joints) in enumerate(ps):
            on = (finger == f) & (at_table == s_i)
            gap = np.linalg.norm(p_tip - p_thumb, axis=1)
            k = np.clip(np.searchsorted(-gap, -width[on]), 0, len(gap) - 1)  # the gap shrinks as the hand closes
            thumb[on], tip[on], joints[on] = p_thumb[k], p_tip[k], p_joints[k]
    u = tip - thumb
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    palm = axes[2]
    w = palm - u * (u @ palm)[:, None]
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    # the world image of w (the palm's normal, made perpendicular to the pinch) points away from
    # the approach: up (or the request), made perpendicular to the pair and tilted about it
    up = np.tile([0.0, 0.0, 1.0], (n, 1)) if direction is None else _cone(direction, cfg["approach_cone"], n, rng)
    along = np.abs(np.einsum("nk,nk->n", up, d)) > 0.95
    up[along] = rng.normal(size=(int(along.sum()), 3))
    up -= d * np.einsum("nk,nk->n", up, d)[:, None]
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    rest = np.stack([u, w, np.cross(u, w)], axis=-1)
    skin = np.full(21, radius)  # how far the skin reaches out from each joint
    skin[list(TIPS)] = 0.0  # a fingertip joint lies at or just beyond the skin's tip
    centred = joints - 0.5 * (thumb + tip)[:, None]

    def turned(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The wrist rotations (n, 3, 3) with the palm tilted by t (n,) about the pair, and how far (n,) the
        skin then reaches below the pads' midpoint (negative: below it)."""
        tilted = np.cos(t)[:, None] * up + np.sin(t)[:, None] * np.cross(d, up)
        world = np.stack([d, -tilted, np.cross(d, -tilted)], axis=-1)  # columns: images of u, w, u x w
        R = world @ rest.transpose(0, 2, 1)
        return R, (np.einsum("nij,nkj->nki", R, centred)[..., 2] - skin).min(axis=1)

    t = np.zeros(n)
    if direction is None:
        t = rng.uniform(-cfg["pinch_tilt"], cfg["pinch_tilt"], n)
        if table_height is not None and at_table.any():
            # at the table: the tilt that keeps the other fingers highest above the pads
            grid = np.linspace(-cfg["pinch_tilt"], cfg["pinch_tilt"], 13)
            reach = np.stack([turned(np.full(n, g))[1] for g in grid], axis=1)
            t = np.where(at_table, grid[reach.argmax(axis=1)], t)
    R, low = turned(t)
    a = -R @ palm
    r, s = _roll_basis(a)
    fingers = R @ axes[0]
    roll = np.arctan2(np.einsum("nk,nk->n", fingers, s), np.einsum("nk,nk->n", fingers, r))
    if table_height is not None:  # the hand's lowest capsule keeps pinch_height above the table
        mid[:, 2] = np.maximum(mid[:, 2], table_height + cfg["pinch_height"] - low)
    aim = mid + np.einsum("nij,nj->ni", R, grip - 0.5 * (thumb + tip))
    keep = a[:, 2] > -0.25 if table_height is not None else np.ones(n, dtype=bool)
    if direction is not None:  # the palm is not square to the pinch: only pairs that let the hand come as asked
        keep &= a @ direction >= np.cos(cfg["approach_cone"])
    return a[keep], roll[keep], aim[keep], width[keep], finger[keep], at_table[keep]


def _straight(pose: np.ndarray, fingers: tuple[int, ...]) -> np.ndarray:
    """``pose`` (..., 45) with the joints of ``fingers`` (keypoint order: 0 thumb .. 4 little) zeroed: straight."""
    return finger_pose(pose, -np.asarray(pose, dtype=np.float64), np.isin(np.arange(5), fingers).astype(np.float64))


def _pinch_groups(hand, mesh, table_height, rng, cfg, pre, close, wide, capsules, table_capsules, n, region, region_normals,
                  wanted):
    """Pinch candidates (``_pinch_approaches``) grouped by the hand's opening: (pre-shape (45,),
    approaches, rolls, aims, fingers kept straight) per group. People open the hand only a little wider than the
    object (Jeannerod 1984): each candidate approaches with the most closed opening whose pads
    are still ``pinch_margin`` wider apart than the pair, so the open fingers do not sweep
    through the object. The thumb opposes the index, opened along ``pinch_openings`` (closures
    from ``pre`` towards ``close``), or for a pair too wide for it the middle finger, opened as
    far as ``wide`` (the power pre-shape: curled fingers put the tips, not the flat fingers, on
    a wide pair) and closing from there towards ``close``."""
    radius = capsules.radius[capsules.segment > 0]
    openings = np.asarray(cfg["pinch_openings"])
    paths = [(pre, openings, 1), (wide, openings[openings >= 0.0], 2)]
    closures = [np.linspace(steps[0], 1.0, 32) for _, steps, _ in paths]
    joints = [hand.finger_joints(finger_pose(start, close - start, np.repeat(c[:, None], 5, 1)))
              for (start, _, _), c in zip(paths, closures)]
    pads = [[(*_pad_path(j, radius, capsules.tip_inset, finger, at_tip), j) for (_, _, finger), j in zip(paths, joints)]
            for at_tip in (False, True)]
    closed = hand.finger_joints(close)
    a, roll, aim, width, finger, at_table = _pinch_approaches(
        mesh, n, table_height, rng, cfg, *pads, 0.5 * (closed[4] + closed[8]), hand.canonical_axes(close),
        table_capsules.tip_radii, region, region_normals, wanted)
    groups = []
    for at_tip, path_pads in zip((False, True), pads):
        for f, ((start, steps, opposing), closure, (thumb, tip, _)) in enumerate(zip(paths, closures, path_pads)):
            # a thumb-middle pinch at the table keeps the index straight: curled, it would land on the object between
            # the tips (the hand was turned and raised above for the curled index, which reaches lower)
            still = (1,) if at_tip and opposing == 2 else ()
            gap = np.interp(steps, closure, np.linalg.norm(tip - thumb, axis=1))
            level = (gap[None] >= width[:, None] + cfg["pinch_margin"]).sum(axis=1) - 1  # openings ascend, gaps shrink
            for i, opening in enumerate(steps):
                pick = (finger == f) & (level == i) & (at_table == at_tip)
                if pick.any():
                    groups.append((finger_pose(start, close - start, np.full(5, opening)), a[pick], roll[pick], aim[pick],
                                   still))
    return groups


def _rotations(approach: np.ndarray, roll: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Wrist rotations (N, 3, 3) turning the palm normal to -approach, fingers rolled by ``roll``."""
    r, s = _roll_basis(approach)
    finger = np.cos(roll)[:, None] * r + np.sin(roll)[:, None] * s
    palm = -approach
    basis = np.stack([finger, np.cross(palm, finger), palm], axis=-1)  # columns
    return basis @ axes  # axes rows: canonical finger, palm x finger, palm


def _crossing(g: np.ndarray, c: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """First closure where g (..., K) falls to ``level``, linearly interpolated; (closure, found)."""
    below = g <= level
    found = below.any(axis=-1)
    k = np.where(found, below.argmax(axis=-1), len(c) - 1)
    k0 = np.maximum(k - 1, 0)
    g0 = np.take_along_axis(g, k0[..., None], -1)[..., 0]
    g1 = np.take_along_axis(g, k[..., None], -1)[..., 0]
    frac = np.where(k > 0, np.clip((g0 - level) / np.maximum(g0 - g1, 1e-12), 0.0, 1.0), 0.0)
    return c[k0] + frac * (c[k] - c[k0]), found


def _object_axis(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre, longest principal direction and half length along it of the mesh."""
    verts = np.asarray(mesh.vertices)
    centre = (verts.min(axis=0) + verts.max(axis=0)) / 2.0
    _, _, vt = np.linalg.svd(verts - verts.mean(axis=0), full_matrices=False)
    proj = (verts - centre) @ vt[0]
    return centre, vt[0], float(proj.max() - proj.min()) / 2.0


def region_points(mesh: trimesh.Trimesh, region: str | tuple | None, rng: np.random.Generator,
                  count: int = 2000, radius: float = 0.03) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Surface points and their outward normals, (count, 3) each, of a requested region of
    ``mesh`` (same frame), or (None, None).

    A part name is looked up in ``mesh.metadata["parts"]`` (vertex masks that built-in objects
    carry); a point stands for the surface within ``radius`` of it.
    """
    if region is None:
        return None, None
    if isinstance(region, str):
        parts = mesh.metadata.get("parts", {})
        if region not in parts:
            known = f"its parts: {', '.join(parts)}" if parts else "only built-in objects have named parts"
            raise KeyframeError(f"region: the object has no part {region!r} ({known}); or give a point x,y,z")
        inside = np.asarray(parts[region])[mesh.faces].all(axis=1)
        points, face = trimesh.sample.sample_surface(mesh, count, face_weight=inside * mesh.area_faces,
                                                     seed=int(rng.integers(2**31)))
        return np.asarray(points), mesh.face_normals[face]
    points, face = trimesh.sample.sample_surface(mesh, 20 * count, seed=int(rng.integers(2**31)))
    near = np.linalg.norm(points - np.asarray(region), axis=1) <= radius
    if near.sum() < 3:
        raise KeyframeError(f"region: the point {list(region)} is more than {radius * 1000:.0f} mm from the object's surface")
    return np.asarray(points)[near][:count], mesh.face_normals[face[near]][:count]


def _evaluate_family(hand, mesh, sdf, capsules, table_capsules, table_height, cfg, family, pre, close, a, roll, aim, rng,
                     placed=False, still: tuple[int, ...] = ()):
    """Slide in and close ``family``'s hand on candidates (a, roll, aim); dict of per-candidate arrays
    (only those whose hand stopped outside the object), or None. ``placed``: the grip point is put
    on the aim itself (pinches across antipodal pairs), and a candidate is kept only if no part of
    the open hand is in the object or under the table. ``still``: fingers (keypoint order) that stay
    straight; the grip point and the hand's axes are still ``close``'s."""
    finger_radius = capsules.radius[capsules.segment > 0]  # FINGER_BONES order
    axes = hand.canonical_axes(close)
    pre, direction = _straight(pre, still), _straight(close - pre, still)
    R = _rotations(a, roll, axes)
    n = len(a)

    # --- slide the pre-shaped hand in along -a until first contact ----------------------------
    v_pre, j_pre = hand(np.zeros((2, 3)), np.stack([pre, close]), np.zeros((2, 3)))
    j_closed, v_pre, j_pre = j_pre[1], v_pre[0], j_pre[0]
    bone_of_vertex = _vertex_bones(v_pre, j_pre)
    n_palm = len(PALM_BONES) + len(PALM_WEB)
    passing = np.isin(bone_of_vertex - n_palm, _PASSING[family])
    stopper = ~passing
    if family == "power":
        grip = 0.25 * j_pre[0] + 0.75 * j_pre[[5, 9, 13, 17]].mean(axis=0)  # palm centre
    elif family == "precision":
        grip = 0.5 * (j_closed[4] + j_closed[8])  # where thumb and index tips meet
    else:
        grip = j_closed[9:13].mean(axis=0)  # inside the middle finger's hook
    standoff = cfg["clearance"] + rng.uniform(*_STANDOFF[family], n)
    keep_faces = stopper[hand.faces].all(axis=1)
    hand_mesh = trimesh.Trimesh(v_pre, hand.faces[keep_faces], process=False)
    obj_v = np.asarray(mesh.vertices)

    def stop_distance(a_i: np.ndarray, R_i: np.ndarray, transl0: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """How far (m,) the hands ``idx`` at ``transl0`` slide along -a before touching the object (less the
        standoff; stopped by the table too), inf where the object is not in the way."""
        verts0 = hand.posed_points(v_pre[stopper], R_i, transl0)
        m, num_v = len(idx), int(stopper.sum())
        s_hand = _ray_distances(mesh, verts0.reshape(-1, 3), np.repeat(-a_i, num_v, axis=0)).reshape(m, num_v).min(1)
        obj_in_hand = (obj_v[None] - hand.wrist - transl0[:, None]) @ R_i + hand.wrist
        dir_in_hand = np.einsum("nji,nj->ni", R_i, a_i)
        s_obj = _ray_distances(
            hand_mesh, obj_in_hand.reshape(-1, 3), np.repeat(dir_in_hand, len(obj_v), axis=0)
        ).reshape(m, len(obj_v)).min(1)
        s_stop = np.minimum(s_hand, s_obj)
        if table_height is not None:
            down = a_i[:, 2] > 1e-6
            s_table = np.where(down, (verts0[..., 2].min(1) - table_height) / np.where(down, a_i[:, 2], 1.0), np.inf)
            s_stop = np.where(np.isfinite(s_stop), np.minimum(s_stop, s_table), np.inf)
        return s_stop - standoff[idx]

    def slide(aim: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slide candidates ``idx`` in towards ``aim`` (m, 3) (a placed one is put on it): MANO translations at
        the stop (m, 3), the slide lengths (m,; inf: nothing was hit) and how far the stopped hand's skin
        reaches under the table (m,)."""
        a_i, R_i = a[idx], R[idx]
        transl0 = hand.transl_for(R_i, grip, aim + _SLIDE_START * a_i)
        s_stop = np.full(len(idx), _SLIDE_START) if placed else stop_distance(a_i, R_i, transl0, idx)
        transl = transl0 - a_i * np.where(np.isfinite(s_stop), s_stop, 0.0)[:, None]
        under = np.zeros(len(idx))
        if table_height is not None:
            lowest = ((v_pre - hand.wrist) @ R_i[:, 2].T).min(axis=0) + hand.wrist[2] + transl[:, 2]
            under = table_height - lowest
        return transl, s_stop, under

    every = np.arange(n)
    transl, s_stop, under = slide(aim, every)
    if table_height is not None and not placed:
        # a hand that stops partly under the table is slid in again on an aim raised by that much
        again = every[np.isfinite(s_stop) & (s_stop > 0) & (under > 0.0) & (under < _SLIDE_START)]
        if len(again):
            raised = aim[again] + [0.0, 0.0, 1.0] * (under[again] + cfg["table_margin"])[:, None]
            transl[again], s_stop[again], under[again] = slide(raised, again)
    hit = np.isfinite(s_stop)
    pass_world = hand.posed_points(v_pre[passing][::3], R, transl)
    clear = sdf.near(pass_world, _SIGN_ONLY).min(axis=1) > 0.0
    if placed:
        whole = hand.posed_points(v_pre[::3], R, transl)
        clear &= sdf.near(whole, _SIGN_ONLY).min(axis=1) > 0.0
    if table_height is not None:
        clear &= under < 0.0
    keep = hit & (s_stop > 0) & clear
    a, R, transl = a[keep], R[keep], transl[keep]
    n = len(a)
    if n == 0:
        return None

    # --- close each finger, segment by segment, until it touches -----------------------------
    # All joints of a finger close together; when a segment touches the object (or the table), it
    # and the joints before it stop there and the joints after it close on (GraspIt's auto-grasp).
    # A joint that closes to the end without touching takes the closing pose's angle (closure 1).
    c = np.linspace(0.0, cfg["max_closure"], cfg["closure_samples"])
    per_bone = 4
    radius = np.repeat(finger_radius, per_bone)
    table_radius = np.repeat(table_capsules.radius[table_capsules.segment > 0], per_bone)
    segment_of_point = np.arange(len(FINGER_BONES) * per_bone) // per_bone % 3
    finger_of_point = np.arange(len(FINGER_BONES) * per_bone) // (3 * per_bone)
    # the thumb's metacarpal lies in the palm's flesh: it never stops the thumb, nor counts as its contact
    counts = ~((finger_of_point == 0) & (segment_of_point == 0))
    closure = np.zeros((n, 5, 3))  # per finger joint, base to tip
    level = np.zeros((n, 5))  # where the still-closing joints of each finger are
    first_free = np.zeros((n, 5), dtype=int)  # joints from this one on still close
    contact = np.zeros((n, 5), dtype=bool)
    contact_pts = np.zeros((n, 5, 3))
    contact_bone = np.zeros((n, 5), dtype=int)
    slope = np.full((n, 5), 1e-3)
    joint = np.arange(3)
    for _ in range(3):
        free = joint >= first_free[..., None]  # (n, 5, 3)
        if not free.any():
            break
        trial = np.where(free[:, :, None], np.maximum(c[None, None, :, None], level[..., None, None]), closure[:, :, None])
        poses = finger_pose(pre, direction, trial.transpose(0, 2, 1, 3).reshape(n, len(c), 15))  # (n, K, 45)
        pts = _capsule_points(hand.finger_joints(poses).reshape(-1, 21, 3), finger_radius,
                              capsules.tip_inset).reshape(n, len(c), -1, 3)
        world = hand.posed_points(pts, R, transl)
        g_obj = sdf.near(world, _EXACT_WITHIN) - radius  # (n, K, P): exact near the object, only crossings matter
        g = np.minimum(g_obj, world[..., 2] - table_height - table_radius) if table_height is not None else g_obj
        moving = counts & (segment_of_point >= first_free[:, finger_of_point])  # (n, P)
        g = np.where(moving[:, None], g, 1.0)  # 1 m: never touches
        g_f = np.stack([g[..., finger_of_point == f].min(-1) for f in range(5)], axis=1)  # (n, 5, K)
        t_hit, touched = _crossing(g_f, c, 0.0)
        touched &= first_free < 3
        k_hit = np.clip(np.searchsorted(c, t_hit), 0, len(c) - 1)
        rows = np.arange(n)[:, None]
        at_hit = g[rows, k_hit]  # (n, 5, P)
        best = np.stack([np.argmin(np.where(finger_of_point == f, at_hit[:, f], np.inf), axis=-1) for f in range(5)], axis=1)
        hit_segment = segment_of_point[best]  # (n, 5)
        # where the touching segment meets the surface, between the samples around the crossing (not
        # the sample after it: through a wall thinner than a closing step, that one lies beyond the wall,
        # nearer its other face), and whether the object or the table stopped it there
        k_prev = np.maximum(k_hit - 1, 0)
        step = c[k_hit] - c[k_prev]
        frac = np.where(step > 0, np.clip((t_hit - c[k_prev]) / np.where(step > 0, step, 1.0), 0.0, 1.0), 0.0)
        meet = world[rows, k_prev, best] + frac[..., None] * (world[rows, k_hit, best] - world[rows, k_prev, best])
        on_object = np.ones((n, 5), dtype=bool)
        if table_height is not None:
            g_meet = sdf.near(meet, _EXACT_WITHIN) - radius[best]
            on_object = g_meet <= meet[..., 2] - table_height - table_radius[best] + 1e-9
        stop = touched[..., None] & free & (joint <= hit_segment[..., None])
        closure = np.where(stop, t_hit[..., None], closure)
        new_contact = touched & on_object
        contact |= new_contact
        contact_pts = np.where(new_contact[..., None], meet, contact_pts)
        contact_bone = np.where(new_contact, hit_segment, contact_bone)
        slope = np.where(touched, np.abs(np.diff(g_f, axis=-1)).max(-1) / (c[1] - c[0]), slope)
        rest = free & ~touched[..., None]  # closed to the end without touching: the closing pose
        closure = np.where(rest, 1.0, closure)
        level = np.where(touched, t_hit, level)
        first_free = np.where(touched, hit_segment + 1, 3)

    # --- contact normals, palm contact, balance, hook enclosure ------------------------------
    # the palm's skin, with the thenar eminence over the thumb's metacarpal (rigid: the fingers do not move it)
    palm_pts = hand.posed_points(v_pre[bone_of_vertex <= n_palm][::2], R, transl)
    d_palm = sdf.near(palm_pts, _EXACT_WITHIN)
    palm_idx = d_palm.argmin(axis=1)
    palm_contact = d_palm[np.arange(n), palm_idx] <= cfg["palm_contact"]
    probe = np.concatenate([contact_pts, palm_pts[np.arange(n), palm_idx][:, None]], axis=1)  # (n, 6, 3)
    dist, closest = sdf.closest(probe.reshape(-1, 3))
    normal = (probe.reshape(-1, 3) - closest) * np.sign(dist + 1e-12)[:, None]
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    normal = normal.reshape(n, 6, 3)
    if table_height is not None:  # the face the object rests on cannot be touched: a finger there is on the table
        below = (closest.reshape(n, 6, 3)[..., 2] < table_height + 1e-3) & (normal[..., 2] < -0.5)
        contact &= ~below[:, :5]
        palm_contact &= ~below[:, 5]
    used = np.concatenate([contact, palm_contact[:, None]], axis=1)
    count = used.sum(axis=1)
    # the thumb pushes as hard as the fingers it opposes together (its weight: their number)
    weight = used * np.concatenate([np.maximum(contact[:, 1:].sum(1, keepdims=True), 1), np.ones((n, 5))], axis=1)
    balance = np.linalg.norm((normal * weight[..., None]).sum(axis=1), axis=1) / np.maximum(weight.sum(1), 1)
    # opposition: how squarely another contact pushes against the thumb (1 = head-on)
    opposing = -np.einsum("nk,nck->nc", normal[:, 0], normal[:, 1:])
    opposition = np.where(used[:, 1:], opposing, -1.0).max(axis=1)
    # hook: the chord from each long finger's tip to its knuckle passes through a thin part
    closure = closure.reshape(n, 15)
    joints = hand.finger_joints(finger_pose(pre, direction, closure))
    joints = hand.posed_points(joints, R, transl)
    knuckle, tip = joints[:, [5, 9, 13, 17]], joints[:, [8, 12, 16, 20]]
    u = np.linspace(0.0, 1.0, 16)
    chord = knuckle[:, :, None] + u[None, None, :, None] * (tip - knuckle)[:, :, None]  # (n, 4, 16, 3)
    inside = sdf.near(chord.reshape(n, -1, 3), _SIGN_ONLY).reshape(n, 4, len(u)) < 0.0
    crossed = inside.sum(-1) * np.linalg.norm(tip - knuckle, axis=-1) / (len(u) - 1)
    enclosed = inside[..., 1:-1].any(-1) & ~inside[..., 0] & ~inside[..., -1] & (crossed <= cfg["max_hook_part"])

    base = contact[:, 0]  # the thumb touches (whether the contacts hold the object is ``wrench``'s)
    if family == "power":
        valid = base & (d_palm[np.arange(n), palm_idx] <= cfg["power_palm"]) & (contact[:, 1:].sum(1) >= 2)
        quality = 0.5 * count + opposition - 2.0 * balance
    elif family == "precision":
        tip_contact = contact & (contact_bone == 2)
        valid = base & ~palm_contact & tip_contact[:, 0] & (tip_contact[:, 1] | tip_contact[:, 2])
        quality = 0.5 * count + opposition - 2.0 * balance
    else:
        # a hook lifts by the part above its fingers: where they touch, the surface faces down or sideways
        under = normal[:, 1:5, 2] <= -cfg["hook_under"] if table_height is not None else True
        hooked = (contact[:, 1:] & enclosed & under).sum(1)
        valid = hooked >= 2
        quality = 0.5 * hooked
    return dict(
        a=a, R=R, transl=transl, closure=closure, slope=slope, contact=contact,
        palm_contact=palm_contact, balance=balance, valid=valid, quality=quality, used=used,
        points=closest.reshape(n, 6, 3),  # the object's surface points at the contacts
        normals=normal,  # (n, 6, 3) the object's outward normals there
        segment=contact_bone,  # (n, 5) the touching segment per finger
        error=finger_error(finger_pose(pre, direction, closure), close).mean(-1),
        pre=np.repeat(pre[None], n, 0), direction=np.repeat(direction[None], n, 0),
        family=np.full(n, FAMILIES.index(family)), pinch=np.full(n, placed), vertex_finger=np.repeat(
            np.where(bone_of_vertex < n_palm, -1, (bone_of_vertex - n_palm) // 3)[None], n, 0),
    )


def synthesize_grasps(
    hand: PosedHand,
    mesh: trimesh.Trimesh,
    table_height: float | None,
    preshape: np.ndarray,
    style: np.ndarray,
    rng: np.random.Generator,
    preferred: tuple[np.ndarray, ...] = (),
    request: GraspRequest | None = None,
    mass: float | None = None,
    sector: np.ndarray | None = None,
    body: trimesh.Trimesh | None = None,
    **overrides,
) -> list[Grasp]:
    """Ranked grasps of ``mesh`` (world frame, watertight or closed) by ``hand``; best first.

    Args:
        hand: the posed hand model (shape fixed).
        mesh: the object at its initial pose, in the world.
        table_height: z of the table top, or None.
        preshape, style: (45,) the approach pose and the grasp style pose (hT's fingers), used
            for the style's own family (``family_of_pose``); the others use ``family_poses``.
        rng: candidate sampler.
        preferred: wrist rotations (3, 3) the grasp should stay close to (h0's, hT's).
        request: approach, region (a point in ``mesh``'s frame, or a part name), roll, family.
        mass: the object's mass (kg) for ``max_grip_force``; None: ``max_support`` alone.
        sector: (3,) unit direction (object -> hand) the approaches favour when no approach is
            requested; None: a random one per call (so that seeds spread over the object).
        body: the object's main body (a drill's motor housing), in the world: without a region, the
            aims lie along its long axis instead of the whole object's, and the box-aligned approaches
            follow its box. None: the whole object.
        overrides: entries of ``DEFAULTS``.

    Returns:
        Up to ``num_keep`` grasps that pass their family's contact checks (may be empty).

    Raises:
        KeyframeError: a request that cannot be met by construction (an approach from below the
            table, an unknown part, a point off the object).
    """
    cfg = dict(DEFAULTS, **overrides)
    request = request or GraspRequest()
    n = cfg["num_candidates"] * (2 if request.region is not None else 1)  # a region is a small target
    sdf = ObjectSDF(mesh)
    capsules = HandCapsules.from_model(hand.model, hand.betas, percentile=cfg["radius_percentile"])
    table_capsules = HandCapsules.from_model(hand.model, hand.betas, percentile=cfg["table_percentile"])
    own = family_of_pose(style, hand.side)
    wanted = request.direction(hand.side)
    if wanted is not None and table_height is not None and wanted[2] <= -0.25:
        raise KeyframeError(f"approach: {list(np.round(wanted, 3))} comes from below the table")
    if request.family is not None:
        shares = {request.family: n}
        favoured = request.family
        random_sector = False
    else:
        others = [f for f in FAMILIES if f != own]
        favoured = [own, *others][rng.choice(3, p=[0.4, 0.3, 0.3])]
        shares = {f: n // 2 if f == favoured else n // 4 for f in FAMILIES}
        random_sector = wanted is None and sector is None
        if random_sector:
            sector = rng.normal(size=3)
            sector[2] = abs(sector[2])
            sector /= np.linalg.norm(sector)
    if wanted is not None:
        sector = None
    region, region_normals = region_points(mesh, request.region, rng)
    part_axis = None if region is None else np.linalg.svd(region - region.mean(axis=0), full_matrices=False)[2][0]
    aimed = mesh if body is None else body  # the aims lie along its long axis, the approaches follow its box
    centre, long_axis, half = _object_axis(aimed)

    # --- candidates per family: approach direction, roll, aim point, then slide and close -----
    def draw(sector: np.ndarray | None) -> list[dict]:
        """One round of candidates per family, approaches favouring ``sector`` (None: none)."""
        out = []
        for family, count in shares.items():
            if region is not None:
                pick = rng.integers(0, len(region), 8 * count)
                # aim at the region's middle along its long axis: a hand's breadth must fit on it
                along = (region[pick] - region.mean(axis=0)) @ part_axis
                aims, normals = region[pick] - 0.7 * along[:, None] * part_axis, region_normals[pick]
            else:
                aims = centre + rng.uniform(-cfg["aim_range"], cfg["aim_range"], 8 * count)[:, None] * half * long_axis
                normals = None
            a, roll, aim = _sample_approaches(
                aimed, count, table_height is not None, rng, cfg, aims, normals, wanted, request.roll, sector, part_axis
            )
            pre, close = (preshape, style) if family == own else family_poses(family, hand.side)
            drawn = _evaluate_family(hand, mesh, sdf, capsules, table_capsules, table_height, cfg, family, pre, close, a,
                                     roll, aim, rng)
            if drawn is not None:
                out.append(drawn)
        return out

    found = draw(sector)
    pinch_args = None
    if "precision" in shares and request.roll is None:
        pre, close = (preshape, style) if own == "precision" else family_poses("precision", hand.side)
        pinch_args = (pre, close, int(cfg["pinch_share"] * shares["precision"]))

    # --- rank -------------------------------------------------------------------------------
    limit = cfg["max_support"] if mass is None else max(cfg["max_support"], cfg["max_grip_force"] / (9.81 * mass))
    com = centre_of_mass(mesh)
    fallback = {}  # candidate -> support at ``fallback_mu``, for those that cannot hold at ``support_mu``

    def rank(cand: dict, known: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Order (best first, up to num_keep), support forces and scores of the candidates; ``known``: the
        supports of the first len(known) candidates, from an earlier call (inf where not checked)."""

        def force(i: int, mu: float) -> float:
            used = cand["used"][i]
            return support_force(cand["points"][i][used], cand["normals"][i][used], com, mu=mu,
                                 torsion=cfg["support_torsion"])

        valid = cand["valid"].copy()
        score = cand["quality"] + 0.3 * cand["palm_contact"] - cfg["finger_weight"] * cand["error"]
        if preferred:
            score -= 0.5 * np.mean([rotation_angle(cand["R"], p) for p in preferred], axis=0)
        if sector is not None:
            score -= cfg["sector_weight"] * np.arccos(np.clip(cand["a"] @ sector, -1.0, 1.0))
        score += cfg["family_bonus"] * (cand["family"] == FAMILIES.index(favoured))
        if region is not None:
            from scipy.spatial import cKDTree

            d_region = cKDTree(region).query(cand["points"].reshape(-1, 3))[0].reshape(len(valid), -1)
            on = (d_region <= cfg["region_reach"]) & cand["used"]
            valid &= (on.sum(1) >= 2) & (on.sum(1) >= cfg["region_share"] * cand["used"].sum(1) - 1e-9)
            score -= 20.0 * np.where(cand["used"], d_region, 0.0).sum(1) / np.maximum(cand["used"].sum(1), 1)
        best_first = np.array([i for i in np.argsort(-score, kind="stable") if valid[i]], dtype=int)
        group = 2 * cand["family"] + cand["pinch"]  # pinches on antipodal pairs are checked apart from the rest
        ranked = [int(i) for f in range(2 * len(FAMILIES)) for i in best_first[group[best_first] == f][: cfg["support_checked"]]]
        support = np.concatenate([known, np.full(len(valid) - len(known), np.inf)])
        for i in ranked:
            if i >= len(known):
                support[i] = force(i, cfg["support_mu"])
        # grasps that hold first, best adjusted score first; then the others, least force first (the
        # simulation judges them: a requested approach may allow no grasp that passes this check)
        held = sorted((i for i in ranked if support[i] <= limit), key=lambda i: -(score[i] - cfg["support_weight"] * support[i]))
        if len(held) < cfg["num_keep"]:  # the rest is used
            for i in ranked:
                if not np.isfinite(support[i]) and i not in fallback:
                    fallback[i] = force(i, cfg["fallback_mu"])
        rest = sorted((i for i in ranked if support[i] > limit), key=lambda i: (support[i], fallback.get(i, 0.0), -score[i]))
        return _distinct(cand, held + rest, cfg), support, score

    cand = _merged(found) if found else None
    order, support, score = rank(cand, np.zeros(0)) if found else ([], np.zeros(0), np.zeros(0))
    if pinch_args is not None and not any(support[i] <= limit for i in order):
        # nothing holds (a thin, curved or low object): pinches across antipodal pairs, on their own random stream
        pinch_rng = rng.spawn(1)[0]
        pre, close, count = pinch_args
        wide = hand_preset("preshape", hand.side)
        groups = _pinch_groups(hand, mesh, table_height, pinch_rng, cfg, pre, close, wide, capsules, table_capsules, count,
                               region, region_normals, wanted)
        for start, *placement, still in groups:
            out = _evaluate_family(hand, mesh, sdf, capsules, table_capsules, table_height, cfg, "precision", start, close,
                                   *placement, pinch_rng, placed=True, still=still)
            if out is not None:
                found.append(out)
        if found:
            known = support
            cand = _merged(found)
            order, support, score = rank(cand, known)
    if random_sector and found and not any(np.isfinite(support[i]) or np.isfinite(fallback.get(i, np.inf)) for i in order):
        # none could hold even at the simulator's friction: one more round, approaching from any side
        sector = None  # ``rank`` no longer favours the seed's sector either
        found += draw(None)
        cand = _merged(found)
        order, support, score = rank(cand, support)
    if not order:
        return []

    # --- refine on the skin: open fingers that sink too deep ----------------------------------
    idx = np.array(order)
    closure, slope = cand["closure"][idx], cand["slope"][idx]
    pre, direction, vertex_finger = cand["pre"][idx], cand["direction"][idx], cand["vertex_finger"][idx]
    go = matrix_to_axis_angle_np(cand["R"][idx])
    for _ in range(3):
        verts, _ = hand(go, finger_pose(pre, direction, closure), cand["transl"][idx])
        depth = np.maximum(-sdf.near(verts, _SIGN_ONLY), 0.0)  # (m, V): exact inside
        pen = np.stack([np.where(vertex_finger == f, depth, 0.0).max(1) for f in range(5)], axis=1)
        over = pen > cfg["max_penetration"]
        if not over.any():
            break
        back = np.repeat((pen - 0.5 * cfg["max_penetration"]) / np.maximum(slope, 1e-3), 3, axis=1)
        closure = np.where(np.repeat(over, 3, axis=1), np.maximum(closure - back, 0.0), closure)
    poses = finger_pose(pre, direction, closure)
    # a finger through a wall thinner than the skin-depth limit allows sinks into neither face deeper than that,
    # nor does one sunk past the wall's middle (its depth to the nearest face shrinks again)
    keep = ~_through_surface(hand, mesh, poses, cand["R"][idx], cand["transl"][idx], capsules)
    verts, _ = hand(go, poses, cand["transl"][idx])
    keep &= ~_past_wall_middle(sdf, verts, vertex_finger, cand["contact"][idx], cand["normals"][idx, :5])
    order, poses, pre = [i for i, k in zip(order, keep) if k], poses[keep], pre[keep]
    errors = finger_error(poses, style).mean(-1)
    return [
        Grasp(
            rotation=cand["R"][i], transl=cand["transl"][i], hand_pose=poses[j],
            preshape=pre[j],
            approach=cand["a"][i], family=FAMILIES[cand["family"][i]], finger_contact=cand["contact"][i],
            palm_contact=bool(cand["palm_contact"][i]), balance=float(cand["balance"][i]),
            finger_error=float(errors[j]), support=float(support[i]), score=float(score[i]),
            contact_points=cand["points"][i, :5], contact_normals=cand["normals"][i, :5],
            contact_segment=cand["segment"][i],
        )
        for j, i in enumerate(order)
    ]


def _through_surface(hand: PosedHand, mesh: trimesh.Trimesh, poses: np.ndarray, R: np.ndarray, transl: np.ndarray,
                     capsules: HandCapsules) -> np.ndarray:
    """(m,) whether a finger capsule's axis of the hands (poses (m, 45), wrist rotations (m, 3, 3), translations
    (m, 3)) crosses ``mesh``'s surface: the finger passes through the object (a thin wall between its skin's
    two sides)."""
    a, b = finger_axes(hand.finger_joints(poses), capsules.radius[capsules.segment > 0], capsules.tip_inset)
    a, b = hand.posed_points(a, R, transl), hand.posed_points(b, R, transl)  # (m, 15, 3)
    a, b = a[:, 1:].reshape(-1, 3), b[:, 1:].reshape(-1, 3)  # not the thumb's metacarpal (in the palm's flesh)
    length = np.linalg.norm(b - a, axis=1)
    crossed = _ray_distances(mesh, a, (b - a) / length[:, None]) < length
    return crossed.reshape(len(poses), -1).any(axis=1)


def _merged(found: list[dict]) -> dict:
    """The per-candidate arrays of several ``_evaluate_family`` results, in one dict (candidates in order)."""
    return {k: np.concatenate([f[k] for f in found]) for k in found[0]}


def _past_wall_middle(sdf: ObjectSDF, verts: np.ndarray, vertex_finger: np.ndarray, contact: np.ndarray,
                      normals: np.ndarray) -> np.ndarray:
    """(m,) whether a touching finger's skin (verts (m, V, 3), vertex_finger (m, V)) lies inside the object nearer the
    face opposite its contact (contact (m, 5), normals (m, 5, 3)): sunk past the middle of a thin wall, where the
    depth to the nearest face, which the skin-depth limit measures, shrinks again."""
    past = np.zeros(len(verts), dtype=bool)
    m, v = np.nonzero(sdf.near(verts, _SIGN_ONLY) < 0.0)
    finger = vertex_finger[m, v]
    touching = (finger >= 0) & contact[m, np.clip(finger, 0, 4)]
    m, v, finger = m[touching], v[touching], finger[touching]
    if len(m):
        _, closest = sdf.closest(verts[m, v])
        outward = closest - verts[m, v]  # from inside the wall to its nearest face
        facing = np.einsum("ij,ij->i", outward, normals[m, finger]) / np.maximum(np.linalg.norm(outward, axis=1), 1e-12)
        past[m[facing < -0.5]] = True
    return past


def _distinct(cand: dict, order: list[int], cfg: dict) -> list[int]:
    """The first ``num_keep`` candidates of ``order`` whose wrists are not all within ``distinct_shift`` and
    ``distinct_turn`` of an earlier kept one's with the same fingers touching (pinches drawn on the same
    antipodal pair are the same grasp: simulating it twice tells nothing new)."""
    kept: list[int] = []
    for i in order:
        if not any(np.array_equal(cand["used"][i], cand["used"][j])
                   and np.linalg.norm(cand["transl"][i] - cand["transl"][j]) <= cfg["distinct_shift"]
                   and rotation_angle(cand["R"][i], cand["R"][j]) <= cfg["distinct_turn"] for j in kept):
            kept.append(i)
            if len(kept) == cfg["num_keep"]:
                break
    return kept


def press_pose(hand: PosedHand, g: Grasp, direction: np.ndarray, depth, floor: float | None = None) -> np.ndarray:
    """(45,) the pose that moves each touching finger's contact ``depth`` (m, or (5,) per finger) into the object
    along its surface normal, squeezing without sliding: the damped least-squares solution (a Jacobian by finite
    differences of the contact's point on its segment's axis) over the finger's three joints' amounts along
    ``direction`` (45,) from ``g.hand_pose`` and, for the long fingers, the three axes of their knuckle. Flexion
    alone cannot press a contact on a finger's side: such a finger pressed 0.1-2 mm of the 6 asked and held
    nothing; the knuckle's abduction and twist, a few degrees, press it the full depth. The thumb presses by
    flexion alone: turned at its base too (up to 10 degrees), it turned pinched light objects (a banana, a torus)
    by more than 10 degrees before the grip. ``floor``: z of the object's lowest point (where it rests on the
    table); a contact less than ``_LOW_CONTACT`` above it is pressed level, without the normal's downward part,
    and not at all on a face looking up."""
    eps = 1e-3
    trial = np.zeros((31, 15))
    trial[np.arange(1, 16), np.arange(15)] = eps
    poses = finger_pose(g.hand_pose, direction, trial)
    for f, joints in enumerate(FINGER_POSE_JOINTS):  # rows 16 + 3 f ..: the knuckle's axes
        poses[16 + 3 * f + np.arange(3), 3 * joints[0] + np.arange(3)] += eps
    go = np.repeat(matrix_to_axis_angle_np(g.rotation)[None], len(poses), axis=0)
    _, joints = hand(go, poses, np.repeat(g.transl[None], len(poses), axis=0))
    pose = g.hand_pose.copy()
    amounts = np.zeros(15)
    depth = np.broadcast_to(depth, 5)
    for f in np.flatnonzero(g.finger_contact):
        start, end = FINGER_BONES[3 * f + int(g.contact_segment[f])]
        a, b = joints[:, start], joints[:, end]  # (31, 3)
        s = np.clip((g.contact_points[f] - a[0]) @ (b[0] - a[0]) / ((b[0] - a[0]) @ (b[0] - a[0])), 0.0, 1.0)
        point = a + s * (b - a)
        knuckle = FINGER_POSE_JOINTS[f][0] if f else None  # a long finger presses with its knuckle's axes too
        rows = np.r_[1 + 3 * f : 4 + 3 * f] if knuckle is None else np.r_[1 + 3 * f : 4 + 3 * f, 16 + 3 * f : 19 + 3 * f]
        J = (point[rows] - point[0]).T / eps  # (3, 3 or 6): m per unit amount or radian
        push = -g.contact_normals[f]
        if floor is not None and g.contact_points[f, 2] < floor + _LOW_CONTACT and push[2] < 0.0:
            push = push * [1.0, 1.0, 0.0]  # the table below: press level, or not at all on a top face
            if np.linalg.norm(push) < 0.3:
                continue
            push /= np.linalg.norm(push)
        x = J.T @ np.linalg.solve(J @ J.T + _PRESS_DAMPING * np.eye(3), depth[f] * push)
        amounts[3 * f : 3 * f + 3] = x[:3]
        if knuckle is not None:
            pose[3 * knuckle : 3 * knuckle + 3] += x[3:]
    return finger_pose(pose, direction, amounts)


def _vertex_bones(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V,) index of each vertex's nearest bone in PALM_BONES + PALM_WEB + FINGER_BONES."""
    bones = PALM_BONES + PALM_WEB + FINGER_BONES
    return segment_distance(vertices, joints[[p for p, _ in bones]], joints[[c for _, c in bones]]).argmin(axis=1)
