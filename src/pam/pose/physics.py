"""MuJoCo simulation of a hand driven along a plan and a free object on a table.

Scene (world z up, gravity -z):
- a table: a plane at the height of the object's lowest point in its initial pose;
- the object: a free body whose collision shape is its convex parts (``pam.pose.collision``),
  mass from a uniform density, sliding + torsional friction;
- the hand: 16 rigid segments (palm + 15 finger bones) carrying capsules
  (``pam.pose.hand_geometry``). Each segment is a dynamic, gravity-compensated body tied to a
  mocap target by a soft weld; the mocap targets follow the planned segment poses. This is the
  Cartesian equivalent of a mocap wrist with position-controlled finger joints: segments track
  the plan closely, are pushed back a little by contacts (so a finger planned slightly into the
  object squeezes it), and carry real velocities so friction can lift the object. Hand segments
  collide with the object only (not with each other or the table).

The object's trajectory comes from the simulation: a bad grasp drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from pam.pose.hand_geometry import HandCapsules
from pam.pose.quality import DROP_DISTANCE

#: Simulation settings (SI units). ``timestep`` is rounded so a whole number of steps fits a frame.
DEFAULTS = dict(
    timestep=0.002,
    density=400.0,  # kg/m^3: a filled light container
    friction=(1.5, 0.01, 0.0001),  # sliding, torsional, rolling: soft finger pads on plastic or cardboard
    contact_solref=(0.006, 1.0),  # time constant (s) and damping ratio of all contacts
    contact_solimp=(0.95, 0.99, 0.001, 0.5, 2.0),
    weld_solref=(0.004, 1.0),  # time constant (s) and damping ratio of the segment-to-target welds
    segment_mass=0.03,
    drop_distance=DROP_DISTANCE,  # object centre moved this far (m) in the palm frame while holding = dropped
)


@dataclass
class SimResult:
    """Simulated object trajectory at the frame times.

    Attributes:
        rotation: (T, 3, 3) object-to-world rotations.
        translation: (T, 3) object-to-world translations.
        held: whether the object stayed in the hand from ``hold_start`` to the end.
        drift: (T,) displacement (m) of the object's centre in the palm frame since ``hold_start``
            (0 before it).
        drop_frame: first frame where the drift passed ``drop_distance``, or None.
    """

    rotation: np.ndarray
    translation: np.ndarray
    held: bool
    drift: np.ndarray
    drop_frame: int | None


def _quat_wxyz(rot: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_quat(scalar_first=True).reshape(*rot.shape[:-2], 4)


def build_scene(
    parts: list[trimesh.Trimesh],
    object_rotation: np.ndarray,
    object_translation: np.ndarray,
    table_height: float | None,
    capsules: HandCapsules,
    timestep: float,
    settings: dict,
) -> mujoco.MjModel:
    """Compile the scene. ``parts`` are convex meshes in the object frame (metres)."""
    spec = mujoco.MjSpec()
    spec.option.timestep = timestep
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.option.gravity = [0.0, 0.0, -9.81]
    world = spec.worldbody
    if table_height is not None:
        world.add_geom(
            type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2.0, 2.0, 0.01], pos=[0.0, 0.0, table_height],
            contype=1, conaffinity=1, friction=[0.8, 0.005, 0.0001],
            solref=list(settings["contact_solref"]), solimp=list(settings["contact_solimp"]),
        )
    obj = world.add_body(name="object", pos=object_translation, quat=_quat_wxyz(object_rotation))
    obj.add_freejoint()
    for i, part in enumerate(parts):
        spec.add_mesh(name=f"part{i}", uservert=np.asarray(part.vertices, dtype=np.float32).ravel().tolist(),
                      userface=np.asarray(part.faces, dtype=np.int32).ravel().tolist())
        obj.add_geom(
            type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"part{i}", density=settings["density"],
            contype=1, conaffinity=2 | 1, condim=4, friction=list(settings["friction"]),
            solref=list(settings["contact_solref"]), solimp=list(settings["contact_solimp"]),
        )
    for s in np.unique(capsules.segment):
        world.add_body(name=f"target{s}", mocap=True)
        seg = world.add_body(name=f"segment{s}", gravcomp=1.0)
        seg.add_freejoint()
        for c in np.flatnonzero(capsules.segment == s):
            seg.add_geom(
                type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[*capsules.start[c], *capsules.end[c]],
                size=[capsules.radius[c], 0.0, 0.0], mass=settings["segment_mass"] / max(1, np.sum(capsules.segment == s)),
                contype=2, conaffinity=0, condim=4, friction=list(settings["friction"]),
                solref=list(settings["contact_solref"]), solimp=list(settings["contact_solimp"]),
            )
        spec.add_equality(
            type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY, name1=f"segment{s}", name2=f"target{s}",
            solref=list(settings["weld_solref"]),
            data=[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0],  # anchor, identity relative pose, torque scale
        )
    return spec.compile()


def simulate(
    parts: list[trimesh.Trimesh],
    object_rotation: np.ndarray,
    object_translation: np.ndarray,
    table_height: float | None,
    capsules: HandCapsules,
    plan_positions: np.ndarray,
    plan_rotations: np.ndarray,
    fps: float,
    substeps: int,
    hold_start: int,
    centre: np.ndarray | None = None,
    stop_on_drop: bool = True,
    **overrides,
) -> SimResult:
    """Run the hand plan and return the object's trajectory.

    Args:
        parts: convex object parts (object frame, metres).
        object_rotation, object_translation: (3, 3), (3,) initial object pose.
        table_height: z of the supporting plane, or None for no table.
        capsules: the hand's capsules.
        plan_positions, plan_rotations: (S, 16, 3), (S, 16, 3, 3) segment poses sampled
            ``substeps`` times per frame: S = (T - 1) * substeps + 1 for T frames.
        fps: frame rate; frame k is at time k / fps.
        substeps: plan samples per frame interval.
        hold_start: first frame where the hand holds the object (drop detection starts there).
        centre: (3,) the point (object frame) whose drift is watched (default: the origin).
        stop_on_drop: end the simulation at a drop (the rest of the trajectory repeats that frame).
        overrides: entries of ``DEFAULTS``.
    """
    settings = dict(DEFAULTS, **overrides)
    num_frames = (len(plan_positions) - 1) // substeps + 1
    plan_dt = 1.0 / (fps * substeps)
    steps_per_sample = max(1, int(round(plan_dt / settings["timestep"])))
    model = build_scene(
        parts, object_rotation, object_translation, table_height, capsules, plan_dt / steps_per_sample, settings
    )
    data = mujoco.MjData(model)
    # per sim step targets: linear in position, normalised-linear in quaternion between plan samples
    quats = _quat_wxyz(plan_rotations)  # (S, 16, 4)
    for i in range(1, len(quats)):  # keep consecutive quaternions on the same hemisphere
        quats[i] *= np.where(np.sum(quats[i] * quats[i - 1], axis=-1) < 0, -1.0, 1.0)[:, None]
    w = (np.arange(steps_per_sample) + 1) / steps_per_sample
    obj_body = model.body("object").id
    segments = np.unique(capsules.segment)  # mocap index k drives segment segments[k]
    plan_positions, quats = plan_positions[:, segments], quats[:, segments]
    for k, s in enumerate(segments):
        adr = model.jnt_qposadr[model.body(f"segment{s}").jntadr[0]]
        data.qpos[adr : adr + 3] = plan_positions[0, k]
        data.qpos[adr + 3 : adr + 7] = quats[0, k]
    data.mocap_pos[:] = plan_positions[0]
    data.mocap_quat[:] = quats[0]
    mujoco.mj_forward(model, data)

    rotation = np.empty((num_frames, 3, 3))
    translation = np.empty((num_frames, 3))
    drift = np.zeros(num_frames)
    rotation[0] = data.xmat[obj_body].reshape(3, 3)
    translation[0] = data.xpos[obj_body]
    rel0 = None
    drop_frame = None
    for i in range(len(plan_positions) - 1):
        for k in range(steps_per_sample):
            data.mocap_pos[:] = (1 - w[k]) * plan_positions[i] + w[k] * plan_positions[i + 1]
            q = (1 - w[k]) * quats[i] + w[k] * quats[i + 1]
            data.mocap_quat[:] = q / np.linalg.norm(q, axis=-1, keepdims=True)
            mujoco.mj_step(model, data)
        if (i + 1) % substeps:
            continue
        f = (i + 1) // substeps
        rotation[f] = data.xmat[obj_body].reshape(3, 3)
        translation[f] = data.xpos[obj_body]
        if f >= hold_start:
            # object origin in the planned palm frame
            point = rotation[f] @ centre + translation[f] if centre is not None else translation[f]
            rel = plan_rotations[i + 1, segments[0]].T @ (point - plan_positions[i + 1, 0])
            rel0 = rel if rel0 is None else rel0
            drift[f] = np.linalg.norm(rel - rel0)
            if drop_frame is None and drift[f] > settings["drop_distance"]:
                drop_frame = f
                if stop_on_drop:
                    rotation[f:], translation[f:], drift[f:] = rotation[f], translation[f], drift[f]
                    break
    # re-orthonormalise MuJoCo's float rotation matrices
    u, _, vt = np.linalg.svd(rotation)
    rotation = u @ vt
    return SimResult(rotation, translation, drop_frame is None, drift, drop_frame)
