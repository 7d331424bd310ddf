"""Stage I: a physically checked hand-object trajectory from keyframes h0, (mesh, o0), hT.

The motion has five phases over the clip (fractions of its duration, each with minimum-jerk
timing): reach from h0 to a pre-grasp pose 8 cm out along the grasp's approach direction while
the fingers pre-shape (0 - 32 %); approach along that straight, collision-free line (32 - 48 %);
close the fingers, proximal joints first (48 - 62 %); transport so the wrist ends at hT's wrist
pose (62 - 92 %); hold (92 - 100 %). The object's trajectory comes from a MuJoCo simulation of the
plan (``pam.pose.physics``): grasp candidates (``pam.pose.grasp``) are tried best first until
one holds the object to the end.

Bad input: a hand starting inside the object, a target the wrist cannot reach in time or that
would push the object through the table, too few frames, or a degenerate mesh raise
``PoseError`` naming the reason; a mesh with holes is closed (or replaced by its convex hull) with
a warning. Nothing is written here: saving is the caller's (``HOISequence.save`` is atomic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from pam.pose import grasp as grasp_mod
from pam.pose import physics
from pam.pose.collision import closed_mesh, convex_parts
from pam.pose.hand_geometry import HandCapsules, PosedHand
from pam.pose.keyframes import HandKeyframe, default_camera, hand_preset
from pam.pose.quality import CONTACT_DISTANCE, penetration_depths
from pam.pose.sdf import ObjectSDF
from pam.pose.trajectory import (
    finger_closing_progress,
    interpolate_positions,
    minimum_jerk,
    phase_progress,
    slerp_axis_angles,
    slerp_rotations,
)
from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack


#: Phase boundaries as fractions of the clip: reach, approach, close, transport ends.
PHASES = (0.32, 0.48, 0.62, 0.92)
APPROACH_DISTANCE = 0.08  # m from pre-grasp to grasp
MAX_WRIST_SPEED = 2.0  # m/s mean over a phase; faster targets are unreachable
MIN_FRAMES = 16
SUBSTEPS = 4  # plan samples per frame for the simulator


class PoseError(ValueError):
    """Stage I cannot produce a trajectory for these inputs; the message says why."""


class NoGraspHeld(PoseError):
    """Valid inputs, but no grasp candidate of this seed held the object in simulation."""


@dataclass
class Plan:
    """Hand parameters at times ``frames`` (float frame indices): global_orient (S, 3),
    hand_pose (S, 45) shown, sim_pose (S, 45) simulator finger targets, transl (S, 3)."""

    global_orient: np.ndarray
    hand_pose: np.ndarray
    sim_pose: np.ndarray
    transl: np.ndarray


def _phase_frames(frames: int) -> np.ndarray:
    return np.asarray(PHASES) * (frames - 1)


def plan_motion(hand: PosedHand, h0: HandKeyframe, g: grasp_mod.Grasp, target_rot: np.ndarray,
                target_wrist: np.ndarray, times: np.ndarray, frames: int, arc: float = 0.0) -> Plan:
    """The hand plan at frame times ``times`` (S,) for a clip of ``frames`` frames.

    ``arc`` (m) lifts the reach's midpoint (a sine bump on z) to pass over the object.
    """
    reach, approach, close, transport = _phase_frames(frames)
    w0 = hand.wrist + h0.transl
    wg = hand.wrist + g.transl
    w_pre = wg + APPROACH_DISTANCE * g.approach
    r0 = axis_angle_to_matrix_np(h0.global_orient)
    s_reach = phase_progress(times, 0.0, reach)
    s_app = phase_progress(times, reach, approach)
    s_tr = phase_progress(times, close, transport)
    lift = np.outer(np.sin(np.pi * s_reach) * arc, [0.0, 0.0, 1.0])
    wrist = np.where(
        (times <= reach)[:, None], interpolate_positions(w0, w_pre, s_reach) + lift,
        np.where((times <= close)[:, None], interpolate_positions(w_pre, wg, s_app),
                 interpolate_positions(wg, target_wrist, s_tr)),
    )
    rot = np.where(
        (times <= reach)[:, None, None], slerp_rotations(r0, g.rotation, s_reach),
        np.where((times <= close)[:, None, None], g.rotation, slerp_rotations(g.rotation, target_rot, s_tr)),
    )
    u_close = np.clip((times - approach) / (close - approach), 0.0, 1.0)
    per_joint = np.repeat(finger_closing_progress(u_close), 3, axis=1)  # (S, 45)
    reach_pose = slerp_axis_angles(h0.hand_pose, g.preshape, s_reach)
    shown = np.where((times <= reach)[:, None], reach_pose, g.preshape + per_joint * (g.hand_pose - g.preshape))
    # the simulator's fingers follow the shown ones to the surface, then squeeze in (last 40 % of the closing)
    ramp = minimum_jerk((u_close - 0.6) / 0.4)[:, None]
    sim = np.where((times <= reach)[:, None], reach_pose, shown + ramp * (g.squeeze_pose - g.hand_pose))
    return Plan(matrix_to_axis_angle_np(rot), shown, sim, wrist - hand.wrist)


def _check_inputs(hand: PosedHand, h0: HandKeyframe, mesh: trimesh.Trimesh, frames: int, fps: float) -> None:
    if frames < MIN_FRAMES:
        raise PoseError(f"frames: need at least {MIN_FRAMES} frames for reach, grasp and transport, got {frames}")
    if not np.isfinite(fps) or fps <= 0:
        raise PoseError(f"fps: must be positive, got {fps}")
    if h0.global_orient is None or h0.transl is None:
        raise PoseError("h0: the initial hand needs global_orient and transl")
    extents = mesh.bounding_box_oriented.extents
    if extents.min() < 0.003:
        raise PoseError(f"object: too thin to grasp (smallest extent {extents.min() * 1000:.1f} mm)")
    if extents.min() > 0.16:
        raise PoseError(f"object: too large for one hand (smallest extent {extents.min() * 100:.0f} cm)")
    verts, _ = hand(h0.global_orient[None], h0.hand_pose[None], h0.transl[None])
    depth = -ObjectSDF(mesh)(verts[0]).min()
    if depth > 0.002:
        raise PoseError(f"h0: the hand starts inside the object ({depth * 1000:.1f} mm deep); move it out")


def _path_collides(hand: PosedHand, plan: Plan, sdf: ObjectSDF, idx: np.ndarray, tol: float = 0.002) -> bool:
    """True if the shown hand sinks more than ``tol`` into the (resting) object at plan samples ``idx``."""
    verts, _ = hand(plan.global_orient[idx], plan.hand_pose[idx], plan.transl[idx])
    return bool(sdf(verts[:, ::3]).min() < -tol)


def _final_gap(hand: PosedHand, plan: Plan, result: physics.SimResult, mesh: trimesh.Trimesh) -> float:
    """Distance (m) from the shown hand's last pose to the simulated object's last pose."""
    verts, _ = hand(plan.global_orient[-1:], plan.hand_pose[-1:], plan.transl[-1:])
    _, nearest = penetration_depths(verts, mesh, result.rotation[-1:], result.translation[-1:])
    return float(max(nearest[0], 0.0))


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
    grasp_settings: dict | None = None,
    physics_settings: dict | None = None,
    request: grasp_mod.GraspRequest | None = None,
) -> HOISequence:
    """A hand-object trajectory from h0 to hT that grasps and carries the object.

    Args:
        h0: initial hand (needs global_orient and transl).
        obj: a built-in object name or mesh path (or a mesh, then named "object").
        o0: (4, 4) initial object-to-world transform; the table top is at its lowest point.
        hT: target hand: its wrist pose (or ``offset_from_grasp``) and its grasp style (hand_pose).
        frames, fps: clip length and rate.
        seed: grasp candidates are drawn from ``numpy.random.default_rng(seed)``.
        scale: mesh units -> metres.
        camera: the sequence's camera (default: ``keyframes.default_camera`` framing the motion).
        hand_model: a ``HandModel`` (default: ``pam.hand.load_hand_model(h0.model, h0.side)``).
        max_attempts: grasp candidates simulated at most.
        request: steers the grasp (approach, region in the object's frame, roll, family).

    Returns:
        A ``HOISequence`` with one hand and one object; ``meta["pose"]`` records the grasp, the
        phases and the attempts.

    Raises:
        PoseError: bad inputs, or no candidate held the object.
    """
    from pam.hand import load_hand_model
    from pam.objects import load_object

    if isinstance(obj, trimesh.Trimesh):
        ref, local = "object", obj.copy()
    else:
        ref, local = str(obj), load_object(str(obj), scale=scale)
    o0 = np.asarray(o0, dtype=np.float64)
    if o0.shape != (4, 4) or not np.all(np.isfinite(o0)):
        raise PoseError(f"o0: expected a finite 4x4 transform, got shape {o0.shape}")
    model = load_hand_model(h0.model, side=h0.side) if hand_model is None else hand_model
    hand = PosedHand(model, h0.betas)
    local = closed_mesh(local, name=ref)  # warns for meshes with holes
    parts = convex_parts(local, name=ref)
    world = local.copy()
    world.apply_transform(o0)
    _check_inputs(hand, h0, world, frames, fps)
    table = float(world.vertices[:, 2].min())
    sdf = ObjectSDF(world)

    rng = np.random.default_rng(seed)
    style = hT.hand_pose
    preshape = hand_preset("preshape", h0.side)
    _, tips = hand(np.zeros((2, 3)), np.stack([preshape, style]), np.zeros((2, 3)))
    closing = np.mean(np.linalg.norm(tips[0, 8::4] - tips[0, :1], axis=1) - np.linalg.norm(tips[1, 8::4] - tips[1, :1], axis=1))
    if closing < 0.015:
        raise PoseError(
            f"hT.hand_pose: the target hand closes the fingertips by only {closing * 1000:.0f} mm from the open "
            "pre-shape, so it describes no grasp; use a closing pose such as 'power_grasp' or 'pinch'"
        )
    preferred = [axis_angle_to_matrix_np(h0.global_orient)]
    if hT.global_orient is not None:
        preferred.append(axis_angle_to_matrix_np(hT.global_orient))
    candidates = grasp_mod.synthesize_grasps(
        hand, world, table, preshape, style, rng, preferred=tuple(preferred), **(grasp_settings or {}),
        request=None if request is None else request.in_world(o0),
    )
    if not candidates:
        raise PoseError(f"{ref}: no grasp found with the thumb and another finger or the palm opposing it")

    reach, approach, close, transport = _phase_frames(frames)
    duration = (frames - 1) / fps
    times = np.arange((frames - 1) * SUBSTEPS + 1) / SUBSTEPS
    capsules = HandCapsules.from_model(hand.model, hand.betas)
    hold_start = int(np.ceil(close))
    reasons = []
    for attempt, g in enumerate(candidates[:max_attempts]):
        wg = hand.wrist + g.transl
        if hT.offset_from_grasp is not None:
            target_rot, target_wrist = g.rotation, wg + hT.offset_from_grasp
        else:
            target_rot, target_wrist = axis_angle_to_matrix_np(hT.global_orient), hand.wrist + hT.transl
        speed = np.linalg.norm(target_wrist - wg) / (duration * (transport - close) / (frames - 1))
        reach_speed = np.linalg.norm(wg + APPROACH_DISTANCE * g.approach - hand.wrist - h0.transl) / (
            duration * reach / (frames - 1)
        )
        if max(speed, reach_speed) > MAX_WRIST_SPEED:
            which = "hT" if speed >= reach_speed else "the object from h0"
            raise PoseError(
                f"unreachable target: reaching {which} needs a mean wrist speed of {max(speed, reach_speed):.1f} m/s "
                f"(limit {MAX_WRIST_SPEED} m/s); bring it closer or use more frames"
            )
        # the object carried rigidly to the target must stay above the table
        carry = target_rot @ g.rotation.T
        end_low = (np.asarray(world.vertices) - wg) @ carry.T + target_wrist
        if end_low[:, 2].min() < table - 0.005:
            reasons.append(f"candidate {attempt}: hT puts the object {100 * (table - end_low[:, 2].min()):.1f} cm into the table")
            continue
        reach_idx = np.linspace(0, int(reach * SUBSTEPS), 10).astype(int)
        low = min(hand.wrist[2] + h0.transl[2], wg[2] + APPROACH_DISTANCE * g.approach[2])
        for arc in (0.0, max(0.0, float(world.vertices[:, 2].max()) + 0.06 - low)):
            plan = plan_motion(hand, h0, g, target_rot, target_wrist, times, frames, arc)
            if not _path_collides(hand, plan, sdf, reach_idx):
                break
        else:
            reasons.append(f"candidate {attempt}: the reach from h0 passes through the object")
            continue
        _, sim_joints = hand(plan.global_orient, plan.sim_pose, plan.transl)
        seg_pos, seg_rot = capsules.segment_poses(sim_joints, plan.global_orient)
        result = physics.simulate(
            parts, o0[:3, :3], o0[:3, 3], table, capsules, seg_pos, seg_rot, fps, SUBSTEPS, hold_start,
            centre=local.bounding_box.centroid, **(physics_settings or {}),
        )
        if not result.held:
            reasons.append(f"candidate {attempt}: dropped at frame {result.drop_frame}")
            continue
        gap = _final_gap(hand, plan, result, local)
        if gap > CONTACT_DISTANCE:  # the shown hand must end touching the object (as quality.evaluate)
            reasons.append(f"candidate {attempt}: the object ends {gap * 1000:.0f} mm away from the shown hand")
            continue
        seq = _sequence(
            h0, hT, ref, scale, plan, result, fps, camera, hand, seed, g, attempt, hold_start, frames
        )
        seq.meta["pose"]["request"] = None if request is None else request.as_dict()
        return seq
    if all("into the table" in r for r in reasons):
        raise PoseError(f"unreachable target: {reasons[0].split(': ', 1)[1]}")
    raise NoGraspHeld(f"{ref}: no grasp held the object in simulation ({'; '.join(reasons)}); try another seed")


def _sequence(h0, hT, ref, scale, plan, result, fps, camera, hand, seed, g, attempt, hold_start, frames):
    idx = np.arange(frames) * SUBSTEPS
    track = HandTrack(
        global_orient=plan.global_orient[idx], hand_pose=plan.hand_pose[idx], transl=plan.transl[idx],
        betas=h0.betas, side=h0.side, model=h0.model,
    )
    from pam.objects import object_seg_id

    obj = ObjectTrack(mesh=ref, rotation=result.rotation, translation=result.translation, scale=scale,
                      seg_id=object_seg_id(ref))
    if camera is None:
        _, joints = hand(track.global_orient[[0, -1]], track.hand_pose[[0, -1]], track.transl[[0, -1]])
        camera = default_camera(np.concatenate([joints.reshape(-1, 3), result.translation]))
    reach, approach, close, transport = _phase_frames(frames)
    meta = {
        "pose": {
            "generator": "pam.pose.generate",
            "seed": int(seed),
            "attempt": int(attempt),
            "hold_start": int(hold_start),
            "family": g.family,
            "phases": {"reach_end": reach, "approach_end": approach, "close_end": close, "transport_end": transport},
            "grasp": {
                "finger_contact": g.finger_contact.astype(int).tolist(),
                "palm_contact": g.palm_contact,
                "num_contacts": g.num_contacts,
                "balance": g.balance,
                "approach": g.approach.tolist(),
                "finger_error_rad": grasp_mod.finger_error_report(track.hand_pose[-1], hT.hand_pose),
            },
        }
    }
    return HOISequence(hands=[track], objects=[obj], camera=camera, fps=fps, meta=meta)
