"""Stage I benchmark graded only by the independent quality check (``pam.pose.quality``).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pose.py [--cases N | --quick] [--group G]
        [--workers 1] [--json bench.json] [--markdown bench.md]

130 cases (deterministic): the 9 built-in objects and 13 shapes made here (boxes of several
aspects, cylinders, a torus, a short pipe, thin plates, a capsule, a cone, irregular convex
hulls), each in 4 random placements (a random stable resting pose, yaw and position on the table)
with random hand starts around it and lift / lift-aside / absolute targets; plus approach and
region requests, place and tilt goals, two-hand cases (each hand its own object) and both hands
on one object (large or long objects, two of them made here). Each case is a plain ``Case``; one
adapter (``run_case``) turns it into a call of the installed ``pam.pose`` API, and a case whose
feature that API lacks is reported as ``unsupported`` (neither a success nor a failure).

Per case: the generator's wall time (one thread; convex decompositions are warmed before timing),
whether its first grasp candidate was the one kept, and every measure of ``pam.pose.quality``.
Summary: first-candidate and final success, median / worst-5 % / fraction within threshold of each
measure, seconds per trajectory (median, p95) beside this machine's ``reference_seconds``, and
PASS/FAIL against the issue's targets.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import platform
import re
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np
import trimesh

#: Shapes the benchmark makes (metres, resting on z = 0 when built): name -> builder.
MADE_SHAPES = {
    "box_cube": lambda: trimesh.creation.box([0.06, 0.06, 0.06]),
    "box_tall": lambda: trimesh.creation.box([0.045, 0.065, 0.15]),
    "box_flat": lambda: trimesh.creation.box([0.11, 0.075, 0.03]),
    "cylinder_short": lambda: trimesh.creation.cylinder(radius=0.035, height=0.06, sections=48),
    "cylinder_tall": lambda: trimesh.creation.cylinder(radius=0.024, height=0.16, sections=48),
    "torus": lambda: trimesh.creation.torus(major_radius=0.04, minor_radius=0.012),
    "pipe": lambda: trimesh.creation.annulus(r_min=0.024, r_max=0.036, height=0.05, sections=48),
    "plate_thin": lambda: trimesh.creation.box([0.12, 0.08, 0.006]),
    "disc_thin": lambda: trimesh.creation.cylinder(radius=0.045, height=0.008, sections=48),
    "capsule": lambda: trimesh.creation.capsule(height=0.07, radius=0.022),
    "cone": lambda: trimesh.creation.cone(radius=0.04, height=0.08, sections=48),
    "convex_a": lambda: _hull(0, (0.035, 0.03, 0.025)),
    "convex_b": lambda: _hull(1, (0.06, 0.025, 0.02)),
}
#: Long shapes made for two hands (the both_hands cases only): a 36 cm rod and a 30 cm square bar.
TWO_HAND_SHAPES = {
    "rod": lambda: trimesh.creation.cylinder(radius=0.02, height=0.36, sections=48),
    "bar": lambda: trimesh.creation.box([0.05, 0.05, 0.30]),
}


def _hull(seed: int, scale: tuple[float, float, float]) -> trimesh.Trimesh:
    """An irregular convex shape: the hull of 24 Gaussian points, scaled per axis."""
    return trimesh.convex.convex_hull(np.random.default_rng(seed).normal(size=(24, 3)) * scale)


@dataclass(frozen=True)
class Case:
    """One benchmark case, a plain spec (angles in radians, lengths in metres).

    Attributes:
        name: unique label; group: "lift", "request", "goal", "two_hands" or "both_hands".
        object: a built-in name or a ``MADE_SHAPES`` / ``TWO_HAND_SHAPES`` name; pose: stable resting pose index
            (0 = likeliest), yaw about z and (x, y) on the table.
        start: the hand start: yaw around the object from the default front start, distance and
            height of the wrist; target: "lift" (15 cm up), "aside" (``offset``) or "absolute" (the
            start orientation, 15 cm above the object and 10 cm towards the start).
        request: grasp request fields (``pam.pose.grasp.GraspRequest``: approach, region, roll, family).
        goal: {"kind": "place", "offset": (dx, dy), "yaw": a} or {"kind": "tilt", "angle": a}.
        second: a second object, grasped by a left hand (a two-hand case).
        both: a left hand, starting on the far side, holds the object too (both hands on one object).
    """

    name: str
    group: str
    object: str
    seed: int
    pose: int = 0
    yaw: float = 0.0
    xy: tuple[float, float] = (0.0, 0.0)
    start: tuple[float, float, float] = (0.0, 0.30, 0.12)
    target: str = "lift"
    offset: tuple[float, float, float] = (0.0, 0.0, 0.15)
    request: dict | None = None
    goal: dict | None = None
    second: str | None = None
    both: bool = False


#: The seed that draws the benchmark's placements, targets and goals (``--draw`` draws others).
DRAW = 2024


def make_cases(draw: int = DRAW) -> list[Case]:
    """The 130 cases, shuffled (fixed seed) so that any prefix mixes objects and groups. ``draw``: the seed
    of their placements, start poses, targets and goals; another draw is the same design, held out."""
    from pam.objects import BUILTIN_OBJECTS

    rng = np.random.default_rng(draw)
    objects = list(BUILTIN_OBJECTS) + list(MADE_SHAPES)

    def placed(name: str, **kw) -> dict:
        return dict(
            object=name, pose=int(rng.integers(0, 3)), yaw=float(rng.uniform(0, 2 * np.pi)),
            xy=tuple(float(v) for v in rng.uniform(-0.04, 0.04, 2)),
            start=(float(rng.uniform(-1.75, 1.75)), float(rng.uniform(0.25, 0.35)), float(rng.uniform(0.08, 0.2))),
            **kw,
        )

    cases = []
    for name in objects:
        for i, target in enumerate(("lift", "aside", "absolute", "lift")):
            offset = (float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, 0.12)), float(rng.uniform(0.12, 0.2)))
            cases.append(Case(name=f"{name}/{target}{i}", group="lift", seed=len(cases), target=target,
                              offset=offset if target == "aside" else (0.0, 0.0, 0.15), **placed(name)))
    requests = [
        ("soup_can", {"approach": "top"}), ("soup_can", {"approach": "side"}), ("cracker_box", {"approach": "front"}),
        ("bottle", {"approach": "side"}), ("bottle", {"approach": "top", "family": "precision"}),
        ("mug", {"region": "handle", "family": "hook"}), ("mug", {"region": "handle"}), ("mug", {"approach": "top"}),
        ("drill", {"region": "handle"}), ("foam_brick", {"approach": "top", "roll": np.pi / 4}),
        ("box_cube", {"approach": "side", "roll": -np.pi / 4}),
        ("cylinder_tall", {"approach": "side", "family": "power"}),
        ("banana", {"approach": "top", "family": "precision"}), ("ball", {"approach": "front"}),
        ("box_flat", {"approach": (0.0, -0.5, 0.866)}),
        ("torus", {"region": (0.04, 0.0, 0.012), "family": "precision"}),
    ]
    for name, request in requests:
        cases.append(Case(name=f"{name}/request{len(cases)}", group="request", seed=len(cases), request=request,
                          **placed(name)))
    goals = [("place", n) for n in ("soup_can", "mug", "bottle", "foam_brick", "box_cube", "cylinder_short")]
    goals += [("tilt", n) for n in ("bottle", "mug", "soup_can", "cylinder_tall", "bowl", "box_tall")]
    for kind, name in goals:
        if kind == "place":
            goal = {"kind": "place", "offset": tuple(float(v) for v in rng.uniform(-0.15, 0.15, 2)),
                    "yaw": float(rng.uniform(-np.pi / 2, np.pi / 2))}
        else:
            goal = {"kind": "tilt", "angle": float(rng.uniform(np.pi / 3, 2 * np.pi / 3))}
        cases.append(Case(name=f"{name}/{kind}{len(cases)}", group="goal", seed=len(cases), goal=goal, **placed(name)))
    pairs = [("soup_can", "foam_brick"), ("mug", "bottle"), ("ball", "box_cube"), ("banana", "cylinder_short"),
             ("cracker_box", "capsule"), ("bowl", "soup_can"), ("drill", "convex_a"), ("torus", "cone")]
    for first, second in pairs:
        cases.append(Case(name=f"{first}+{second}/two{len(cases)}", group="two_hands", seed=len(cases), second=second,
                          **placed(first)))
    for name in ("bowl", "cracker_box", "drill", "box_tall", "rod", "bar"):
        cases.append(Case(name=f"{name}/both{len(cases)}", group="both_hands", seed=len(cases), both=True,
                          **placed(name)))
    order = np.random.default_rng(7).permutation(len(cases))
    return [cases[i] for i in order]


# --- the adapter: a Case -> a call of the installed pam.pose API --------------------------------


class Unsupported(Exception):
    """The installed ``pam.pose`` has no API for this case's feature."""


@functools.lru_cache(maxsize=None)
def object_mesh(name: str) -> trimesh.Trimesh:
    """The object mesh in its own frame (metres)."""
    from pam.objects import BUILTIN_OBJECTS, load_object

    return load_object(name) if name in BUILTIN_OBJECTS else {**MADE_SHAPES, **TWO_HAND_SHAPES}[name]()


@functools.lru_cache(maxsize=None)
def resting_poses(name: str) -> tuple[np.ndarray, ...]:
    """Stable resting transforms (4, 4) of an object on z = 0, likeliest first (at most 3, each
    with probability >= 5 %, else the likeliest one), centred over the origin."""
    mesh = object_mesh(name)
    transforms, probs = trimesh.poses.compute_stable_poses(mesh, n_samples=1)
    # not the mesh's own frame when no pose is likely: a capsule's stands it on its round end
    kept = [t for t, p in zip(transforms, probs) if p >= 0.05][:3] or [transforms[0]]
    out = []
    for t in kept:
        moved = trimesh.transform_points(mesh.vertices, t)
        lo, hi = moved.min(axis=0), moved.max(axis=0)
        shift = np.eye(4)
        shift[:3, 3] = [-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]]
        out.append(shift @ t)
    return tuple(out)


#: m: a requested part whose surface comes this close to the table rests on it.
PART_CLEARANCE = 1e-4


@functools.lru_cache(maxsize=None)
def clear_of_table(name: str, part: str) -> tuple[bool, ...]:
    """Per resting pose of ``resting_poses(name)``: whether the named part stays off the table (its surface,
    as ``grasp.region_points`` samples it, at least ``PART_CLEARANCE`` above it). A mug lying on its
    handle is not."""
    from pam.pose.grasp import region_points

    points, _ = region_points(object_mesh(name), part, np.random.default_rng(0))
    lowest = [trimesh.transform_points(points, pose)[:, 2].min() for pose in resting_poses(name)]
    return tuple(bool(z >= PART_CLEARANCE) for z in lowest)


def object_pose(case: Case, name: str | None = None, at: tuple[float, float] | None = None) -> np.ndarray:
    """o0 (4, 4): the case's resting pose, turned by its yaw and moved to its (x, y). A case that requests a
    named part draws among the poses in which the part does not rest on the table (a request the generator
    must refuse tests its errors, which the unit tests do, not its steering)."""
    poses = resting_poses(name or case.object)
    part = (case.request or {}).get("region")
    if isinstance(part, str) and name is None:
        clear = [p for p, ok in zip(poses, clear_of_table(case.object, part)) if ok]
        poses = clear or poses
    place = np.eye(4)
    c, s = np.cos(case.yaw), np.sin(case.yaw)
    place[:2, :2] = [[c, -s], [s, c]]
    place[:2, 3] = case.xy if at is None else at
    return place @ poses[case.pose % len(poses)]


def start_hand(case: Case, centre: np.ndarray, hand_model, side: str = "right", clear_of: tuple = ()):
    """h0: the default palm-down start at the case's distance and height, turned about the
    vertical through the object's centre by the case's start yaw; moved back 2 cm at a time
    while its skin is more than 2 mm inside one of the meshes ``clear_of`` (world frame): a long
    object can reach the drawn start, and a hand inside it is bad input, not a test."""
    from pam.pose.hand_geometry import PosedHand
    from pam.pose.keyframes import default_keyframes
    from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

    h0 = default_keyframes(case.object, side=side)[0]
    yaw, distance, height = case.start
    posed = PosedHand(hand_model)
    rz = axis_angle_to_matrix_np(np.array([0.0, 0.0, yaw]))
    pivot = np.array([centre[0], centre[1], 0.0])
    h0.global_orient = matrix_to_axis_angle_np(rz @ axis_angle_to_matrix_np(h0.global_orient))
    for step in range(11):
        wrist = np.array([centre[0], centre[1] - distance - 0.02 * step, height])
        h0.transl = rz @ (wrist - pivot) + pivot - posed.wrist  # transl moves the wrist joint from its rest place
        skin = posed(h0.global_orient[None], h0.hand_pose[None], h0.transl[None])[0][0]
        if all(trimesh.proximity.signed_distance(m, skin).max() <= 0.002 for m in clear_of):
            break
    return h0


def target_hand(case: Case, h0, centre: np.ndarray, hand_model):
    """hT: a power grasp lifted 15 cm, moved by the case's offset, or an absolute wrist pose."""
    from pam.pose.hand_geometry import PosedHand
    from pam.pose.keyframes import HandKeyframe, hand_preset

    style = hand_preset("power_grasp", h0.side)
    if case.target in ("lift", "aside"):
        return HandKeyframe(hand_pose=style, side=h0.side, offset_from_grasp=np.asarray(case.offset))
    j0 = PosedHand(hand_model).wrist  # the wrist joint at rest
    towards = h0.transl + j0 - centre
    towards[2] = 0.0
    wrist = centre + 0.10 * towards / np.linalg.norm(towards) + [0.0, 0.0, 0.15]
    return HandKeyframe(hand_pose=style, side=h0.side, global_orient=h0.global_orient.copy(), transl=wrist - j0)


def _object_goal(case: Case, o0: np.ndarray):
    """The case's goal as ``pam.pose.keyframes.ObjectGoal``: place = turned by ``yaw`` and moved by
    ``offset`` on the table; tilt = turned by ``angle`` about the world x axis."""
    from pam.pose.keyframes import ObjectGoal
    from pam.rotations import axis_angle_to_matrix_np

    if case.goal["kind"] == "place":
        turn = axis_angle_to_matrix_np(np.array([0.0, 0.0, case.goal["yaw"]]))
        return ObjectGoal(kind="place", rotation=turn @ o0[:3, :3],
                          translation=o0[:3, 3] + [*case.goal["offset"], 0.0])
    return ObjectGoal(kind="tilt", axis=np.array([1.0, 0.0, 0.0]), angle=case.goal["angle"])


def _check_api(case: Case) -> None:
    """Raise ``Unsupported`` if the installed ``pam.pose`` lacks the case's feature."""
    from pam.pose import generate, grasp, keyframes

    params = inspect.signature(generate.generate_trajectory).parameters
    if case.request is not None and not (hasattr(grasp, "GraspRequest") and "request" in params):
        raise Unsupported("grasp requests: no pam.pose.grasp.GraspRequest / generate_trajectory(request=)")
    if case.goal is not None and not (hasattr(keyframes, "ObjectGoal") and "goal" in params):
        raise Unsupported(f"{case.goal['kind']} goals: no pam.pose.keyframes.ObjectGoal / generate_trajectory(goal=)")
    two_hands = case.second is not None or case.both
    if two_hands and not all(hasattr(generate, n) for n in ("generate_scene", "HandTask", "SceneObject")):
        raise Unsupported("two-hand sequences: no pam.pose.generate.generate_scene / HandTask / SceneObject")


def prepare(case: Case):
    """The case as a call of the installed API: (generate() -> HOISequence, meshes, hand models).

    Raises ``Unsupported`` (before anything is timed) if the API lacks the case's feature.
    """
    from pam.pose import generate, grasp

    _check_api(case)
    if case.second:  # two hands: each starts on the outer side of its own object (yaw > 0 turns to +x)
        case = replace(case, start=(abs(case.start[0]), *case.start[1:]))
    if case.both:  # both hands on one object: the right hand starts on its right, 45-100 degrees round from the front
        case = replace(case, start=(float(np.clip(abs(case.start[0]), 0.8, 1.75)), *case.start[1:]))
    right = _hand_model("right")
    mesh = object_mesh(case.object)
    shift = (0.12, 0.0) if case.second else (0.0, 0.0)  # two hands: the right hand's object to the right
    o0 = object_pose(case, at=(case.xy[0] + shift[0], case.xy[1]))
    centre = trimesh.transform_points(mesh.bounding_box.centroid[None], o0)[0]
    world = [mesh.copy().apply_transform(o0)]  # the objects at their start poses: a hand starts clear of them
    if case.second:
        mesh2 = object_mesh(case.second)
        mirrored = Case(name=case.name, group=case.group, object=case.second, seed=case.seed, yaw=case.yaw + 1.0,
                        start=(-case.start[0], *case.start[1:]), target=case.target, offset=case.offset)
        o1 = object_pose(mirrored, at=(case.xy[0] - 0.12, case.xy[1]))
        world.append(mesh2.copy().apply_transform(o1))
    h0 = start_hand(case, centre, right, clear_of=world)
    hT = target_hand(case, h0, centre, right)
    kwargs = {}
    if case.request is not None:
        kwargs["request"] = grasp.GraspRequest(**case.request)
    if case.goal is not None:
        kwargs["goal"] = _object_goal(case, o0)
    if case.second is None and not case.both:
        def run():
            return generate.generate_trajectory(h0, _ref(case.object), o0, hT, frames=FRAMES, seed=case.seed,
                                                hand_model=right, **kwargs)
        return run, [mesh], [right]
    left = _hand_model("left")
    if case.both:  # the left hand starts on its left, mirroring the right; the right hand's target moves the object
        far = replace(case, start=(-case.start[0], *case.start[1:]))
        h1 = start_hand(far, centre, left, side="left", clear_of=world)
        tasks = [generate.HandTask(h0, hT, 0), generate.HandTask(h1, target_hand(far, h1, centre, left), 0)]
        objects = [generate.SceneObject(case.object, mesh, o0)]

        def run():
            return generate.generate_scene(tasks, objects, frames=FRAMES, seed=case.seed, hand_models=[right, left])
        return run, [mesh], [right, left]
    centre1 = trimesh.transform_points(mesh2.bounding_box.centroid[None], o1)[0]
    h1 = start_hand(mirrored, centre1, left, side="left", clear_of=world)
    tasks = [generate.HandTask(h0, hT, 0), generate.HandTask(h1, target_hand(mirrored, h1, centre1, left), 1)]
    objects = [generate.SceneObject(case.object, mesh, o0), generate.SceneObject(case.second, mesh2, o1)]

    def run():
        return generate.generate_scene(tasks, objects, frames=FRAMES, seed=case.seed, hand_models=[right, left])
    return run, [mesh, mesh2], [right, left]


def _ref(name: str) -> str | trimesh.Trimesh:
    """What the generator is given: a built-in's name (its own parts and loading), else the mesh."""
    from pam.objects import BUILTIN_OBJECTS

    return name if name in BUILTIN_OBJECTS else object_mesh(name)


def _hand_model(side: str):
    from pam.hand import OpenHand

    return _HANDS.setdefault(side, OpenHand(side))


_HANDS: dict = {}
#: Frames per trajectory (``--frames``).
FRAMES = 49


def _per_hand(meta: dict, key: str) -> list:
    """The generator's ``key`` per hand: "attempt", the kept candidate's index (0 = its first candidate), or
    "simulations", how many candidates it simulated (None where the installed API does not say)."""
    hands = meta.get("hands")
    if isinstance(hands, list) and hands:
        return [h.get(key) for h in hands]
    return [meta.get(key)]


def run_case(case: Case) -> dict:
    """Generate the case's trajectory and grade it with ``pam.pose.quality`` only.

    Returns a JSON-ready record: status "success" | "fail" (graded) | "no_sequence" (``PoseError``)
    | "error" (a crash) | "unsupported", reason, first_candidate (every hand kept the generator's
    first grasp candidate and the sequence passes), first_rollout (the first candidate the generator
    simulated was kept, for every hand, and the sequence passes: GraspXL's single rollout; candidates
    the plan dropped unsimulated do not count), seconds and cpu_seconds of the generation,
    quality_seconds and the quality measures.
    """
    from pam.pose.generate import PoseError
    from pam.pose.quality import evaluate

    height = np.ptp(object_mesh(case.object).vertices @ object_pose(case)[2, :3])  # as it rests on the table
    record = {"name": case.name, "group": case.group, "object": case.object, "status": "error", "reason": "",
              "height_mm": round(float(height) * 1000.0, 1),
              "first_candidate": False, "attempt": None, "first_rollout": False, "simulations": None,
              "seconds": None, "cpu_seconds": None, "quality_seconds": None, "quality": None}
    try:
        generate, meshes, hands = prepare(case)
    except Unsupported as err:
        return {**record, "status": "unsupported", "reason": str(err), "first_candidate": None, "first_rollout": None}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        seq = generate()
    except PoseError as err:  # the generator refused or found no grasp: a failure without a sequence
        return {**record, "status": "no_sequence", "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu, "reason": str(err)[:200]}
    except Exception as err:  # a crash: recorded, never hidden
        return {**record, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                "reason": f"{type(err).__name__}: {err}"[:200] + " | " + traceback.format_exc(limit=2)[-200:]}
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    q = evaluate(seq, meshes=meshes, hand_models=hands)
    attempts = _per_hand(seq.meta.get("pose", {}), "attempt")
    known = None if None in attempts else max(attempts)
    simulated = _per_hand(seq.meta.get("pose", {}), "simulations")
    rollouts = None if None in simulated else max(simulated)
    return {**record, "status": "success" if q.success else "fail", "reason": ", ".join(q.failed),
            "first_candidate": bool(q.success and known == 0), "attempt": known,
            "first_rollout": None if rollouts is None else bool(q.success and rollouts == 1), "simulations": rollouts,
            "seconds": seconds, "cpu_seconds": cpu, "quality_seconds": time.perf_counter() - start,
            "quality": q.as_dict()}


def warm_decompositions(names: list[str]) -> list[tuple[str, int, float]]:
    """Convex decompositions of every object (cached in $PAM_HOME), done before any timing."""
    from pam.pose.collision import closed_mesh, convex_parts

    rows = []
    for name in names:
        start = time.perf_counter()
        parts = convex_parts(closed_mesh(object_mesh(name).copy(), name=name), name=name)
        rows.append((name, len(parts), time.perf_counter() - start))
    return rows


# --- summary ------------------------------------------------------------------------------------

STATUSES = ("success", "fail", "no_sequence", "error", "unsupported")

#: measure -> (threshold field, or None for a measure that is reported only; True if lower values are better)
MEASURES = {
    "below_table_mm": ("below_table_mm", True), "disturbance_mm": ("disturbance_mm", True),
    "disturbance_deg": ("disturbance_deg", True), "contact_fraction": ("contact_fraction", False),
    "max_penetration_mm": ("max_penetration_mm", True), "mean_penetration_mm": ("mean_penetration_mm", True),
    "slip_mm": ("slip_mm", True), "in_hand_rotation_deg": ("in_hand_rotation_deg", True),
    "hold_s": ("min_hold_s", False), "jerk_max": ("max_jerk", True), "carried_gap_mm": (None, True),
}


def summarize(records: list[dict]) -> dict:
    """Rates, per-measure statistics and the issue's targets (PASS/FAIL) over the supported cases."""
    from pam.pose.quality import THRESHOLDS

    supported = [r for r in records if r["status"] != "unsupported"]
    made = [r for r in supported if r["quality"] is not None]
    n = max(len(supported), 1)
    out = {
        "cases": len(records), "supported": len(supported), "unsupported": len(records) - len(supported),
        "with_sequence": len(made), "no_sequence": sum(r["status"] == "no_sequence" for r in supported),
        "errors": sum(r["status"] == "error" for r in supported),
        **success_rates(supported),
        # reported, no target: the first simulated candidate kept (None: the installed API does not say)
        "first_rollout_success": (None if any(r.get("first_rollout") is None for r in supported)
                                  else sum(r["first_rollout"] for r in supported) / n),
        "groups": {}, "measures": {},
    }
    for key in ("final_success", "first_candidate_success"):  # binomial standard error: how far another draw may land
        out[key + "_se"] = float(np.sqrt(out[key] * (1.0 - out[key]) / n))
    for group in sorted({r["group"] for r in records}):
        rows = [r for r in records if r["group"] == group]
        out["groups"][group] = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    out["per_draw"] = per_draw(supported)
    for key, (limit_name, lower_better) in MEASURES.items():
        values = np.array([r["quality"][key] for r in made if r["quality"][key] is not None], dtype=float)
        if not values.size:
            out["measures"][key] = {"n": 0}
            continue
        out["measures"][key] = {"n": int(values.size), "median": float(np.median(values)),
                                "worst_5pct": float(np.percentile(values, 95 if lower_better else 5))}
        if limit_name is not None:
            limit = getattr(THRESHOLDS, limit_name)
            within = values <= limit if lower_better else values >= limit
            out["measures"][key].update(within=float(within.mean()), threshold=limit)
    for key in ("seconds", "cpu_seconds"):
        secs = np.array([r[key] for r in supported if r[key] is not None])
        out[key] = {"median": float(np.median(secs)), "p95": float(np.percentile(secs, 95))} if secs.size else {}
    carried = sum(r["quality"]["hold_frames"] for r in made)
    touching = sum(r["quality"]["hold_frames"] * (r["quality"]["contact_fraction"] or 0.0) for r in made)
    out["carried_frames_in_contact"] = touching / carried if carried else 0.0

    def frac(pred) -> float:
        return float(np.mean([pred(r["quality"]) for r in made])) if made else 0.0

    t, secs = THRESHOLDS, out["cpu_seconds"]
    rotation = frac(lambda q: q["in_hand_rotation_deg"] is not None  # never carried: not within
                    and q["in_hand_rotation_deg"] <= t.in_hand_rotation_deg)
    still = frac(lambda q: q["disturbance_mm"] <= t.disturbance_mm and q["disturbance_deg"] <= t.disturbance_deg)
    targets = [  # (target, value, at least / at most, bound)
        ("final success >= 95 %", out["final_success"], ">=", 0.95),
        ("first-candidate success >= 85 %", out["first_candidate_success"], ">=", 0.85),
        ("hand below table <= 2 mm in every case", frac(lambda q: q["below_table_mm"] <= t.below_table_mm), ">=", 1.0),
        ("disturbance <= 10 mm and <= 10 deg in >= 95 %", still, ">=", 0.95),
        ("carried frames in contact >= 95 %", out["carried_frames_in_contact"], ">=", 0.95),
        ("in-hand rotation <= 10 deg in >= 90 %", rotation, ">=", 0.90),
        ("median <= 2 s per trajectory (CPU)", secs.get("median", np.inf), "<=", 2.0),
        ("p95 <= 5 s per trajectory (CPU)", secs.get("p95", np.inf), "<=", 5.0),
    ]
    out["targets"] = [
        {"target": name, "value": float(value),
         "pass": bool(made) and (value >= bound if op == ">=" else value <= bound)}
        for name, value, op, bound in targets
    ]
    out["failures"] = failures_by_object(supported)
    return out


def per_draw(records: list[dict]) -> dict[str, dict]:
    """Final and first-candidate success per draw of cases (names ``case@draw``; one draw: no suffix, {}):
    their spread shows how much a rate moves between draws of the same design, beside the binomial error."""
    draws: dict[str, list] = {}
    for r in records:
        if "@" in r["name"]:
            draws.setdefault(r["name"].rsplit("@", 1)[1], []).append(r)
    return {d: {"cases": len(rows), **success_rates(rows)} for d, rows in sorted(draws.items())}


def success_rates(records: list[dict]) -> dict[str, float]:
    """Final and first-candidate success over ``records`` (supported cases; 0 when there are none)."""
    n = max(len(records), 1)
    return {"final_success": sum(r["status"] == "success" for r in records) / n,
            "first_candidate_success": sum(bool(r["first_candidate"]) for r in records) / n}


def failures_by_object(records: list[dict]) -> list[dict]:
    """Where the failures are: per object (the first hand's), hands (one, two objects, both on one) and
    resting height (cm: lying or standing), the cases, those that failed and the commonest reason (the
    first candidate's, numbers as N), most failures first."""
    rows: dict[tuple, dict] = {}
    for r in records:
        hands = {"two_hands": "two", "both_hands": "both"}.get(r["group"], "one")
        key = (r["object"], hands, round(r.get("height_mm", 0.0) / 10.0, 1))
        row = rows.setdefault(key, {"object": key[0], "hands": hands, "height_cm": key[2], "cases": 0, "failed": 0,
                                    "reasons": {}})
        row["cases"] += 1
        if r["status"] != "success":
            row["failed"] += 1
            first = re.search(r"candidate 0: (?:hand \d: )?([^;(]*)", r["reason"])  # the first candidate's failure
            reason = first.group(1) if first else r["reason"].split("(")[0]
            reason = re.sub(r"\d+(\.\d+)?", "N", reason).strip()[:60] or r["status"]
            row["reasons"][reason] = row["reasons"].get(reason, 0) + 1
    out = []
    for row in sorted(rows.values(), key=lambda w: (-w["failed"], w["object"])):
        reasons = row.pop("reasons")
        out.append({**row, "reason": max(reasons, key=reasons.get) if reasons else ""})
    return out


def markdown(records: list[dict], summary: dict, decompositions: list[tuple[str, int, float]]) -> str:
    """The per-case table, the summary and the targets as markdown."""

    def num(v, fmt=".1f"):
        return "-" if v is None else format(v, fmt)

    lines = ["| case | status | failed checks / reason | below mm | shift mm | turn deg | contact | pen max mm | "
             "slip mm | rot deg | hold s | jerk | attempt | cpu s |", "|" + "---|" * 14]
    for r in records:
        q = r["quality"] or {}
        reason = r["reason"].replace("|", "/")[:70]
        lines.append(
            f"| {r['name']} | {r['status']} | {reason} | {num(q.get('below_table_mm'))} | "
            f"{num(q.get('disturbance_mm'))} | {num(q.get('disturbance_deg'))} | "
            f"{num(q.get('contact_fraction'), '.2f')} | "
            f"{num(q.get('max_penetration_mm'))} | "
            f"{num(q.get('slip_mm'))} | {num(q.get('in_hand_rotation_deg'))} | {num(q.get('hold_s'), '.2f')} | "
            f"{num(q.get('jerk_max'), '.0f')} | {num(r['attempt'], 'd')} | {num(r['cpu_seconds'], '.2f')} |"
        )
    s = summary
    lines += ["", f"{s['cases']} cases: {s['supported']} supported ({s['unsupported']} unsupported by the installed "
              f"pam.pose), {s['with_sequence']} produced a sequence, {s['no_sequence']} raised PoseError, "
              f"{s['errors']} crashed.",
              f"Final success {100 * s['final_success']:.1f} % (+- {100 * s['final_success_se']:.1f}), first-candidate "
              f"success {100 * s['first_candidate_success']:.1f} % (+- {100 * s['first_candidate_success_se']:.1f}) of "
              "supported cases; +- one binomial standard error: another draw of cases may land that far.",
              "" if not s.get("per_draw") else
              "Per draw (final / first candidate): " + ", ".join(
                  f"{d} {100 * v['final_success']:.1f} / {100 * v['first_candidate_success']:.1f} % of {v['cases']}"
                  for d, v in s["per_draw"].items()) + ".",
              "" if s["first_rollout_success"] is None else
              f"First-rollout success {100 * s['first_rollout_success']:.1f} % (the first candidate the generator "
              "simulated was kept and passes; reported, no target: GraspXL's single-rollout figure).", "",
              "| group | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
    lines += [f"| {g} | " + " | ".join(str(c[k]) for k in STATUSES) + " |" for g, c in s["groups"].items()]
    lines += ["", "| measure | threshold | median | worst 5 % | within threshold |", "|---|---|---|---|---|"]
    for key, m in s["measures"].items():
        if m["n"] and "threshold" in m:
            lines.append(f"| {key} | {m['threshold']:g} | {m['median']:.2f} | {m['worst_5pct']:.2f} | "
                         f"{100 * m['within']:.0f} % of {m['n']} |")
        elif m["n"]:
            lines.append(f"| {key} | (reported) | {m['median']:.2f} | {m['worst_5pct']:.2f} | of {m['n']} |")
    if s["seconds"]:
        lines.append(f"\nSeconds per trajectory (one thread), CPU: median {s['cpu_seconds']['median']:.2f}, p95 "
                     f"{s['cpu_seconds']['p95']:.2f}; wall: median {s['seconds']['median']:.2f}, "
                     f"p95 {s['seconds']['p95']:.2f}."
                     + (f" This machine's reference workload (``reference_seconds``): {s['reference_seconds']:.2f} s."
                        if "reference_seconds" in s else ""))
    failing = [f for f in s["failures"] if f["failed"]]
    if failing:
        lines += ["", "Failures by object, hands and resting height:", "",
                  "| object | hands | height cm | failed | commonest reason |", "|---|---|---|---|---|"]
        lines += [f"| {f['object']} | {f['hands']} | {f['height_cm']:g} | {f['failed']} / {f['cases']} | "
                  f"{f['reason'].replace('|', '/')} |" for f in failing]
    lines += ["", "| target | value | |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']:.3g} | {'PASS' if t['pass'] else 'FAIL'} |" for t in s["targets"]]
    if s.get("versions"):
        lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in s["versions"].items() if v is not None)]
    if decompositions:
        lines += ["", "Convex decompositions (before timing; cold if $PAM_HOME's cache is empty): "
                  + ", ".join(f"{n} {k} parts {sec:.1f} s" for n, k, sec in decompositions)]
    return "\n".join(lines)


#: Distributions whose numerics decide outcomes: the same code and seeds give a few cases more or fewer with
#: another release (docs/pose.md, session 21: MuJoCo 3.14 / 3.17 / 4.0 on the 390 cases), so results name them.
NUMERIC_LIBRARIES = ("mujoco", "numpy", "scipy", "trimesh", "coacd", "libigl", "manifold3d", "rtree", "torch")


def library_versions() -> dict[str, str | None]:
    """Python's and ``NUMERIC_LIBRARIES``' installed versions (None: not installed), and the CPU model."""
    from importlib.metadata import PackageNotFoundError, version

    def get(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: get(name) for name in NUMERIC_LIBRARIES}, "cpu": cpu_model()}


def cpu_model() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else the platform's machine type: the same code and
    libraries gave 351 and 356 final successes of 390 on two machines (docs/pose.md, session 22)."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.machine()


def reference_seconds(repeats: int = 3) -> float:
    """CPU seconds of a fixed one-thread workload (a Python loop and small NumPy products, the generator's
    mix), the least of ``repeats``: seconds per trajectory measured on machines of different speed compare
    through it (docs/pose.md)."""
    best = np.inf
    for _ in range(repeats):
        start, a, total = time.process_time(), np.eye(64), 0
        for i in range(1_200_000):
            total += i % 7
        for _ in range(12_000):
            a = np.tanh(a @ a.T + 0.01)
        best = min(best, time.process_time() - start)
    return float(best)


def _init_worker(frames: int = 49) -> None:
    import torch

    global FRAMES
    FRAMES = frames
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=None, help="run the first N cases of the fixed shuffled list")
    parser.add_argument("--quick", action="store_true", help="12 cases (a smoke run)")
    parser.add_argument("--group", choices=("lift", "request", "goal", "two_hands", "both_hands"),
                        help="only this group's cases")
    parser.add_argument("--workers", type=int, default=1, help="processes (each one thread)")
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--draw", type=int, nargs="+", default=[DRAW],
                        help=f"seeds of the cases' placements, starts, targets and goals (default {DRAW}: the fixed "
                             "benchmark; other seeds give held-out cases of the same design; several: all their cases, "
                             "named case@seed)")
    parser.add_argument("--json", default=None, help="write every record and the summary here")
    parser.add_argument("--markdown", default=None, help="write the tables here (also printed)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _init_worker(args.frames)
    cases = [c if len(args.draw) == 1 else replace(c, name=f"{c.name}@{d}")
             for d in args.draw for c in make_cases(d) if args.group in (None, c.group)]
    cases = cases[: 12 if args.quick else args.cases or len(cases)]
    names = sorted({c.object for c in cases} | {c.second for c in cases if c.second})
    decompositions = warm_decompositions(names)
    records = []
    if args.workers > 1:
        pool = ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=(args.frames,))
    else:
        pool = _Inline()
    with pool:
        for i, record in enumerate(pool.map(run_case, cases)):
            records.append(record)
            print(f"[{i + 1}/{len(cases)}] {record['name']}: {record['status']} {record['reason'][:90]} "
                  f"({record['seconds'] or 0:.2f} s)", flush=True)
    summary = summarize(records)
    summary["reference_seconds"] = reference_seconds()
    summary["versions"] = library_versions()
    text = markdown(records, summary, decompositions)
    print("\n" + text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"draws": args.draw, "cases": [asdict(c) for c in cases], "records": records, "summary": summary}, f,
                      indent=1)


class _Inline:
    """``map`` in this process (``--workers 1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        return map(fn, items)


if __name__ == "__main__":
    main()
