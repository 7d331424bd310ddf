"""MuJoCo simulation of joint-actuated hands and free objects on a solid table.

Scene (world z up, gravity -z, SI units):
- the table: a plane at ``table_z`` that collides with the objects and with every hand capsule;
- each object: a free body whose collision shape is its convex parts (``pam.pose.collision``),
  mass from a uniform density, sliding + torsional friction; an object of several parts meets
  the table through their common convex hull (massless): a plane touches an object only on its
  hull, so the support is the same, from a few contacts instead of several per part;
- each hand: the hand model's kinematic tree (``HandRig``): a free wrist body and one body per
  MANO finger joint, placed at the rest-pose joint positions with the rest pose's (identity)
  orientation, exactly as MANO's forward kinematics. A MANO joint's 3-DoF rotation is three
  hinges about the body's x, y, z axes (intrinsic XYZ Euler angles, far from gimbal lock for
  finger joints). Each body has two sets of capsules measured on the hand's skin
  (``pam.pose.hand_geometry``): against objects, capsules nearly as thick as the finger
  (radius: the 30th percentile of the bone-to-skin distances, ``SKIN_PERCENTILE``), so
  the object rests near the shown surface, not on a shell a few millimetres outside it (a fingertip
  capsule's cap ends where the skin does); against the table, capsules that
  enclose most of the skin (``TABLE_PERCENTILE``), so the shown hand stays above the table top.
  Every hinge has a position actuator with a torque limit (``FINGER_TORQUE``, the thumb's
  ``THUMB_STRENGTH`` times as large): fingers commanded past the surface press with at most that
  torque, so the grip comes from torque limits and friction. The wrist is driven towards its
  planned pose by a force- and torque-limited PD controller (the arm); the hand's own weight is
  compensated (the arm carries it), the object's is not.

Read-back: every frame the simulated joint angles become MANO ``hand_pose`` axis-angles and the
wrist body pose becomes ``global_orient``/``transl``, so what is saved and rendered is the
simulated hand, not the plan. Sources of the physical parameters: docs/pose.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from pam.hand.anatomy import KEYPOINT_ORDER, PARENTS
from pam.pose.hand_geometry import FINGER_BONES, HandCapsules

#: Torque limits (N m) of the three joints of a finger, proximal to distal (see docs/pose.md).
FINGER_TORQUE = (2.0, 1.0, 0.5)
#: The thumb's joints are this many times as strong: it opposes the fingers together (see docs/pose.md).
THUMB_STRENGTH = 1.5
#: Kinematic bodies of the thumb's three joints.
_THUMB_BODIES = {KEYPOINT_ORDER[k] for k in (1, 2, 3)}
#: Capsule radius percentiles (of each bone's skin distances) of the hand's object colliders and
#: of its table colliders.
SKIN_PERCENTILE = 30.0
TABLE_PERCENTILE = 85.0

#: Simulation settings (SI units). ``timestep`` is rounded so a whole number of steps fits a plan sample.
DEFAULTS = dict(
    timestep=0.002,
    density=700.0,  # kg/m^3 of the object: YCB masses over their volumes span ~200-1000 (see docs/pose.md)
    friction=(0.9, 0.005, 0.0001),  # sliding, torsional, rolling: finger pad skin on plastic/wood/paper
    table_friction=(0.6, 0.005, 0.0001),  # every contact with the table (its priority: MuJoCo would take the larger)
    contact_solref=(0.004, 1.0),  # time constant (s) and damping ratio of all contacts
    contact_solimp=(0.95, 0.99, 0.001, 0.5, 2.0),
    noslip_iterations=4,  # MuJoCo's no-slip pass after each step: soft contacts otherwise creep under a held load
    hand_density=1100.0,  # kg/m^3, soft tissue and bone
    finger_stiffness=30.0,  # N m / rad of the position servos (reach a proximal joint's torque limit 0.07 rad past target)
    finger_damping=0.04,  # N m s / rad
    armature=2e-4,  # kg m^2: reflected inertia of the finger actuators (muscle-tendon)
    finger_torque=FINGER_TORQUE,
    thumb_strength=THUMB_STRENGTH,  # times ``finger_torque`` at the thumb's joints
    wrist_frequency=4.0,  # Hz: bandwidth of the arm's PD control of the wrist (6 Hz ran stable, gripped no better)
    wrist_force=60.0,  # N: the arm's force limit at the wrist
    wrist_torque=6.0,  # N m: the forearm's torque limit at the wrist
)


def _quat_wxyz(rot: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_quat(scalar_first=True).reshape(*rot.shape[:-2], 4)


def pose_to_euler(hand_pose: np.ndarray) -> np.ndarray:
    """MANO finger axis-angles (..., 45) -> hinge angles (..., 45): intrinsic XYZ Euler per joint."""
    flat = np.asarray(hand_pose, dtype=np.float64).reshape(-1, 3)
    return Rotation.from_rotvec(flat).as_euler("XYZ").reshape(np.shape(hand_pose))


def euler_to_pose(angles: np.ndarray) -> np.ndarray:
    """Hinge angles (..., 45) -> MANO finger axis-angles (..., 45)."""
    flat = np.asarray(angles, dtype=np.float64).reshape(-1, 3)
    return Rotation.from_euler("XYZ", flat).as_rotvec().reshape(np.shape(angles))


@dataclass
class HandRig:
    """The kinematic tree of one hand shape.

    Attributes:
        side: "right" or "left".
        joints: (16, 3) rest-pose kinematic joint positions (wrist first, MANO joint order), metres.
        capsules: (body, start (3,), end (3,), radius) per object collision capsule, in the frame
            of body k = kinematic joint k (0 = wrist), from ``HandCapsules`` (``SKIN_PERCENTILE``).
        table_capsules: the same for the table colliders (``TABLE_PERCENTILE``).
    """

    side: str
    joints: np.ndarray
    capsules: list[tuple[int, np.ndarray, np.ndarray, float]]
    table_capsules: list[tuple[int, np.ndarray, np.ndarray, float]]

    @classmethod
    def from_model(cls, model, betas: np.ndarray | None = None) -> "HandRig":
        sets = [HandCapsules.from_model(model, betas, percentile=p) for p in (SKIN_PERCENTILE, TABLE_PERCENTILE)]
        joints = np.empty((16, 3))
        for keypoint, kin in enumerate(KEYPOINT_ORDER):
            if kin < 16:
                joints[kin] = sets[0].rest_joints[keypoint]
        capsules, table_capsules = (
            [(0 if seg == 0 else KEYPOINT_ORDER[FINGER_BONES[seg - 1][0]], a, b, r)
             for seg, a, b, r in zip(caps.segment, caps.start, caps.end, caps.radius)]
            for caps in sets
        )
        return cls(side=model.side, joints=joints, capsules=capsules, table_capsules=table_capsules)


@dataclass
class HandDrive:
    """Commands for one simulated hand at plan samples (S of them).

    Attributes:
        wrist: (S, 3) world position of the wrist joint.
        rotation: (S, 3, 3) wrist rotation.
        hand_pose: (S, 45) MANO finger joint targets (axis-angle).
        effort: (S,) fraction of the finger torque limits in use (a hand closes gently, then
            grips: grip force is built up only once the fingers are on the object).
        load: (S,) kg the arm expects to carry: its weight is fed forward to the wrist's force
            (people lift with an anticipated load force, Johansson & Westling 1984), so a heavy
            object does not make the wrist sag behind the plan.
        load_point: (3,) where that load hangs (its centre of mass), in the wrist's frame: its
            weight's torque is fed forward too, so the hand does not tip under it.
        push: (S, 3) N the arm adds at the wrist (world frame): two hands holding one object press
            it between them.
    """

    wrist: np.ndarray
    rotation: np.ndarray
    hand_pose: np.ndarray
    effort: np.ndarray | None = None
    load: np.ndarray | None = None
    load_point: np.ndarray | None = None
    push: np.ndarray | None = None


@dataclass
class SimObject:
    """A free object: convex ``parts`` (object frame, metres) at pose ``rotation`` (3, 3), ``translation`` (3,)."""

    parts: list[trimesh.Trimesh]
    rotation: np.ndarray
    translation: np.ndarray
    density: float | None = None  # kg/m^3 (default: the settings' density)


@dataclass
class SimResult:
    """Simulated states at the frame times (T frames, H hands, O objects).

    Attributes:
        object_rotation, object_translation: (O, T, 3, 3), (O, T, 3) object-to-world poses.
        global_orient, hand_pose, transl: (H, T, 3), (H, T, 45), (H, T, 3) MANO parameters of
            the simulated hands (``transl`` for the rig's rest wrist position).
        wrist: (H, T, 3) simulated wrist joint positions.
        contact: (H, O, T) whether any capsule of hand h touches object o at the frame.
        table_contact: (O, T) whether object o touches the table.
        masses: (O,) object masses in kg.
    """

    object_rotation: np.ndarray
    object_translation: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    wrist: np.ndarray
    contact: np.ndarray
    table_contact: np.ndarray
    masses: np.ndarray


# collision bits (MuJoCo pairs geoms when either's contype meets the other's conaffinity): objects'
# convex parts collide with each other and the hands' object capsules, an object's convex hull with
# the table (a plane touches an object only on its hull: the same support, from a few contacts
# instead of several per part); the table also with the hands' table capsules; hands never with hands
_TABLE, _OBJECT, _HAND, _HAND_TABLE, _OBJECT_TABLE = 1, 2, 4, 8, 16


def build_scene(rigs: list[HandRig], objects: list[SimObject], table_z: float | None, timestep: float,
                settings: dict) -> mujoco.MjModel:
    """Compile the scene: hands ``hand{h}`` (bodies ``hand{h}_j{k}``), objects ``object{o}``, the table."""
    spec = mujoco.MjSpec()
    spec.option.timestep = timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.option.noslip_iterations = settings["noslip_iterations"]
    spec.option.gravity = [0.0, 0.0, -9.81]
    contact = dict(solref=list(settings["contact_solref"]), solimp=list(settings["contact_solimp"]))
    world = spec.worldbody
    if table_z is not None:
        world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2.0, 2.0, 0.01], pos=[0.0, 0.0, table_z],
                       contype=_TABLE, conaffinity=_OBJECT_TABLE | _HAND_TABLE, condim=4, priority=1,
                       friction=list(settings["table_friction"]), **contact)
    for o, obj in enumerate(objects):
        body = world.add_body(name=f"object{o}", pos=obj.translation, quat=_quat_wxyz(obj.rotation))
        body.add_freejoint()
        convex = len(obj.parts) == 1  # its own hull: it meets the table itself
        for i, part in enumerate(obj.parts):
            spec.add_mesh(name=f"object{o}_part{i}", uservert=np.asarray(part.vertices, dtype=np.float32).ravel().tolist(),
                          userface=np.asarray(part.faces, dtype=np.int32).ravel().tolist())
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"object{o}_part{i}",
                          density=settings["density"] if obj.density is None else obj.density,
                          contype=_OBJECT | (_OBJECT_TABLE if convex else 0),
                          conaffinity=_OBJECT | _HAND, condim=4, friction=list(settings["friction"]), **contact)
        if convex:
            continue
        hull = trimesh.convex.convex_hull(np.concatenate([np.asarray(p.vertices) for p in obj.parts]))
        spec.add_mesh(name=f"object{o}_hull", uservert=np.asarray(hull.vertices, dtype=np.float32).ravel().tolist(),
                      userface=np.asarray(hull.faces, dtype=np.int32).ravel().tolist())
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"object{o}_hull", density=0.0, contype=_OBJECT_TABLE,
                      conaffinity=0, condim=4, friction=list(settings["friction"]), **contact)
    for h, rig in enumerate(rigs):
        bodies = [world.add_body(name=f"hand{h}_j0", pos=rig.joints[0], gravcomp=1.0)]
        bodies[0].add_freejoint()
        for k in range(1, 16):
            parent = PARENTS[k]
            body = bodies[parent].add_body(name=f"hand{h}_j{k}", pos=rig.joints[k] - rig.joints[parent], gravcomp=1.0)
            level = (k - 1) % 3  # 0 proximal .. 2 distal
            for a, axis in enumerate(np.eye(3)):
                name = f"hand{h}_j{k}_{'xyz'[a]}"
                body.add_joint(name=name, type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis, armature=settings["armature"])
                kp, kv = settings["finger_stiffness"], settings["finger_damping"]
                limit = settings["finger_torque"][level] * (settings["thumb_strength"] if k in _THUMB_BODIES else 1.0)
                spec.add_actuator(
                    name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                    gaintype=mujoco.mjtGain.mjGAIN_FIXED, gainprm=[kp] + [0] * 9,
                    biastype=mujoco.mjtBias.mjBIAS_AFFINE, biasprm=[0, -kp, -kv] + [0] * 7,
                    forcelimited=1, forcerange=[-limit, limit],
                )
            bodies.append(body)
        for capsules, bit, touches, density in ((rig.capsules, _HAND, _OBJECT, settings["hand_density"]),
                                                (rig.table_capsules, _HAND_TABLE, _TABLE, 0.0)):
            for body, a, b, r in capsules:
                bodies[body].add_geom(
                    type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[*a, *b], size=[r, 0, 0], density=density,
                    contype=bit, conaffinity=touches, condim=4, friction=list(settings["friction"]), **contact,
                )
    return spec.compile()


def settle(objects: list[SimObject], table_z: float | None, seconds: float = 0.6, **overrides) -> list[SimObject]:
    """The objects after ``seconds`` on the table with no hand: a pose that is not at rest (a
    curved object on its lowest point) rocks into one. Parts are unchanged; poses are updated."""
    settings = dict(DEFAULTS, **overrides)
    model = build_scene([], objects, table_z, settings["timestep"], settings)
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=int(round(seconds / settings["timestep"])))
    out = []
    for o, obj in enumerate(objects):
        b = model.body(f"object{o}").id
        u, _, vt = np.linalg.svd(data.xmat[b].reshape(3, 3))
        out.append(SimObject(obj.parts, u @ vt, data.xpos[b].copy(), obj.density))
    return out


class _Wrist:
    """Force- and torque-limited PD control of a free wrist body towards a target pose.

    Gains from the hand's mass ``m`` (and ``m r^2`` with a 6 cm radius of gyration) for a
    critically damped response at ``wrist_frequency``; the planned velocity and angular velocity are fed
    forward (without the angular one, a wrist turning at 3 rad/s lagged its plan by 13 degrees).
    """

    GYRATION = 0.06  # m

    def __init__(self, model: mujoco.MjModel, body: int, settings: dict):
        self.body = body
        self.dof = int(model.jnt_dofadr[model.body_jntadr[body]])  # the free joint's 6 velocities
        mass = float(model.body_subtreemass[body])
        inertia = mass * self.GYRATION**2
        omega = 2.0 * np.pi * settings["wrist_frequency"]
        self.kp, self.kd = mass * omega**2, 2.0 * mass * omega
        self.kr, self.kw = inertia * omega**2, 2.0 * inertia * omega
        self.force, self.torque = settings["wrist_force"], settings["wrist_torque"]
        self.lift = -np.asarray(model.opt.gravity)  # (3,) m/s^2: the force per kg that carries a weight
        self._err = np.zeros(3)

    def apply(self, data: mujoco.MjData, pos: np.ndarray, quat: np.ndarray, vel: np.ndarray, spin: np.ndarray,
              load: float = 0.0, load_point: np.ndarray | None = None, push: np.ndarray | None = None) -> None:
        """Set the wrist wrench for target position ``pos`` (3,), ``quat`` (4,) wxyz, velocity ``vel`` (3,),
        angular velocity ``spin`` (3,, body frame) and an expected carried mass ``load`` (kg) hanging at
        ``load_point`` (3,, wrist frame; None: at the wrist): its weight and that weight's torque are fed forward,
        and so is a force ``push`` (3,) N."""
        qvel = data.qvel[self.dof : self.dof + 6]  # free joint: world linear, body-frame angular velocity
        rot = data.xmat[self.body].reshape(3, 3)
        carry = self.lift * load
        force = self.kp * (pos - data.xpos[self.body]) + self.kd * (vel - qvel[:3]) + carry
        if push is not None:
            force = force + push
        mujoco.mju_subQuat(self._err, quat, data.xquat[self.body])  # in the body frame
        torque = rot @ (self.kr * self._err + self.kw * (spin - qvel[3:]))
        if load_point is not None:  # the force acts at the body's centre of mass; the load hangs elsewhere
            r = rot @ load_point + data.xpos[self.body] - data.xipos[self.body]
            # r x carry, written out: np.cross costs ~100 us, and this runs at every step
            torque += (r[1] * carry[2] - r[2] * carry[1], r[2] * carry[0] - r[0] * carry[2], r[0] * carry[1] - r[1] * carry[0])
        data.xfrc_applied[self.body, :3] = _clip_norm(force, self.force)
        data.xfrc_applied[self.body, 3:] = _clip_norm(torque, self.torque)


def _clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = math.sqrt(float(v @ v))  # np.linalg.norm costs 4 times as much on a 3-vector, at every step
    return v if n <= limit else v * (limit / n)


def _body_spin(rotations: np.ndarray, dt: float) -> np.ndarray:
    """(S, 3) body-frame angular velocities (rad/s) of rotations (S, 3, 3) sampled every ``dt`` s (central
    differences, one-sided at the ends, as ``np.gradient``)."""
    if len(rotations) < 2:
        return np.zeros((len(rotations), 3))
    step = Rotation.from_matrix(np.swapaxes(rotations[:-1], 1, 2) @ rotations[1:]).as_rotvec() / dt  # (S - 1, 3)
    return np.concatenate([step[:1], 0.5 * (step[:-1] + step[1:]), step[-1:]])


def _hemisphere(quats: np.ndarray) -> np.ndarray:
    """Consecutive quaternions (S, 4) on the same hemisphere."""
    quats = quats.copy()
    for i in range(1, len(quats)):
        if quats[i] @ quats[i - 1] < 0:
            quats[i] = -quats[i]
    return quats


def simulate(
    rigs: list[HandRig],
    drives: list[HandDrive],
    objects: list[SimObject],
    table_z: float | None,
    fps: float,
    substeps: int,
    monitor=None,
    **overrides,
) -> SimResult:
    """Drive the hands along their commands and record hands and objects at every frame.

    Args:
        rigs, drives: one rig and one command sequence per hand; drives have S = (T - 1) *
            ``substeps`` + 1 samples for T frames.
        objects: the free objects at their initial poses.
        table_z: world z of the table top, or None for no table.
        fps: frame rate; frame k is at time k / fps.
        substeps: command samples per frame interval.
        monitor: optional ``monitor(frame, object_rotation, object_translation, wrist_rotation,
            wrist) -> bool`` called with the (O or H, frame + 1, ...) states so far; True ends the
            simulation there (the remaining frames repeat that state).
        overrides: entries of ``DEFAULTS``.
    """
    settings = dict(DEFAULTS, **overrides)
    samples = len(drives[0].wrist)
    num_frames = (samples - 1) // substeps + 1
    plan_dt = 1.0 / (fps * substeps)
    steps = max(1, int(round(plan_dt / settings["timestep"])))
    model = build_scene(rigs, objects, table_z, plan_dt / steps, settings)
    data = mujoco.MjData(model)
    H, O = len(rigs), len(objects)
    wrists = [_Wrist(model, model.body(f"hand{h}_j0").id, settings) for h in range(H)]
    roots = [model.body(f"hand{h}_j0").id for h in range(H)]
    qadr = [model.jnt_qposadr[model.body(f"hand{h}_j0").jntadr[0]] for h in range(H)]
    hinge_q = [np.array([model.jnt_qposadr[model.joint(f"hand{h}_j{k}_{a}").id] for k in range(1, 16) for a in "xyz"])
               for h in range(H)]
    act = [np.array([model.actuator(f"hand{h}_j{k}_{a}").id for k in range(1, 16) for a in "xyz"]) for h in range(H)]
    obj_bodies = [model.body(f"object{o}").id for o in range(O)]
    quats = [_hemisphere(_quat_wxyz(d.rotation)) for d in drives]
    targets = [pose_to_euler(d.hand_pose) for d in drives]
    for t in targets:  # unwrap so interpolated targets never jump by 2 pi
        t[:] = np.unwrap(t, axis=0)
    velocity = [np.gradient(d.wrist, plan_dt, axis=0) for d in drives]
    spin = [_body_spin(d.rotation, plan_dt) for d in drives]
    for h, d in enumerate(drives):
        data.qpos[qadr[h] : qadr[h] + 3] = d.wrist[0]
        data.qpos[qadr[h] + 3 : qadr[h] + 7] = quats[h][0]
        data.qpos[hinge_q[h]] = targets[h][0]
    mujoco.mj_forward(model, data)
    hand_geom = np.full(model.ngeom, -1)
    obj_geom = np.full(model.ngeom, -1)
    for g in range(model.ngeom):
        body = int(model.geom_bodyid[g])
        root = int(model.body_rootid[body])
        for h in range(H):
            hand_geom[g] = h if root == roots[h] else hand_geom[g]
        for o in range(O):
            obj_geom[g] = o if body == obj_bodies[o] else obj_geom[g]
    table = model.geom("table").id if table_z is not None else -2

    rot = np.empty((O, num_frames, 3, 3))
    trans = np.empty((O, num_frames, 3))
    wrist_rot = np.empty((H, num_frames, 3, 3))
    wrist = np.empty((H, num_frames, 3))
    angles = np.empty((H, num_frames, 45))
    contact = np.zeros((H, O, num_frames), dtype=bool)
    table_contact = np.zeros((O, num_frames), dtype=bool)

    def record(f: int) -> None:
        for o, b in enumerate(obj_bodies):
            rot[o, f] = data.xmat[b].reshape(3, 3)
            trans[o, f] = data.xpos[b]
        for h, b in enumerate(roots):
            wrist_rot[h, f] = data.xmat[b].reshape(3, 3)
            wrist[h, f] = data.xpos[b]
            angles[h, f] = data.qpos[hinge_q[h]]
        pairs = data.contact.geom[: data.ncon]  # (ncon, 2) geom ids
        for a, b in (pairs.T, pairs[:, ::-1].T):
            touch = (hand_geom[a] >= 0) & (obj_geom[b] >= 0)
            contact[hand_geom[a[touch]], obj_geom[b[touch]], f] = True
            on_table = (a == table) & (obj_geom[b] >= 0)
            table_contact[obj_geom[b[on_table]], f] = True

    record(0)
    w = (np.arange(steps) + 1) / steps
    full_range = model.actuator_forcerange.copy()
    effort = [np.ones(samples) if d.effort is None else np.asarray(d.effort, dtype=np.float64) for d in drives]
    load = [np.zeros(samples) if d.load is None else np.asarray(d.load, dtype=np.float64) for d in drives]

    def per_step(x: np.ndarray) -> np.ndarray:
        """Samples (S, ...) -> linear interpolation at every physics step (S - 1, steps, ...)."""
        x = np.asarray(x, dtype=np.float64)
        shape = (1, steps) + (1,) * (x.ndim - 1)
        return (1 - w).reshape(shape) * x[:-1, None] + w.reshape(shape) * x[1:, None]

    commands = []  # per hand, per step: the wrist's position, orientation, velocity, load and push, the finger targets
    for h, d in enumerate(drives):
        q = per_step(quats[h])
        commands.append((per_step(d.wrist), q / np.linalg.norm(q, axis=-1, keepdims=True), per_step(velocity[h]),
                         per_step(spin[h]), per_step(load[h]), None if d.push is None else per_step(d.push),
                         per_step(targets[h])))
    for i in range(samples - 1):
        for h in range(H):
            model.actuator_forcerange[act[h]] = full_range[act[h]] * max(effort[h][i + 1], 1e-3)
        for k in range(steps):
            for h in range(H):
                pos, quat, vel, turn, carried, push, ctrl = commands[h]
                wrists[h].apply(data, pos[i, k], quat[i, k], vel[i, k], turn[i, k], carried[i, k],
                                drives[h].load_point, None if push is None else push[i, k])
                data.ctrl[act[h]] = ctrl[i, k]
            mujoco.mj_step(model, data)
        if (i + 1) % substeps == 0:
            f = (i + 1) // substeps
            record(f)
            if monitor is not None and monitor(f, rot[:, : f + 1], trans[:, : f + 1], wrist_rot[:, : f + 1], wrist[:, : f + 1]):
                for arr in (rot, trans, wrist_rot, wrist, angles):
                    arr[:, f + 1 :] = arr[:, f : f + 1]
                break
    u, _, vt = np.linalg.svd(rot)  # re-orthonormalise MuJoCo's float rotation matrices
    rot = u @ vt
    u, _, vt = np.linalg.svd(wrist_rot)
    wrist_rot = u @ vt
    masses = np.array([model.body_subtreemass[b] for b in obj_bodies])
    rest = np.stack([r.joints[0] for r in rigs])[:, None]
    return SimResult(
        object_rotation=rot, object_translation=trans,
        global_orient=Rotation.from_matrix(wrist_rot.reshape(-1, 3, 3)).as_rotvec().reshape(H, num_frames, 3),
        hand_pose=euler_to_pose(angles), transl=wrist - rest, wrist=wrist,
        contact=contact, table_contact=table_contact, masses=masses,
    )
