"""Stage I: simulated hand-object trajectories from keyframes h0, (mesh, o0), hT and an object goal.

The plan has phases over the clip (fractions of its duration, minimum-jerk timing each): reach
from h0 to a pre-grasp pose 8 cm out along the grasp's approach direction while the fingers
pre-shape (straight, or arcing over or round the object where a straight reach would pass through
it); approach along that line; close the fingers along the path grasp synthesis checked;
transport. Then, by goal (``ObjectGoal``): *lift* holds at hT's wrist pose; *tilt* also turns
the object about a horizontal axis through its centre; *place* carries the object to a pose on
the table, opens the fingers and withdraws the hand along the approach direction.

The plan only commands the simulation (``pam.pose.physics``): a joint-actuated hand whose
torque-limited fingers and force-limited wrist follow it, a free object and a solid table. The
saved sequence is the simulated hand and object, read back every frame. Grasp candidates
(``pam.pose.grasp``) are simulated best first; the generator's own acceptance (object not pushed
before the grip, carried without slip or turning, in contact while carried, the hand's surface
above the table, the arm able to follow) picks the first that passes. It never uses
``pam.pose.quality``, which grades the final sequences independently. Two hands may each hold
their own object, or both hold one (``generate_scene``; pairs of grasps, ``_Search.pair``).

Bad input: a hand or object keyframe below the table, a hand starting inside an object, a target
the wrist cannot reach in time, too few frames, or a degenerate mesh raise ``PoseError`` naming
the keyframe. Nothing is written here: saving is the caller's (``HOISequence.save`` is atomic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

import pam
from pam.pose import grasp as grasp_mod
from pam.pose import physics
from pam.pose.collision import closed_mesh, convex_parts
from pam.pose.hand_geometry import HandCapsules, PosedHand
from pam.pose.keyframes import HandKeyframe, ObjectGoal, default_camera, hand_preset
from pam.pose.sdf import ObjectSDF
from pam.pose.trajectory import (
    interpolate_positions,
    phase_progress,
    slerp_axis_angles,
    slerp_rotations,
)
from pam.pose.wrench import centre_of_mass, support_force
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack

#: Phase ends as fractions of the clip. lift/tilt: reach, approach, close, transport (then hold);
#: place: reach, approach, close, transport, release (then withdraw).
#: A place's reach has 30 % of the clip (26 % until session 21: a long reach round a tall bottle peaked at
#: 103 m/s^3 in 4 of 6 draws of the benchmark's bottle/place106), taken from the release and the withdrawal.
PHASES = {"lift": (0.32, 0.48, 0.62, 0.92), "tilt": (0.3, 0.44, 0.56, 0.92),
          "place": (0.3, 0.42, 0.54, 0.78, 0.87)}
APPROACH_DISTANCE = 0.08  # m from pre-grasp to grasp
MAX_WRIST_SPEED = 2.0  # m/s mean over a phase; faster targets are unreachable
MIN_FRAMES = 16
SUBSTEPS = 4  # plan samples per frame for the simulator
#: m the fingers touching the object (thumb .. little) are commanded past the surface, each
#: along its contact's normal (``grasp.press_pose``): the stiff servos then press up to the grip
#: effort's torque. The thumb, which opposes all the fingers, three times as far: a thumb that stops
#: short of the surface lets the fingers turn the hand away from the object. The fingers 4 mm (6 until
#: session 20, when their knuckles joined the press and they first reached the depth asked: 4 mm
#: gained 1 / 3 cases on the benchmark / held-out draws and sank the shown skin less).
PRESS_DEPTH = (0.012, 0.004, 0.004, 0.004, 0.004)
#: Grasp synthesis settings (``grasp.DEFAULTS``): fingers close with the simulator's skin capsules
#: (so the planned contacts are where the simulated fingers touch) and stop at the table where its
#: table capsules would; the hand stops 5 mm short.
GRASP_SETTINGS = dict(clearance=0.005, radius_percentile=physics.SKIN_PERCENTILE,
                      table_percentile=physics.TABLE_PERCENTILE)
#: ... and for each of two hands on one object: approaches from the hand's own side, ``PAIR_ELEVATION``
#: degrees up, weigh more, and more grasps are kept (the two hands must fit beside each other).
PAIR_GRASP_SETTINGS = dict(sector_weight=4.0, num_keep=30)
PAIR_ELEVATION = 30.0
#: Two hands on one object: the second hand's grasps tried beside each of the first hand's (those that
#: together need the least contact force first). On the benchmark's both-hands cases the partner found was the
#: first in 58 of 67 and never past the fourth; a first grasp none of 15 fit beside cost 15 plans each.
PAIR_PARTNERS = 5
#: Two hands on one object: the first hand's best grasps (by score) that are tried in the order of the least force
#: their best pair needs (the rest follow by score). By score alone, 6 of the benchmark's 18 both-hands cases passed
#: with their first pair, and 6 of 48 held-out ones (draws 4001-4003, 5001-5005); in this order 11 and 19 do.
PAIR_RANKED = 10
#: Two hands on one object press it between them with this many times the force that two opposed
#: friction contacts need to hold its weight (a margin like ``GRIP_SAFETY``'s).
PAIR_SQUEEZE = 3.0
#: Fraction of the closing phase spent bringing the fingers to the surface (the rest presses).
SURFACE = 0.65
#: Fraction of the finger torque limits used while the fingers move onto the surface.
GENTLE = 0.1
#: Grip force scaling (``grip_effort``): margin over the slip limit and the least effort.
GRIP_SAFETY = 6.0
GRIP_MIN = 0.7
#: m: a place goal's transport rises this high over the straight line from grasp to goal (a sine bump on z at its
#: middle), as a person carries an object over the table rather than pushing it along it.
PLACE_LIFT = 0.05
#: Fraction of the transport over which the arm takes on the object's expected weight.
LIFT_OFF = 0.3
#: Poses of the reach and approach checked (a fast reach sweeps far between samples), and the
#: least distance (m) from the planned skin to the object during the reach: in its fast part, more
#: than the simulated hand strays from the plan (a reach that touches the object knocks it over; the arm's
#: controller cuts the corner of a reach that bends round the object);
#: as it slows into the pre-grasp pose, at most 2 mm inside (every third skin vertex). The
#: approach line was checked by grasp synthesis, which slid the hand in along it.
REACH_SAMPLES = 40
REACH_CLEARANCE = 0.025
REACH_FAST = 0.8  # fraction of the reach held to REACH_CLEARANCE (the rest slows into the pre-grasp pose)
#: A hand that starts nearer the object than REACH_CLEARANCE gains it by the time the reach has covered this
#: fraction of its way (minimum-jerk progress; half way it moves fastest): the least gap asked grows linearly
#: with that progress from the starting gap less ``REACH_START_SLACK`` (fingers pre-shaping at rest may come
#: that much nearer; from rest the arm strays little from the plan).
REACH_LEAVE = 0.5
REACH_START_SLACK = 0.002
SLOW_CLEARANCE = -0.002
#: m: a straight reach that would pass through the object arcs over it, or else round its side, this far
#: past its top or its widest horizontal extent from its centre (round its side: or twice as far); when none of
#: those clears the object, arcs one and two ``REACH_ROUND`` higher, and round its side three times as far.
REACH_ROUND = 0.06
#: m: hand surface allowed below the table top (the capsules' contact softness).
TABLE_TOLERANCE = 0.002
#: m a convex object's horizontal sections may be wider (at their narrowest) than the open hand's span
#: before one hand is refused: fingertips pressed on its sides reach a little round them.
SPAN_MARGIN = 0.005

#: The generator's own acceptance of a simulated candidate (not the quality module's thresholds).
ACCEPT = dict(
    pregrasp_shift=0.01,  # m the object may move before the grip closes
    pregrasp_turn=10.0,  # degrees it may turn
    # when no candidate meets those, the least disturbing one within these is taken (meta says so)
    pregrasp_shift_fallback=0.02,
    pregrasp_turn_fallback=25.0,
    slip=0.01,  # m the object's centre may move in the wrist frame while carried
    turn=8.0,  # degrees it may turn in the hand while carried
    contact=0.95,  # fraction of carried frames with simulated hand-object contact
    tracking=0.02,  # m the simulated wrist may lag the plan
    place_error=0.02,  # m the placed object may end from its goal position
)


#: kg: masses of the built-in objects' YCB counterparts (Calli et al. 2015, the YCB object set);
#: a built-in's density is its mass over its volume. Other meshes get ``physics.DEFAULTS["density"]``.
BUILTIN_MASS = {"cracker_box": 0.411, "soup_can": 0.349, "bottle": 0.603, "bowl": 0.147, "mug": 0.118,
                "banana": 0.066, "drill": 0.895, "foam_brick": 0.059, "ball": 0.148}


class PoseError(ValueError):
    """Stage I cannot produce a trajectory for these inputs; the message says why."""


class NoGraspHeld(PoseError):
    """Valid inputs, but no grasp candidate of this seed passed in simulation."""


class NoGraspFound(PoseError):
    """Grasp synthesis found no grasp of the object (that meets the request) in this pose."""


@dataclass
class HandTask:
    """One hand's job: start h0, target hT (wrist pose or offset, grasp style) and the goal for
    object ``obj`` (an index into the scene's objects)."""

    h0: HandKeyframe
    hT: HandKeyframe
    obj: int = 0
    goal: ObjectGoal = field(default_factory=ObjectGoal)


@dataclass
class SceneObject:
    """An object: its reference (built-in name or path), mesh (object frame, metres), initial pose, scale."""

    ref: str
    mesh: trimesh.Trimesh
    pose: np.ndarray
    scale: float = 1.0


@dataclass
class _Prepared:
    """Per-object data shared by every candidate."""

    obj: SceneObject
    world: trimesh.Trimesh
    parts: list
    sdf: ObjectSDF
    centre: np.ndarray  # (3,) object-frame bounding box centre
    com: np.ndarray  # (3,) world centre of mass at the initial pose
    density: float | None  # kg/m^3, None for the simulator's default
    mass: float  # kg the hand expects (what it sees: the object's size and kind)
    body: trimesh.Trimesh | None  # world-frame convex part that is the object's main body (``main_body``), or None


@dataclass
class _Candidate:
    """A grasp with its plan: the simulator's commands and the phase ends (frames)."""

    grasp: grasp_mod.Grasp
    drive: physics.HandDrive
    nominal: np.ndarray  # (S, 45) the commanded fingers without the press past the surface
    phases: tuple
    grip_frame: int
    carry_end: int
    target_pose: np.ndarray  # (4, 4) the object pose the plan carries it to
    release: bool  # the hand lets go (place)


def _phase_frames(kind: str, frames: int) -> np.ndarray:
    return np.asarray(PHASES[kind]) * (frames - 1)


def _rigid(rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, pos
    return out


def _carry_target(hand: PosedHand, task: HandTask, g: grasp_mod.Grasp, prep: _Prepared,
                  object_end: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final wrist rotation (3, 3), wrist position (3,) and the object pose (4, 4) they carry it to;
    ``object_end`` (4, 4): that pose, given (the other hand's plan, both hands on one object)."""
    wg = hand.wrist + g.transl
    grasp_w = _rigid(g.rotation, wg)
    o0 = prep.obj.pose
    goal = task.goal
    if goal.kind == "place":
        object_end = _rigid(goal.rotation, goal.translation)
    if object_end is not None:
        wrist_end = object_end @ np.linalg.inv(o0) @ grasp_w
        return wrist_end[:3, :3], wrist_end[:3, 3], object_end
    hT = task.hT
    if hT.offset_from_grasp is not None:
        rot, pos = g.rotation, wg + hT.offset_from_grasp
    else:
        rot, pos = axis_angle_to_matrix_np(hT.global_orient), hand.wrist + hT.transl
    wrist_end = _rigid(rot, pos)
    obj_end = wrist_end @ np.linalg.inv(grasp_w) @ o0
    if goal.kind == "tilt":
        centre = obj_end[:3, :3] @ prep.centre + obj_end[:3, 3]
        turn = _rigid(Rotation.from_rotvec(goal.angle * goal.axis).as_matrix(), centre - Rotation.from_rotvec(
            goal.angle * goal.axis).as_matrix() @ centre)
        wrist_end, obj_end = turn @ wrist_end, turn @ obj_end
    return wrist_end[:3, :3], wrist_end[:3, 3], obj_end


def _away(start: np.ndarray, end: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(3,) the horizontal unit vector square to the line ``start`` -> ``end`` that points from ``centre``
    towards the line's midpoint (zero for a vertical line)."""
    along = (end - start) * [1.0, 1.0, 0.0]
    out = np.cross([0.0, 0.0, 1.0], along)
    norm = np.linalg.norm(out)
    if norm < 1e-9:
        return np.zeros(3)
    out /= norm
    return out if out @ (0.5 * (start + end) - centre) >= 0.0 else -out


def grip_effort(mass: float) -> float:
    """Fraction of the finger torque limits a hand grips an object of expected ``mass`` (kg) with.

    People scale grip force to the load they expect, with a safety margin over the slip limit
    (Johansson & Westling 1984): here ``GRIP_SAFETY`` times the normal force two opposing
    friction contacts need, ``m g / (2 mu)``, over the squeeze of two fingers at their torque
    limit with an 8 cm lever, at least ``GRIP_MIN``. The margin is large because real contacts
    are neither opposed head-on nor at the fingertips. An object much heavier than it looks slips.
    """
    mu = physics.DEFAULTS["friction"][0]
    full = 2.0 * physics.FINGER_TORQUE[0] / 0.08
    return float(np.clip(GRIP_SAFETY * mass * 9.81 / (2.0 * mu) / full, GRIP_MIN, 1.0))


def plan_motion(hand: PosedHand, task: HandTask, g: grasp_mod.Grasp, prep: _Prepared, times: np.ndarray,
                frames: int, arc: float = 0.0, up: float = 0.0, object_path: np.ndarray | None = None,
                share: float = 1.0, side: float = 0.0) -> _Candidate:
    """The simulator's commands at frame times ``times`` (S,) for a clip of ``frames`` frames.

    ``arc`` (m) lifts the reach's midpoint (a sine bump on z) to pass over the object; ``side`` (m)
    moves it sideways (a horizontal sine bump square to the reach, away from the object) to pass round it; ``up``
    tilts the approach line upwards (adds ``up`` to its direction's z before normalising), to
    keep a low pre-grasp pose above the table. ``object_path`` (S, 4, 4): the object's planned
    poses, given by the other hand's plan (``_object_path``) when both hold it: this hand's wrist
    moves rigidly with it while carrying. ``share``: of the object's weight this hand expects to carry.
    """
    kind = task.goal.kind
    ends = _phase_frames(kind, frames)
    reach, approach, close, transport = ends[:4]
    h0 = task.h0
    w0 = hand.wrist + h0.transl
    wg = hand.wrist + g.transl
    line = g.approach + np.array([0.0, 0.0, up])
    w_pre = wg + APPROACH_DISTANCE * line / np.linalg.norm(line)
    r0 = axis_angle_to_matrix_np(h0.global_orient)
    rot_end, wrist_end, obj_end = _carry_target(hand, task, g, prep, None if object_path is None else object_path[-1])
    s_reach = phase_progress(times, 0.0, reach)
    s_app = phase_progress(times, reach, approach)
    s_tr = phase_progress(times, close, transport)
    lift = np.outer(np.sin(np.pi * s_reach), arc * np.array([0.0, 0.0, 1.0]) + side * _away(w0, w_pre, prep.centre))
    wrist = np.where(
        (times <= reach)[:, None], interpolate_positions(w0, w_pre, s_reach) + lift,
        np.where((times <= close)[:, None], interpolate_positions(w_pre, wg, s_app),
                 interpolate_positions(wg, wrist_end, s_tr)),
    )
    rot = np.where(
        (times <= reach)[:, None, None], slerp_rotations(r0, g.rotation, s_reach),
        np.where((times <= close)[:, None, None], g.rotation, slerp_rotations(g.rotation, rot_end, s_tr)),
    )
    if object_path is not None:  # carried with the other hand: rigidly with the object
        held = object_path @ np.linalg.inv(prep.obj.pose) @ _rigid(g.rotation, wg)
        carrying = ((times > close) & (times <= transport))[:, None]
        wrist = np.where(carrying, held[:, :3, 3], wrist)
        rot = np.where(carrying[..., None], held[:, :3, :3], rot)
    grip = grasp_mod.press_pose(hand, g, task.hT.hand_pose - g.preshape, PRESS_DEPTH, prep.world.bounds[0, 2])
    # fingers close onto the surface, every joint in step along the path grasp synthesis closed them on
    # (proximal joints first, off that path, turned light objects more before the grip; docs/pose-history.md),
    # then press: the command moves past the surface only once every finger is on it, so no finger
    # shoves the object alone
    surface = approach + SURFACE * (close - approach)  # the frame the fingers reach the surface
    onto = phase_progress(times, approach, surface)[:, None]
    press = phase_progress(times, surface, close)[:, None]
    nominal = np.where((times <= reach)[:, None], slerp_axis_angles(h0.hand_pose, g.preshape, s_reach),
                       g.preshape + onto * (g.hand_pose - g.preshape))
    fingers = nominal + np.where((times <= reach)[:, None], 0.0, press * (grip - g.hand_pose))
    hold = grip_effort(prep.mass)
    effort = GENTLE + (hold - GENTLE) * press[:, 0]
    carry_end = frames - 1
    if kind == "place":  # carried over an arc, not slid across the table, then set down, released, withdrawn
        wrist = wrist + np.outer(np.sin(np.pi * s_tr), [0.0, 0.0, PLACE_LIFT])  # s_tr: 0 before the transport, 1 after
        release = ends[4]
        s_rel = phase_progress(times, transport, release)
        s_out = phase_progress(times, release, frames - 1)
        fingers = np.where((times > transport)[:, None], grip + s_rel[:, None] * (g.preshape - grip), fingers)
        nominal = np.where((times > transport)[:, None], g.hand_pose + s_rel[:, None] * (g.preshape - g.hand_pose), nominal)
        away = rot_end @ g.rotation.T @ g.approach  # the approach direction, carried with the object
        withdraw = APPROACH_DISTANCE * (away + np.array([0.0, 0.0, 1.0])) / np.linalg.norm(away + [0.0, 0.0, 1.0])
        wrist = np.where((times > release)[:, None], interpolate_positions(wrist_end, wrist_end + withdraw, s_out), wrist)
        effort = np.where(times > transport, GENTLE + (hold - GENTLE) * (1.0 - s_rel), effort)
        carry_end = int(np.floor(transport))
    # the arm takes the object's expected weight over the first third of the transport (lift-off)
    load = share * prep.mass * phase_progress(times, close, close + LIFT_OFF * (transport - close))
    if kind == "place":
        load = np.where(times > transport, share * prep.mass * (1.0 - s_rel), load)
    drive = physics.HandDrive(wrist=wrist, rotation=rot, hand_pose=fingers, effort=effort, load=load,
                              load_point=g.rotation.T @ (prep.com - wg))
    return _Candidate(g, drive, nominal, tuple(float(e) for e in ends), int(np.ceil(close)), carry_end, obj_end, kind == "place")


def _hand_below_table(hand: PosedHand, global_orient: np.ndarray, hand_pose: np.ndarray, transl: np.ndarray,
                      table_z: float) -> tuple[float, int]:
    """Deepest point (m, >= 0) of the posed hand surfaces (N poses) below the table, and at which pose."""
    verts, _ = hand(global_orient, hand_pose, transl)
    low = table_z - verts[..., 2].min(axis=1)
    return float(max(low.max(), 0.0)), int(low.argmax())


def _plan_params(hand: PosedHand, cand: _Candidate, idx: np.ndarray):
    """MANO parameters (global_orient, hand_pose, transl) of the planned hand at samples ``idx``."""
    d = cand.drive
    return Rotation.from_matrix(d.rotation[idx]).as_rotvec(), cand.nominal[idx], d.wrist[idx] - hand.wrist


def _narrowest_width(points: np.ndarray) -> float:
    """The least width (m) of 2-D points (N, 2) over all directions (attained square to an edge of their hull)."""
    from scipy.spatial import ConvexHull

    ring = points[ConvexHull(points).vertices]
    edges = np.roll(ring, -1, axis=0) - ring
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
    return float(np.ptp(ring @ normals.T, axis=0).min())


def _narrowest_section(mesh: trimesh.Trimesh) -> float:
    """The least width (m) of a convex ``mesh``'s horizontal sections between 10 and 90 % of its height:
    a section's least width is concave in its height, so the smaller of those two sections' is it."""
    lo, hi = mesh.bounds[:, 2]
    widths = []
    for z in (lo + 0.1 * (hi - lo), lo + 0.9 * (hi - lo)):
        section = mesh.section(plane_origin=(0.0, 0.0, z), plane_normal=(0.0, 0.0, 1.0))
        if section is not None and len(section.vertices) >= 3:
            widths.append(_narrowest_width(np.asarray(section.vertices)[:, :2]))
    return min(widths, default=0.0)


def _open_span(hand: PosedHand, side: str) -> float:
    """Thumb tip to little fingertip (m) of ``hand`` opened flat (the ``open`` preset)."""
    joints = hand.finger_joints(hand_preset("open", side)[None])[0]
    return float(np.linalg.norm(joints[4] - joints[20]))


def _check_task(hand: PosedHand, task: HandTask, name: str, preps: list[_Prepared], table_z: float, frames: int,
                fps: float, alone: bool = True) -> None:
    """Bad input and impossible tasks, before any grasp is searched (``alone``: the hand holds its object
    without the other hand's help)."""
    h0, hT = task.h0, task.hT
    if frames < MIN_FRAMES:
        raise PoseError(f"frames: need at least {MIN_FRAMES} frames for reach, grasp and transport, got {frames}")
    if not np.isfinite(fps) or fps <= 0:
        raise PoseError(f"fps: must be positive, got {fps}")
    if h0.global_orient is None or h0.transl is None:
        raise PoseError(f"{name}: the initial hand needs global_orient and transl")
    prep = preps[task.obj]
    # the box's own extents: the Box's ``extents`` are those of its axis-aligned bounds (larger when turned)
    extents = prep.world.bounding_box_oriented.primitive.extents
    ref = prep.obj.ref
    if extents.min() < 0.003:
        raise PoseError(f"{ref}: too thin to grasp (smallest extent {extents.min() * 1000:.1f} mm)")
    if extents.min() > 0.16:
        hint = "; if the mesh is in millimetres, pass --scale 0.001 (or 'scale' in the keyframe)" if extents.min() > 1.0 else ""
        raise PoseError(f"{ref}: too large for one hand (smallest extent {extents.min() * 100:.0f} cm){hint}")
    if alone and len(prep.parts) == 1:  # convex: a hand on the table holds it only across a horizontal section
        width, span = _narrowest_section(prep.world), _open_span(hand, h0.side)
        if width > span + SPAN_MARGIN:
            raise PoseError(
                f"{ref}: resting like this it is {width * 100:.1f} cm across at its narrowest, wider than the open "
                f"hand's span ({span * 100:.1f} cm, thumb tip to little fingertip), and a hand cannot reach under it: "
                "turn it onto a narrower side, or give it to both hands (one object, two hands: "
                "examples/pose_init_both_hands.json)")
    below, _ = _hand_below_table(hand, h0.global_orient[None], h0.hand_pose[None], h0.transl[None], table_z)
    if below > TABLE_TOLERANCE:
        raise PoseError(f"{name}: the initial hand is {below * 1000:.0f} mm below the table top (z = {table_z:.3f} m); "
                        "raise its transl")
    if hT.global_orient is not None and task.goal.kind != "place":
        below, _ = _hand_below_table(hand, hT.global_orient[None], hT.hand_pose[None], hT.transl[None], table_z)
        if below > TABLE_TOLERANCE:
            raise PoseError(f"{name} target: the target hand is {below * 1000:.0f} mm below the table top; raise its transl")
    verts, _ = hand(h0.global_orient[None], h0.hand_pose[None], h0.transl[None])
    for prep in preps:
        depth = -prep.sdf(verts[0]).min()
        if depth > 0.002:
            raise PoseError(f"{name}: the hand starts inside {prep.obj.ref} ({depth * 1000:.1f} mm deep); move it out")
    if task.goal.kind == "place":
        mesh = preps[task.obj].obj.mesh
        low = float((np.asarray(mesh.vertices) @ task.goal.rotation.T + task.goal.translation)[:, 2].min())
        if low < table_z - TABLE_TOLERANCE:
            raise PoseError(f"{name} goal: the placed object reaches {(table_z - low) * 1000:.0f} mm below the table top")


def _prepare(obj: SceneObject, parts: list | None = None) -> _Prepared:
    if obj.mesh.is_watertight and obj.mesh.volume < 0:  # inside out: every normal points in
        obj.mesh.invert()
    local = closed_mesh(obj.mesh, name=obj.ref)  # warns for meshes with holes
    world = local.copy()
    world.apply_transform(obj.pose)
    parts = convex_parts(local, name=obj.ref) if parts is None else parts
    mass = BUILTIN_MASS.get(obj.ref)
    volume = sum(p.volume for p in parts)  # the simulator's mass is over the convex parts
    density = mass / (volume / obj.scale**3) if mass is not None and volume > 0 else None  # density kept under scale
    mass = (density or physics.DEFAULTS["density"]) * volume
    body = main_body(parts)
    if body is not None:
        body = body.copy()
        body.apply_transform(obj.pose)
    return _Prepared(SceneObject(obj.ref, local, obj.pose, obj.scale), world, parts, ObjectSDF(world),
                     local.bounding_box.centroid, centre_of_mass(world), density, mass, body)


#: Share of an object's volume its largest convex part must hold to be its main body (``main_body``).
MAIN_BODY = (0.4, 0.9)


def main_body(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh | None:
    """The convex part that is the object's main body, or None: the largest part when it holds a share
    ``MAIN_BODY`` of the volume (a drill's motor housing: 54 %). Grasps are aimed along it: the whole
    object's long axis may run through none of it (a drill lying on its side: the axis crosses the
    empty corner between grip and housing). None for a convex object, one without a dominant part (a
    mug's 38 parts: 28 % at most; a bowl's, a banana's), and one that nearly is its largest part (a
    bottle's body: 97 %, aimed at as a whole)."""
    volumes = np.array([p.volume for p in parts])
    if len(parts) < 2 or not MAIN_BODY[0] <= volumes.max() / volumes.sum() <= MAIN_BODY[1]:
        return None
    return parts[int(volumes.argmax())]


def _pregrasp_disturbance(rot: np.ndarray, trans: np.ndarray, centre: np.ndarray, fallback: bool = False) -> str | None:
    """Why the object's poses (T, 3, 3), (T, 3) up to the grip moved too much, or None."""
    shift, turn = _disturbance(rot, trans, centre)
    suffix = "_fallback" if fallback else ""
    if shift > ACCEPT["pregrasp_shift" + suffix] or turn > ACCEPT["pregrasp_turn" + suffix]:
        return f"pushed the object {shift * 1000:.0f} mm / {turn:.0f} deg before the grip closed"
    return None


def _disturbance(rot: np.ndarray, trans: np.ndarray, centre: np.ndarray) -> tuple[float, float]:
    """Largest displacement (m) of the object's centre and rotation (degrees) over poses (T, 3, 3), (T, 3)."""
    c = rot @ centre + trans
    return float(np.linalg.norm(c - c[0], axis=1).max()), float(np.degrees(Rotation.from_matrix(rot @ rot[0].T).magnitude().max()))


def _in_hand_motion(rot: np.ndarray, trans: np.ndarray, wrist_rot: np.ndarray, wrist: np.ndarray,
                    centre: np.ndarray, grip: int) -> str | None:
    """Why the object (poses (T, 3, 3), (T, 3)) slipped or turned in the hand (wrist poses
    (T, 3, 3), (T, 3)) since frame ``grip`` beyond ``ACCEPT``, or None."""
    local = np.einsum("tji,tj->ti", wrist_rot, rot @ centre + trans - wrist)
    slip = np.linalg.norm(local[grip:] - local[grip], axis=1).max()
    in_hand = wrist_rot.transpose(0, 2, 1) @ rot
    spin = np.degrees(Rotation.from_matrix(in_hand[grip:] @ in_hand[grip].T).magnitude().max())
    if slip > ACCEPT["slip"] or spin > ACCEPT["turn"]:
        return f"the object slipped {slip * 1000:.0f} mm / turned {spin:.0f} deg in the hand"
    return None


def _assess(res: physics.SimResult, h: int, o: int, cand: _Candidate, prep: _Prepared, hand: PosedHand,
            table_z: float, frames: int) -> str | None:
    """Why the simulated candidate fails the generator's acceptance, or None."""
    grip, end = cand.grip_frame, cand.carry_end
    rot, trans = res.object_rotation[o], res.object_translation[o]
    pushed = _pregrasp_disturbance(rot[: grip + 1], trans[: grip + 1], prep.centre, fallback=True)
    if pushed is not None:
        return pushed
    wrist_rot = axis_angle_to_matrix_np(res.global_orient[h])
    carried = slice(grip, end + 1)
    moved = _in_hand_motion(rot[carried], trans[carried], wrist_rot[carried], res.wrist[h][carried], prep.centre, 0)
    if moved is not None:
        return f"{moved} (frame {grip}-{end})"
    touching = res.contact[h, o, carried].mean()
    if touching < ACCEPT["contact"]:
        return f"the hand touched the object in only {touching:.0%} of the carried frames"
    planned = cand.drive.wrist[:: SUBSTEPS]
    lag = np.linalg.norm(res.wrist[h] - planned, axis=1).max()
    if lag > ACCEPT["tracking"]:
        return f"the wrist could not follow the plan (off by {lag * 1000:.0f} mm; object {res.masses[o]:.2f} kg)"
    if cand.release:  # place: the object ends at its goal
        miss = np.linalg.norm(trans[-1] - cand.target_pose[:3, 3])
        if miss > ACCEPT["place_error"]:
            return f"the object was placed {miss * 1000:.0f} mm from its goal"
    below, frame = _hand_below_table(hand, res.global_orient[h], res.hand_pose[h], res.transl[h], table_z)
    if below > TABLE_TOLERANCE:
        return f"the hand surface went {below * 1000:.1f} mm below the table (frame {frame})"
    return None


def _asked(request: grasp_mod.GraspRequest | None) -> str:
    """The request's given fields as text ("approach side, roll -45 deg"); "" for none."""
    def text(key: str, value) -> str:
        if isinstance(value, str):
            return f"{key} {value}"
        if key == "roll":
            return f"roll {np.degrees(value):.0f} deg"
        return f"{key} ({', '.join(f'{x:.3g}' for x in np.atleast_1d(value))})"

    fields = request.as_dict() if request is not None else {}
    return ", ".join(text(k, v) for k, v in fields.items() if v is not None)


def _grasps(hand: PosedHand, task: HandTask, prep: _Prepared, table_z: float, rng: np.random.Generator, name: str,
            grasp_settings: dict | None, request=None, own_side: bool = False) -> list[grasp_mod.Grasp]:
    """The task's ranked grasps of its object (``grasp.synthesize_grasps``); ``NoGraspFound`` when there are none.
    ``own_side``: favour approaches from the side of the object the hand starts on (both hands on one object)."""
    preshape = hand_preset("preshape", task.h0.side)
    style = task.hT.hand_pose
    _, tips = hand(np.zeros((2, 3)), np.stack([preshape, style]), np.zeros((2, 3)))
    closing = np.mean(np.linalg.norm(tips[0, 8::4] - tips[0, :1], axis=1) - np.linalg.norm(tips[1, 8::4] - tips[1, :1], axis=1))
    if closing < 0.015:
        raise PoseError(
            f"{name} target hand_pose: it closes the fingertips by only {closing * 1000:.0f} mm from the open "
            "pre-shape, so it describes no grasp; use a closing pose such as 'power_grasp' or 'pinch'"
        )
    preferred = [axis_angle_to_matrix_np(task.h0.global_orient)]
    if task.hT.global_orient is not None:
        preferred.append(axis_angle_to_matrix_np(task.hT.global_orient))
    extra = {} if request is None else {"request": request.in_world(prep.obj.pose)}
    if own_side:
        side = hand.wrist + task.h0.transl - prep.com
        side[2] = 0.0
        up = np.radians(PAIR_ELEVATION)
        extra["sector"] = np.cos(up) * side / max(np.linalg.norm(side), 1e-9) + [0.0, 0.0, np.sin(up)]
    settings = dict(GRASP_SETTINGS, **(PAIR_GRASP_SETTINGS if own_side else {}), **(grasp_settings or {}))
    if prep.body is not None and not own_side:  # two hands on one object spread over all of it
        extra["body"] = prep.body
    grasps = grasp_mod.synthesize_grasps(hand, prep.world, table_z, preshape, style, rng, preferred=tuple(preferred),
                                         mass=prep.mass, **extra, **settings)
    # a small or awkward object (few candidates clear the table): draw twice as many once more; not for a
    # region, which already draws twice as many, aimed at it (on the benchmark a second draw found no grasp
    # for a region that the first found none for: a mug lying on its handle)
    if not grasps and (request is None or request.region is None):
        settings["num_candidates"] = 2 * settings.get("num_candidates", grasp_mod.DEFAULTS["num_candidates"])
        grasps = grasp_mod.synthesize_grasps(hand, prep.world, table_z, preshape, style, rng,
                                             preferred=tuple(preferred), mass=prep.mass, **extra, **settings)
    if not grasps:
        asked = _asked(request)
        hint = (f" that meets the request ({asked}): in this pose the requested part may face or touch the "
                "table; drop or change the request, or place the object differently") if asked else ""
        raise NoGraspFound(f"{prep.obj.ref}: no grasp found with the thumb and another finger or the palm opposing it{hint}")
    return grasps


def _plan(hand: PosedHand, task: HandTask, g: grasp_mod.Grasp, i: int, prep: _Prepared, table_z: float, frames: int,
          fps: float, name: str, object_path: np.ndarray | None = None,
          share: float = 1.0) -> tuple[_Candidate, str | None]:
    """The plan of grasp ``g`` (rank ``i``) and why it is not worth simulating (None: it is).

    The reach must pass the object and the table (it may arc over the object or come in on a
    raised approach line); ``object_path``: the object's planned poses (``plan_motion``).
    """
    times = np.arange((frames - 1) * SUBSTEPS + 1) / SUBSTEPS
    duration = (frames - 1) / fps
    check = np.linspace(0, len(times) - 1, 25).astype(int)
    cand = plan_motion(hand, task, g, prep, times, frames, object_path=object_path, share=share)
    reach, approach, close, transport = cand.phases[:4]
    wg = hand.wrist + g.transl
    speed = np.linalg.norm(cand.drive.wrist[-1 if len(cand.phases) == 4 else int(transport * SUBSTEPS)] - wg) / (
        duration * (transport - close) / (frames - 1))
    reach_speed = (np.linalg.norm(cand.drive.wrist[int(reach * SUBSTEPS)] - cand.drive.wrist[0])
                   / (duration * reach / (frames - 1)))
    if max(speed, reach_speed) > MAX_WRIST_SPEED:
        which = "the target" if speed >= reach_speed else "the object from the initial hand"
        raise PoseError(
            f"{name}: unreachable: reaching {which} needs a mean wrist speed of {max(speed, reach_speed):.1f} m/s "
            f"(limit {MAX_WRIST_SPEED} m/s); bring it closer or use more frames"
        )
    low = (np.asarray(prep.world.vertices) - prep.obj.pose[:3, 3]) @ prep.obj.pose[:3, :3]  # object frame
    end_low = (low @ cand.target_pose[:3, :3].T + cand.target_pose[:3, 3])[:, 2].min()
    if end_low < table_z - 0.005:
        return cand, f"candidate {i}: the target puts the object {100 * (table_z - end_low):.1f} cm into the table"
    path = np.linspace(0, int(approach * SUBSTEPS), REACH_SAMPLES).astype(int)  # reach and approach
    w0, w_pre = cand.drive.wrist[0], cand.drive.wrist[int(reach * SUBSTEPS)]
    top = float(prep.world.vertices[:, 2].max()) + REACH_ROUND
    arc_over = max(0.0, top - min(w0[2], w_pre[2]))
    # round the object: its widest horizontal reach from its centre, past the straight reach's midpoint
    offset = (prep.world.vertices - prep.centre)[:, :2]
    side_round = max(0.0, float(np.linalg.norm(offset, axis=1).max()) + REACH_ROUND
                     - float(_away(w0, w_pre, prep.centre) @ (0.5 * (w0 + w_pre) - prep.centre)))
    reason = None
    sides = sorted({0.0, side_round, side_round + REACH_ROUND})
    fast = path <= REACH_FAST * reach * SUBSTEPS
    slow = ~fast & (path <= reach * SUBSTEPS)  # the approach line itself is grasp synthesis's
    # the least gap asked of the fast reach: REACH_CLEARANCE, or for a hand that starts nearer, growing from
    # its starting gap (less REACH_START_SLACK) to REACH_CLEARANCE at REACH_LEAVE of the reach's progress
    far = REACH_CLEARANCE + REACH_START_SLACK  # a start this far or farther asks REACH_CLEARANCE throughout
    start_gap = prep.sdf.near(hand(*_plan_params(hand, cand, path[:1]))[0][0], far).min()
    start = min(start_gap, far) - REACH_START_SLACK
    leaving = np.minimum(phase_progress(path[fast] / SUBSTEPS, 0.0, reach) / REACH_LEAVE, 1.0)
    clearance = np.minimum(REACH_CLEARANCE, start + (REACH_CLEARANCE - start) * leaving)
    # then, when none of those clears, wider ones: arcs one and two REACH_ROUND higher, the side detour one wider
    wider = itertools.product((0.0, side_round + 2 * REACH_ROUND), (0.0, 0.5, 1.5),
                              (arc_over + REACH_ROUND, arc_over + 2 * REACH_ROUND))
    for side, up, arc in itertools.chain(itertools.product(sides, (0.0, 0.5, 1.5), (0.0, arc_over)), wider):
        cand = plan_motion(hand, task, g, prep, times, frames, arc, up, object_path, share, side)
        verts, _ = hand(*_plan_params(hand, cand, path))
        below = table_z - verts[..., 2].min()
        # exact distances are needed only below the clearances (``near`` bounds the rest, much faster)
        gap = prep.sdf.near(verts[fast].reshape(-1, 3), REACH_CLEARANCE).reshape(len(clearance), -1).min(axis=1)
        if (np.any(gap < clearance)
                or prep.sdf.near(verts[slow, ::3].reshape(-1, 3), abs(SLOW_CLEARANCE)).min(initial=np.inf)
                < SLOW_CLEARANCE):
            reason = reason or f"candidate {i}: the reach passes through the object"
        elif below > TABLE_TOLERANCE:
            reason = f"candidate {i}: the reach goes {below * 1000:.0f} mm below the table"
        else:
            reason = None
            break
    if reason is not None:
        return cand, reason
    below, k = _hand_below_table(hand, *_plan_params(hand, cand, check), table_z)
    if below > TABLE_TOLERANCE:
        return cand, (f"candidate {i}: the planned hand goes {below * 1000:.0f} mm below the table "
                      f"(frame {check[k] // SUBSTEPS})")
    return cand, None


def _candidates(hand: PosedHand, task: HandTask, prep: _Prepared, table_z: float, frames: int, fps: float,
                rng: np.random.Generator, name: str, grasp_settings: dict | None, request=None):
    """Yield (rank, candidate, reason) for the task's ranked grasps; reason is None for a plan worth simulating."""
    for i, g in enumerate(_grasps(hand, task, prep, table_z, rng, name, grasp_settings, request)):
        yield (i, *_plan(hand, task, g, i, prep, table_z, frames, fps, name))


#: m: the least distance between the two hands' skins when both hold one object (reach to carry).
HANDS_APART = 0.005


@dataclass
class _Search:
    """Simulates the ranked grasp candidates of the hands on one object until they pass ``_assess``."""

    hands: list
    tasks: list
    names: list
    prep: _Prepared
    rigs: list
    sim_object: physics.SimObject
    table_z: float
    frames: int
    fps: float
    rng: np.random.Generator
    grasp_settings: dict | None
    request: grasp_mod.GraspRequest | None
    max_attempts: int
    physics_settings: dict
    simulations: int = 0  # candidates (pairs) simulated so far

    def _simulate(self, group: list[int], cands: list[_Candidate]) -> tuple[physics.SimResult, str | None]:
        """Simulate the hands ``group`` with their candidates on the object; (result, why it fails or None)."""
        centre = self.prep.centre

        def failing(f, rot, trans, wrist_rot, wrist):  # stop as soon as a hand fails
            # called at every frame: the earlier frames have passed, so frame f against the reference suffices
            grip = max(c.grip_frame for c in cands)
            if f <= grip:
                return _pregrasp_disturbance(rot[0, [0, f]], trans[0, [0, f]], centre, fallback=True) is not None
            return any(c.grip_frame < f <= c.carry_end and _in_hand_motion(
                rot[0, [c.grip_frame, f]], trans[0, [c.grip_frame, f]], wrist_rot[k, [c.grip_frame, f]],
                wrist[k, [c.grip_frame, f]], centre, 0) is not None for k, c in enumerate(cands))

        res = physics.simulate([self.rigs[h] for h in group], [c.drive for c in cands], [self.sim_object], self.table_z,
                               self.fps, SUBSTEPS, monitor=failing, **self.physics_settings)
        reasons = [(h, _assess(res, k, 0, c, self.prep, self.hands[h], self.table_z, self.frames))
                   for k, (h, c) in enumerate(zip(group, cands))]
        failed = [r if len(group) == 1 else f"{self.names[h]}: {r}" for h, r in reasons if r is not None]
        return res, ", ".join(failed) or None

    def _run(self, group: list[int], plans) -> tuple[list, bool]:
        """Simulate ``plans`` (yielding (ranks, candidates, reason), one rank and candidate per hand of ``group``)
        until one passes: ((candidate, rank, result) per hand, whether it met only the fallback limits)."""
        best, reasons, unheld = None, [], True  # unheld: no simulated grasp passed grasp synthesis's hold check
        for ranks, cands, reason in plans:
            i = ranks[0]
            if reason is None:
                if self.simulations >= self.max_attempts:
                    break
                self.simulations += 1
                unheld &= all(np.isinf(c.grasp.support) for c in cands)
                res, reason = self._simulate(group, cands)
                if reason is None:
                    grip = max(c.grip_frame for c in cands) + 1
                    shift, turn = _disturbance(res.object_rotation[0, :grip], res.object_translation[0, :grip],
                                               self.prep.centre)
                    choice = [(c, rank, res) for c, rank in zip(cands, ranks)]
                    if shift <= ACCEPT["pregrasp_shift"] and turn <= ACCEPT["pregrasp_turn"]:
                        return choice, False
                    # passes only the fallback: keep the least disturbing one in case none does better
                    score = max(shift / ACCEPT["pregrasp_shift"], turn / ACCEPT["pregrasp_turn"])
                    if best is None or score < best[0]:
                        best = (score, choice)
                    reason = (f"pushed the object {shift * 1000:.0f} mm / {turn:.0f} deg before the grip closed "
                              "(kept as fallback)")
                reason = f"candidate {i}: {reason}"
            reasons.append(reason if len(self.tasks) == 1 else f"{self.names[group[0]]} {reason}")
        if best is not None:
            return best[1], True
        if reasons and all("into the table" in r for r in reasons):
            raise PoseError(f"{self.names[group[0]]}: unreachable target: {reasons[0].split(': ', 1)[1]}")
        hand = self.hands[group[0]]
        height = self.prep.world.bounds[1, 2] - self.table_z
        reach = HandCapsules.from_model(hand.model, hand.betas, percentile=physics.TABLE_PERCENTILE).tip_radii[0]
        asked = _asked(self.request)
        mu = dict(grasp_mod.DEFAULTS, **GRASP_SETTINGS, **(self.grasp_settings or {}))["support_mu"]
        if asked and unheld and self.simulations:  # every simulated grasp was one that cannot hold: the request's
            advice = (f"no grasp that meets the request ({asked}) balances the object's weight within friction cones "
                      f"(grasp synthesis's check, friction {mu:g}); change or drop its "
                      f"{', '.join(k for k, v in self.request.as_dict().items() if v is not None)}")
        elif height >= reach:
            advice = "try another seed"
        else:
            advice = (f"it stands {height * 1000:.0f} mm tall, less than the {reach * 1000:.1f} mm the thumb's tip keeps "
                      "above the table, so the fingertips can only press its upper edges; pam does not slide or tip an "
                      "object to get under it")
        raise NoGraspHeld(f"{self.prep.obj.ref}: no grasp passed in simulation ({'; '.join(reasons)}); {advice}")

    def single(self, h: int) -> tuple[list, bool]:
        """One hand on the object: its candidates, best first."""
        plans = (([i], [cand], reason) for i, cand, reason in _candidates(
            self.hands[h], self.tasks[h], self.prep, self.table_z, self.frames, self.fps, self.rng, self.names[h],
            self.grasp_settings, self.request))
        return self._run([h], plans)

    def pair(self, a: int, b: int) -> tuple[list, bool]:
        """Both hands on the object, each on its own side of it (of the vertical plane through the centre of
        mass square to the line between the hands' starts). The first hand's ``PAIR_RANKED`` best grasps (by their
        score: whether one hand alone could hold the object does not matter here) in the order of the least force
        their best pair needs, then the rest by score; each with the second hand's grasp that together with it needs
        the least contact force to hold the object (``wrench``), whose plan carries the object along with the first
        hand's and keeps the hands ``HANDS_APART``. A pair's rank (each hand's ``attempt`` in the sequence's meta)
        is its place in that order: the partner is chosen, not tried in turn."""
        cfg = dict(grasp_mod.DEFAULTS, **GRASP_SETTINGS, **(self.grasp_settings or {}))
        across = (self.hands[a].wrist + self.tasks[a].h0.transl) - (self.hands[b].wrist + self.tasks[b].h0.transl)
        across[2] = 0.0
        across /= max(np.linalg.norm(across), 1e-9)

        def contacts(g):
            return g.contact_points[g.finger_contact], g.contact_normals[g.finger_contact]

        def ranked(h: int, sign: float) -> list:
            grasps = _grasps(self.hands[h], self.tasks[h], self.prep, self.table_z, self.rng, self.names[h],
                             self.grasp_settings, self.request, own_side=True)
            mine = [g for g in grasps if sign * (contacts(g)[0].mean(axis=0) - self.prep.com) @ across > 0.0]
            if not mine:
                raise NoGraspHeld(f"{self.prep.obj.ref}: no grasp of {self.names[h]} on its own side of the object; "
                                  "try another seed or other start poses")
            return sorted(mine, key=lambda g: -g.score)

        first, second = ranked(a, 1.0), ranked(b, -1.0)
        second_skin = _grasp_skin(self.hands[b], second)  # (n, V, 3)
        second_contacts = [contacts(g) for g in second]

        def pair_force(g) -> tuple[np.ndarray, np.ndarray]:
            """The second hand's grasps clear of ``g`` (at the grasp) and the least force each pair needs."""
            gap = cKDTree(_grasp_skin(self.hands[a], [g])[0]).query(second_skin.reshape(-1, 3))[0]
            clear = np.flatnonzero(gap.reshape(len(second), -1).min(axis=1) >= HANDS_APART)
            pa, na = contacts(g)
            force = np.array([support_force(np.concatenate([pa, second_contacts[j][0]]),
                                            np.concatenate([na, second_contacts[j][1]]), self.prep.com,
                                            mu=cfg["support_mu"], torsion=cfg["support_torsion"]) for j in clear])
            return clear, force

        # what decides whether two hands hold the object is the pair, not the first hand's own grasp
        forces = [pair_force(g) for g in first[:PAIR_RANKED]]
        least = [f.min(initial=np.inf) for _, f in forces]
        order = sorted(range(len(forces)), key=lambda i: least[i]) + list(range(len(forces), len(first)))

        def plans():
            for k, i in enumerate(order):  # k: the pair's rank
                g = first[i]
                cand, reason = _plan(self.hands[a], self.tasks[a], g, k, self.prep, self.table_z, self.frames, self.fps,
                                     self.names[a], share=0.5)
                if reason is not None:
                    yield [k], [cand], reason
                    continue
                # the second hand's grasps clear of this one (at the grasp; ``_hands_apart`` checks the whole plan)
                clear, force = forces[i] if i < len(forces) else pair_force(g)
                pa = contacts(g)[0]
                path = _object_path(self.hands[a], cand, self.prep)
                partner = None
                for j in clear[np.argsort(force, kind="stable")][:PAIR_PARTNERS]:
                    other, why = _plan(self.hands[b], self.tasks[b], second[j], int(j), self.prep, self.table_z,
                                       self.frames, self.fps, self.names[b], path, 0.5)
                    if why is None and _hands_apart(self.hands[a], cand, self.hands[b], other):
                        partner = other
                        break
                if partner is None:
                    yield [k], [cand], (f"candidate {k}: none of {self.names[b]}'s {PAIR_PARTNERS} best-holding grasps "
                                        "fits beside it")
                else:
                    toward = second_contacts[j][0].mean(axis=0) - pa.mean(axis=0)  # from this hand to the other
                    toward /= max(np.linalg.norm(toward), 1e-9)
                    yield [k, k], [_pressing(cand, toward, path, self.prep),
                                   _pressing(partner, -toward, path, self.prep)], None

        return self._run([a, b], plans())


def _object_path(hand: PosedHand, cand: _Candidate, prep: _Prepared) -> np.ndarray:
    """(S, 4, 4) the object's poses that ``cand``'s plan carries it through (rigidly with the wrist from the grasp)."""
    g = cand.grasp
    wrist = np.repeat(np.eye(4)[None], len(cand.drive.wrist), axis=0)
    wrist[:, :3, :3], wrist[:, :3, 3] = cand.drive.rotation, cand.drive.wrist
    close, transport = cand.phases[2], cand.phases[3]
    t = np.minimum(np.arange(len(wrist)), int(np.floor(transport * SUBSTEPS)))  # put down (place) at the transport's end
    moved = wrist[t] @ np.linalg.inv(_rigid(g.rotation, hand.wrist + g.transl)) @ prep.obj.pose
    return np.where((t / SUBSTEPS > close)[:, None, None], moved, prep.obj.pose)


def _pressing(cand: _Candidate, direction: np.ndarray, path: np.ndarray, prep: _Prepared) -> _Candidate:
    """``cand`` whose arm presses the object towards the other hand (``direction`` (3,), at the grasp) with
    ``PAIR_SQUEEZE`` times the force two opposed friction contacts need to hold its weight, from when the
    fingers press until it is carried (and let go, for a place), turning with the object along ``path``."""
    times = np.arange(len(cand.drive.wrist)) / SUBSTEPS
    approach, close, transport = cand.phases[1:4]
    ramp = phase_progress(times, approach + SURFACE * (close - approach), close)
    if cand.release:
        ramp = np.where(times > transport, 1.0 - phase_progress(times, transport, cand.phases[4]), ramp)
    need = prep.mass * 9.81 / (2.0 * physics.DEFAULTS["friction"][0])
    turned = path[:, :3, :3] @ prep.obj.pose[:3, :3].T @ direction
    push = PAIR_SQUEEZE * need * ramp[:, None] * turned
    return replace(cand, drive=replace(cand.drive, push=push))


def _grasp_skin(hand: PosedHand, grasps: list) -> np.ndarray:
    """(n, V, 3) the hand's skin at each grasp's pose."""
    verts, _ = hand(np.stack([matrix_to_axis_angle_np(g.rotation) for g in grasps]),
                    np.stack([g.hand_pose for g in grasps]), np.stack([g.transl for g in grasps]))
    return verts


def _hands_apart(hand_a: PosedHand, cand_a: _Candidate, hand_b: PosedHand, cand_b: _Candidate,
                 samples: int = 25) -> bool:
    """Whether the two planned hands' skins stay ``HANDS_APART`` at ``samples`` poses over the clip."""
    idx = np.linspace(0, len(cand_a.drive.wrist) - 1, samples).astype(int)
    verts_a, _ = hand_a(*_plan_params(hand_a, cand_a, idx))
    verts_b, _ = hand_b(*_plan_params(hand_b, cand_b, idx))
    return all(cKDTree(va).query(vb, distance_upper_bound=HANDS_APART)[0].min() >= HANDS_APART
               for va, vb in zip(verts_a, verts_b))


def generate_scene(
    tasks: list[HandTask],
    objects: list[SceneObject],
    frames: int = 49,
    fps: float = 15.0,
    seed: int = 0,
    camera: Camera | None = None,
    hand_models: list | None = None,
    max_attempts: int = 10,
    table_z: float | None = None,
    grasp_settings: dict | None = None,
    physics_settings: dict | None = None,
    request=None,
) -> HOISequence:
    """One sequence of one or more hands, each grasping its own object or two holding one, simulated together.

    Both hands on one object (two tasks with its index): the first hand's target and goal move it;
    the second hand's target gives its grasp style only, and its wrist follows the object (see
    ``_Search.pair``).

    Args:
        tasks: one ``HandTask`` per hand (an object index each; at most two hands share one).
        objects: the scene's objects at their initial poses.
        frames, fps: clip length and rate.
        seed: grasp candidates are drawn from ``numpy.random.default_rng(seed)``.
        camera: the sequence's camera (default: ``keyframes.default_camera`` framing the motion).
        hand_models: one ``HandModel`` per task (default: ``pam.hand.load_hand_model``).
        max_attempts: grasp candidates (pairs, for two hands on one object) simulated at most per hand.
        table_z: world z of the table top (default: the lowest point of the objects).
        request: steers every hand's grasp (``grasp.GraspRequest``; a region is in its object's frame).

    Raises:
        PoseError: bad inputs (naming the keyframe); NoGraspHeld: no candidate passed.
    """
    from pam.hand import load_hand_model

    for h, t in enumerate(tasks):
        if not 0 <= t.obj < len(objects):
            raise PoseError(f"hand {h}: object index {t.obj} is out of range (there are {len(objects)} objects; "
                            "give both hands the same index to hold one object with both)")
    by_object: dict[int, list[int]] = {}
    for h, t in enumerate(tasks):
        by_object.setdefault(t.obj, []).append(h)
    for o, group in by_object.items():
        if len(group) > 2:
            raise PoseError(f"hands: {len(group)} hands on object {o}; at most two hands may hold one object")
        if len(group) == 2:  # the first hand's goal moves the object; the second hand carries it along
            first, second = (tasks[k] for k in group)
            if second.goal.to_json() not in (first.goal.to_json(), ObjectGoal().to_json()):
                raise PoseError(f"hand {group[1]}: both hands hold object {o}, so the first hand's goal moves it; "
                                "give the second hand the same goal or none")
            tasks = list(tasks)
            tasks[group[1]] = HandTask(second.h0, second.hT, o, first.goal)
    preps = []
    for i, obj in enumerate(objects):
        pose = np.asarray(obj.pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise PoseError(f"object {i} ({obj.ref}): expected a finite 4x4 pose, got shape {pose.shape}")
        preps.append(_prepare(SceneObject(obj.ref, obj.mesh.copy(), pose, obj.scale)))
    lows = [float(p.world.vertices[:, 2].min()) for p in preps]
    table_z = min(lows) if table_z is None else float(table_z)
    for i, low in enumerate(lows):
        where = f"object {i} ({objects[i].ref})" if len(objects) > 1 else f"object ({objects[i].ref})"
        if low < table_z - TABLE_TOLERANCE:
            raise PoseError(f"{where}: its initial pose puts it {(table_z - low) * 1000:.0f} mm below the table top")
        if low > table_z + 0.005:
            raise PoseError(f"{where}: its initial pose floats {(low - table_z) * 1000:.0f} mm above the table top")
    # objects not at rest (a curved one on its lowest point) rock into a resting pose first
    settled = physics.settle([physics.SimObject(p.parts, p.obj.pose[:3, :3], p.obj.pose[:3, 3], p.density) for p in preps],
                             table_z, **(physics_settings or {}))
    moved = []
    for i, (prep, rest) in enumerate(zip(preps, settled)):
        pose = _rigid(rest.rotation, rest.translation)
        moved.append(float(np.linalg.norm(pose[:3, 3] - prep.obj.pose[:3, 3])))
        preps[i] = _prepare(SceneObject(prep.obj.ref, prep.obj.mesh, pose, prep.obj.scale), parts=prep.parts)
    names = ["h0"] if len(tasks) == 1 else [f"hand {i}" for i in range(len(tasks))]
    models = hand_models or [load_hand_model(t.h0.model, side=t.h0.side) for t in tasks]
    hands = [PosedHand(m, t.h0.betas) for m, t in zip(models, tasks)]
    for hand, task, name in zip(hands, tasks, names):
        _check_task(hand, task, name, preps, table_z, frames, fps, alone=len(by_object[task.obj]) == 1)
    rigs = [physics.HandRig.from_model(h.model, h.betas) for h in hands]
    rng = np.random.default_rng(seed)
    sim_objects = [physics.SimObject(p.parts, p.obj.pose[:3, :3], p.obj.pose[:3, 3], p.density) for p in preps]
    chosen, fallback, simulations = [None] * len(tasks), [], [0] * len(tasks)
    for h in range(len(tasks)):
        group = by_object[tasks[h].obj]
        if h != group[0]:  # the second hand on an object was chosen with the first
            continue
        task, prep = tasks[h], preps[tasks[h].obj]
        search = _Search(hands, tasks, names, prep, rigs, sim_objects[task.obj], table_z, frames, fps, rng,
                         grasp_settings, request, max_attempts, physics_settings or {})
        found, is_fallback = search.single(h) if len(group) == 1 else search.pair(*group)
        for k, choice in zip(group, found):
            chosen[k], simulations[k] = choice, search.simulations
        fallback += group if is_fallback else []
    if len(by_object) == 1 and len(objects) == 1:  # one search simulated every hand and object together already
        res = chosen[0][2]
    else:  # all hands and objects together: the saved sequence is this joint simulation
        res = physics.simulate(rigs, [c.drive for c, _, _ in chosen], sim_objects, table_z, fps, SUBSTEPS,
                               **(physics_settings or {}))
        for h, (task, hand, name) in enumerate(zip(tasks, hands, names)):
            reason = _assess(res, h, task.obj, chosen[h][0], preps[task.obj], hand, table_z, frames)
            if reason is not None:
                raise NoGraspHeld(f"{name}: together with the other hand: {reason}; try another seed")
    seq = _sequence(tasks, objects, preps, chosen, res, hands, fps, camera, seed, table_z, frames)
    for per_hand, count in zip(seq.meta["pose"]["hands"], simulations):
        per_hand["simulations"] = count  # candidates simulated to find it (1: the first one simulated was kept)
    seq.meta["pose"]["settled_mm"] = [round(1000 * m, 2) for m in moved]
    seq.meta["pose"]["fallback_hands"] = fallback  # hands whose grasp met only the fallback pre-grasp limits
    seq.meta["pose"]["request"] = None if request is None else request.as_dict()
    return seq


def generate_trajectory(
    h0: HandKeyframe,
    obj: str | trimesh.Trimesh,
    o0: np.ndarray,
    hT: HandKeyframe,
    frames: int = 49,
    fps: float = 15.0,
    seed: int = 0,
    scale: float = 1.0,
    camera: Camera | None = None,
    hand_model=None,
    max_attempts: int = 10,
    goal: ObjectGoal | None = None,
    grasp_settings: dict | None = None,
    physics_settings: dict | None = None,
    request: grasp_mod.GraspRequest | None = None,
) -> HOISequence:
    """One hand grasping one object: ``generate_scene`` with a single task.

    Args:
        h0: initial hand (needs global_orient and transl); hT: target hand (wrist pose or
            ``offset_from_grasp``, and the grasp style ``hand_pose``).
        obj: a built-in object name or mesh path (or a mesh, then named "object").
        o0: (4, 4) initial object-to-world transform; the table top is at its lowest point.
        goal: what happens to the object (default: lift it to hT).
        scale: mesh units -> metres.
        request: steers the grasp (approach, region in the object's frame, roll, family).
        Others: as ``generate_scene``.
    """
    from pam.objects import load_object

    if isinstance(obj, trimesh.Trimesh):
        ref, mesh = "object", obj.copy()
    else:
        ref, mesh = str(obj), load_object(str(obj), scale=scale)
    task = HandTask(h0, hT, 0, goal or ObjectGoal())
    return generate_scene([task], [SceneObject(ref, mesh, o0, scale)], frames=frames, fps=fps, seed=seed,
                          camera=camera, hand_models=None if hand_model is None else [hand_model],
                          max_attempts=max_attempts, grasp_settings=grasp_settings, physics_settings=physics_settings,
                          request=request)


def _sequence(tasks, objects, preps, chosen, res, hands, fps, camera, seed, table_z, frames) -> HOISequence:
    from pam.objects import object_seg_id

    tracks = [
        HandTrack(global_orient=res.global_orient[h], hand_pose=res.hand_pose[h], transl=res.transl[h],
                  betas=t.h0.betas, side=t.h0.side, model=t.h0.model)
        for h, t in enumerate(tasks)
    ]
    objs = [
        ObjectTrack(mesh=o.ref, rotation=res.object_rotation[i], translation=res.object_translation[i], scale=o.scale,
                    seg_id=object_seg_id(o.ref))
        for i, o in enumerate(objects)
    ]
    if camera is None:
        points = [res.object_translation.reshape(-1, 3)]
        for hand, track in zip(hands, tracks):
            _, joints = hand(track.global_orient[[0, -1]], track.hand_pose[[0, -1]], track.transl[[0, -1]])
            points.append(joints.reshape(-1, 3))
        camera = default_camera(np.concatenate(points))
    per_hand = []
    for (cand, attempt, _), task in zip(chosen, tasks):
        g = cand.grasp
        names = ("reach_end", "approach_end", "close_end", "transport_end", "release_end")
        per_hand.append({
            "object": task.obj,
            "goal": task.goal.to_json(),
            "attempt": int(attempt),
            "grip_frame": cand.grip_frame,
            "carry_start": cand.grip_frame,
            "carry_end": cand.carry_end,
            "phases": dict(zip(names, cand.phases)),
            "family": g.family,
            "grasp": {
                "finger_contact": g.finger_contact.astype(int).tolist(),
                "palm_contact": g.palm_contact,
                "num_contacts": g.num_contacts,
                "balance": g.balance,
                "support_weights": g.support,
                "approach": g.approach.tolist(),
                "finger_error_rad": grasp_mod.finger_error_report(tracks[len(per_hand)].hand_pose[-1], task.hT.hand_pose),
            },
        })
    first = per_hand[0]
    meta = {
        "pose": {
            "generator": "pam.pose.generate",
            "simulated": True,
            # the same keyframes and seed give another trajectory with another simulator release
            "versions": {"pam": pam.__version__, "mujoco": physics.mujoco.__version__},
            "seed": int(seed),
            "table_z": float(table_z),
            "grip_frame": first["grip_frame"],
            "carry_start": first["carry_start"],
            "carry_end": first["carry_end"],
            "hold_start": first["grip_frame"],
            "attempt": first["attempt"],
            "family": first["family"],
            "phases": first["phases"],
            "grasp": first["grasp"],
            "goal": first["goal"],
            "object_mass_kg": [float(m) for m in res.masses],
            "hands": per_hand,
        }
    }
    return HOISequence(hands=tracks, objects=objs, camera=camera, fps=fps, meta=meta)
