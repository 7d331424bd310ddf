"""The simulated hand (joint-actuated MuJoCo tree read back into MANO) against forward kinematics and
physics: the table stops a hand pressed down on it, grip comes from friction and torque limits (a
frictionless box or a 10x heavier one drops, a light one is held, not crushed); convex decomposition."""

import importlib.metadata

import mujoco
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from pam.hand import OpenHand
from pam.hand.anatomy import KEYPOINT_ORDER
from pam.pose import generate as G
from pam.pose import physics
from pam.pose.collision import closed_mesh, convex_parts, is_convex
from pam.pose.hand_geometry import HandCapsules, PosedHand, minimal_rotation
from pam.pose.keyframes import default_keyframes, hand_preset
from pam.pose.sdf import ObjectSDF
from pam.rotations import axis_angle_to_matrix_np

HAND = OpenHand("right")
PALM_DOWN = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # fingers +y, palm -z


def _box():
    """A 4 x 4 x 6 cm box whose frame origin is off its centre (bottom face at z = 0)."""
    box = trimesh.creation.box([0.04, 0.04, 0.06])
    box.apply_translation([0.01, 0.0, 0.03])
    return box


def test_euler_hinges_round_trip_mano_axis_angles():
    pose = np.random.default_rng(0).normal(scale=0.6, size=(4, 45))
    np.testing.assert_allclose(physics.euler_to_pose(physics.pose_to_euler(pose)), pose, atol=1e-10)


def test_simulated_tree_is_mano_forward_kinematics():
    """Bodies posed by hinge angles sit where the hand model puts its joints for the same MANO pose."""
    hand = PosedHand(HAND)
    rig = physics.HandRig.from_model(HAND)
    model = physics.build_scene([rig], [], None, 0.002, dict(physics.DEFAULTS))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(1)
    pose = rng.normal(scale=0.4, size=45)
    orient, wrist = np.array([0.3, -1.1, 0.4]), np.array([0.1, -0.2, 0.3])
    data.qpos[:3] = wrist
    data.qpos[3:7] = physics._quat_wxyz(axis_angle_to_matrix_np(orient))
    data.qpos[7:] = physics.pose_to_euler(pose)
    mujoco.mj_kinematics(model, data)
    _, joints = hand(orient[None], pose[None], (wrist - hand.wrist)[None])
    for keypoint, kin in enumerate(KEYPOINT_ORDER):
        if kin < 16:
            np.testing.assert_allclose(data.xpos[model.body(f"hand0_j{kin}").id], joints[0, keypoint], atol=1e-9)


def test_the_thumb_is_stronger_than_a_finger():
    """Every finger joint's actuator is limited to ``FINGER_TORQUE`` by level (proximal .. distal);
    the thumb's three joints to ``THUMB_STRENGTH`` (1.5) times that, in the compiled simulator."""
    model = physics.build_scene([physics.HandRig.from_model(HAND)], [], None, 0.002, dict(physics.DEFAULTS))
    assert physics.THUMB_STRENGTH == 1.5
    for finger in range(5):
        for level in range(3):
            kin = KEYPOINT_ORDER[1 + 4 * finger + level]
            want = physics.FINGER_TORQUE[level] * (1.5 if finger == 0 else 1.0)
            for axis in "xyz":
                np.testing.assert_allclose(model.actuator_forcerange[model.actuator(f"hand0_j{kin}_{axis}").id], [-want, want])


def _press_down(table_z):
    """A flat, palm-down hand driven from 5 cm above the table to 5 cm below it."""
    rig = physics.HandRig.from_model(HAND)
    hand = PosedHand(HAND)
    samples = 15 * 4 + 1
    s = np.linspace(0.0, 1.0, samples)
    wrist = np.stack([0 * s, 0 * s, 0.07 - 0.12 * s], axis=1)
    drive = physics.HandDrive(wrist, np.tile(PALM_DOWN, (samples, 1, 1)), np.zeros((samples, 45)))
    res = physics.simulate([rig], [drive], [], table_z, 15.0, 4)
    verts, _ = hand(res.global_orient[0], res.hand_pose[0], res.transl[0])
    return verts[..., 2].min(axis=1)


def test_a_hand_pressed_down_stops_at_the_table():
    lowest = _press_down(table_z=0.0)
    assert lowest[-1] > -0.004  # the skin may sink by the capsules' softness, not through the table
    assert lowest[-1] < 0.01  # it did come down onto it
    free = _press_down(table_z=None)  # the same command without a table goes through
    assert free[-1] < -0.03


def test_the_wrist_feeds_forward_its_loads_weight_and_torque():
    """Closed form: a hand at rest at its target pose, expecting 0.5 kg 10 cm along its wrist's x
    axis, is pushed up by exactly that weight at its centre of mass and turned by exactly that
    weight's torque about it (so a held object does not tip the hand)."""
    rig = physics.HandRig.from_model(HAND)
    model = physics.build_scene([rig], [], None, 0.002, dict(physics.DEFAULTS))
    data = mujoco.MjData(model)
    data.qpos[3:7] = physics._quat_wxyz(PALM_DOWN)
    mujoco.mj_forward(model, data)
    body = model.body("hand0_j0").id
    wrist = physics._Wrist(model, body, dict(physics.DEFAULTS))
    point = np.array([0.1, 0.0, 0.0])
    wrist.apply(data, data.xpos[body].copy(), data.xquat[body].copy(), np.zeros(3), np.zeros(3), 0.5, point)
    weight = np.array([0.0, 0.0, 0.5 * 9.81])
    np.testing.assert_allclose(data.xfrc_applied[body, :3], weight, atol=1e-9)
    lever = PALM_DOWN @ point + data.xpos[body] - data.xipos[body]
    np.testing.assert_allclose(data.xfrc_applied[body, 3:], np.cross(lever, weight), atol=1e-9)


def test_a_turning_wrist_keeps_up_with_its_plan():
    """A palm-down hand commanded to turn about the vertical at a steady 3 rad/s follows within a degree
    once started: the planned angular velocity is fed forward. (Without it this hand lagged by 13 degrees,
    and a fast reach's fingers swept up to 7 cm off their planned path and knocked objects over.)"""
    rig = physics.HandRig.from_model(HAND)
    samples = 15 * 4 + 1  # 1 s at 15 fps, 4 samples per frame
    angle = 3.0 * np.linspace(0.0, 1.0, samples)
    turn = Rotation.from_rotvec(angle[:, None] * [0.0, 0.0, 1.0]).as_matrix() @ PALM_DOWN
    drive = physics.HandDrive(np.tile([0.0, 0.0, 0.2], (samples, 1)), turn, np.zeros((samples, 45)))
    res = physics.simulate([rig], [drive], [], None, 15.0, 4)
    reached = axis_angle_to_matrix_np(res.global_orient[0])
    lag = [np.degrees(Rotation.from_matrix(reached[f].T @ turn[4 * f]).magnitude()) for f in (8, 11, 15)]
    assert max(lag) < 1.0, lag


def _cup_parts():
    """A 10 x 10 cm open cup of five 5 mm plates (a base and four walls), bottom at z = 0: five convex parts."""
    plates = [([0.1, 0.1, 0.005], [0.0, 0.0, 0.0025])]
    for x, y in ((0.0475, 0.0), (-0.0475, 0.0), (0.0, 0.0475), (0.0, -0.0475)):
        size = [0.005, 0.1, 0.06] if x else [0.1, 0.005, 0.06]
        plates.append((size, [x, y, 0.035]))
    parts = []
    for size, centre in plates:
        part = trimesh.creation.box(size)
        part.apply_translation(centre)
        parts.append(part)
    return parts


def test_an_object_of_several_parts_rests_on_the_table_through_its_hull():
    """An upside-down cup of five convex parts: its weight is the parts' volume times the density
    (the hull that meets the table adds no mass), it settles on its rim at the table top, and the
    table holds it with a few contacts on the hull, not several per part."""
    parts = _cup_parts()
    flip = trimesh.transformations.rotation_matrix(np.pi, [1.0, 0.0, 0.0])[:3, :3]
    cup = physics.SimObject(parts, flip, np.array([0.0, 0.0, 0.0652]), density=500.0)
    model = physics.build_scene([], [cup], 0.0, 0.002, dict(physics.DEFAULTS))
    volume = sum(p.volume for p in parts)
    assert model.body_subtreemass[model.body("object0").id] == pytest.approx(500.0 * volume, rel=1e-6)
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=300)
    body = model.body("object0").id
    rim = data.xpos[body][2] - 0.065  # the rim of the upside-down cup (object z = 0.065)
    assert abs(rim) < 0.001
    on_table = [c for c in data.contact[: data.ncon] if model.geom("table").id in (c.geom1, c.geom2)]
    assert 0 < len(on_table) <= 8
    assert all(model.geom_dataid[c.geom1 + c.geom2 - model.geom("table").id] == model.mesh("object0_hull").id
               for c in on_table)
    np.testing.assert_allclose(data.qvel[:6], 0.0, atol=1e-3)  # at rest


def test_an_object_slides_on_the_table_at_the_tables_friction():
    """Coulomb: a box on the table pushed sideways with 0.5 of its weight stays put, with 0.75 it slides
    (the table's friction, 0.6, decides between the two, not the finger pads' 0.9 on the object)."""
    box = trimesh.creation.box([0.04, 0.04, 0.04])
    moved = []
    for share in (0.5, 0.75):
        model = physics.build_scene([], [physics.SimObject([box], np.eye(3), np.array([0.0, 0.0, 0.02]))], 0.0, 0.002,
                                    dict(physics.DEFAULTS))
        data = mujoco.MjData(model)
        body = model.body("object0").id
        mujoco.mj_step(model, data, nstep=100)  # settle
        start = data.xpos[body].copy()
        weight = model.body_subtreemass[body] * 9.81
        data.xfrc_applied[body, 0] = share * weight  # pushed through the centre of mass for 0.5 s
        mujoco.mj_step(model, data, nstep=250)
        moved.append(data.xpos[body][0] - start[0])
    assert physics.DEFAULTS["table_friction"][0] == 0.6
    assert abs(moved[0]) < 0.001
    assert moved[1] == pytest.approx(0.5 * (0.75 - 0.6) * 9.81 * 0.5**2, rel=0.1)  # at (0.75 - 0.6) g for 0.5 s


def test_a_pushing_arm_holds_the_hand_off_its_target_by_force_over_stiffness():
    """Closed form: a free hand (no table, no object) commanded to stay put while its arm pushes with
    a constant 2 N settles where the wrist's spring balances the push: 2 N / kp along the push, with
    kp = m (2 pi f)^2 from the hand's mass m and the wrist's bandwidth f."""
    rig = physics.HandRig.from_model(HAND)
    samples = 4 * 30 + 1  # 2 s at 15 fps
    push = np.tile([2.0, 0.0, 0.0], (samples, 1))
    drive = physics.HandDrive(np.zeros((samples, 3)), np.tile(PALM_DOWN, (samples, 1, 1)), np.zeros((samples, 45)),
                              push=push)
    res = physics.simulate([rig], [drive], [], None, 15.0, 4)
    model = physics.build_scene([rig], [], None, 0.002, dict(physics.DEFAULTS))
    kp = model.body_subtreemass[model.body("hand0_j0").id] * (2 * np.pi * physics.DEFAULTS["wrist_frequency"]) ** 2
    np.testing.assert_allclose(res.wrist[0, -1], [2.0 / kp, 0.0, 0.0], atol=2e-4)


@pytest.fixture(scope="module")
def box_grasp():
    """A simulated box grasp: the chosen candidate's commands, the box's parts and its pose."""
    box = trimesh.creation.box([0.05, 0.07, 0.09])
    box.apply_translation([0.0, 0.0, 0.045])
    h0, _, hT = default_keyframes("box")
    seq = G.generate_trajectory(h0, box, np.eye(4), hT, seed=0, hand_model=HAND)
    hand = PosedHand(HAND)
    prep = G._prepare(G.SceneObject("object", box, np.eye(4)))
    rest = physics.settle([physics.SimObject(prep.parts, np.eye(3), np.zeros(3))], 0.0)[0]
    prep = G._prepare(G.SceneObject("object", box, G._rigid(rest.rotation, rest.translation)), parts=prep.parts)
    ranked = list(G._candidates(hand, G.HandTask(h0, hT), prep, 0.0, 49, 15.0, np.random.default_rng(0), "h0", None))
    rank, cand, reason = ranked[seq.meta["pose"]["attempt"]]
    assert reason is None
    return cand, prep, seq


def _carry(box_grasp, **overrides):
    """Re-simulate the chosen commands (default density 700 kg/m^3, the box then weighs 0.22 kg)."""
    cand, prep, _ = box_grasp
    obj = physics.settle([physics.SimObject(prep.parts, np.eye(3), np.zeros(3))], 0.0)
    return physics.simulate([physics.HandRig.from_model(HAND)], [cand.drive], obj, 0.0, 15.0, G.SUBSTEPS, **overrides)


def test_the_saved_sequence_is_the_simulation(box_grasp):
    cand, prep, seq = box_grasp
    res = _carry(box_grasp)
    np.testing.assert_allclose(seq.hands[0].hand_pose, res.hand_pose[0], atol=1e-6)
    np.testing.assert_allclose(seq.objects[0].translation, res.object_translation[0], atol=1e-6)
    assert seq.meta["pose"]["simulated"] and seq.meta["pose"]["table_z"] == 0.0
    # provenance: which simulator made it (checked against the installed distribution's metadata)
    assert seq.meta["pose"]["versions"]["mujoco"] == importlib.metadata.version("mujoco")


def _left_behind(res, grip):
    """How far (m) the object's centre falls behind the wrist from the grip to the end."""
    rel = res.object_translation[0] - res.wrist[0]
    return float(np.linalg.norm(rel[-1] - rel[grip]))


def test_grip_comes_from_friction_and_torque_limits(box_grasp):
    grip = box_grasp[0].grip_frame
    lifted = _carry(box_grasp)
    assert lifted.object_translation[0, -1, 2] > 0.1 and _left_behind(lifted, grip) < 0.02  # carried 15 cm up
    frictionless = _carry(box_grasp, friction=(0.0, 0.0, 0.0))
    assert frictionless.object_translation[0, -1, 2] < 0.05 and _left_behind(frictionless, grip) > 0.1  # slips out
    # 10x heavier than it looks: the grip planned for its look cannot hold it, it slides out
    heavy = _carry(box_grasp, density=7000.0)
    assert heavy.object_translation[0, -1, 2] < 0.05 and _left_behind(heavy, grip) > 0.1


def test_a_light_object_is_held_not_crushed(box_grasp):
    cand, prep, _ = box_grasp
    light = _carry(box_grasp, density=10.0)  # 3 g
    assert light.object_translation[0, -1, 2] > 0.1
    hand = PosedHand(HAND)
    verts, _ = hand(light.global_orient[0], light.hand_pose[0], light.transl[0])
    local = np.einsum("tji,tvj->tvi", light.object_rotation[0], verts - light.object_translation[0][:, None])
    depth = -ObjectSDF(prep.obj.mesh)(local).min(axis=1)
    assert depth.max() < 0.005  # the fingers rest on the surface; they do not squeeze through


def test_minimal_rotation_maps_a_to_b():
    rng = np.random.default_rng(0)
    a = np.array([0.0, 0.0, 1.0])
    b = rng.normal(size=(5, 3))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    R = minimal_rotation(a, b)
    np.testing.assert_allclose(R @ a, b, atol=1e-12)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.tile(np.eye(3), (5, 1, 1)), atol=1e-12)
    axis = np.cross(a, b)  # the rotation axis is a x b: it stays fixed
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, axis), axis, atol=1e-12)


def test_convex_mesh_is_its_own_hull():
    box = _box()
    assert is_convex(box)
    parts = convex_parts(box)
    assert len(parts) == 1 and parts[0].volume == pytest.approx(box.volume)


def test_non_convex_mesh_is_decomposed_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    a = trimesh.creation.box([0.1, 0.02, 0.02])
    b = trimesh.creation.box([0.02, 0.1, 0.02])
    b.apply_translation([0.04, 0.04, 0.0])
    ell = trimesh.boolean.union([a, b], engine="manifold")
    assert not is_convex(ell)
    parts = convex_parts(ell)
    assert len(parts) >= 2 and all(is_convex(p) for p in parts)
    assert sum(p.volume for p in parts) == pytest.approx(ell.volume, rel=0.15)
    cached = list((tmp_path / "cache" / "coacd").glob("*.npz"))
    assert len(cached) == 1
    again = convex_parts(ell)
    assert [len(p.vertices) for p in again] == [len(p.vertices) for p in parts]


def test_a_decomposition_standing_out_of_the_mesh_is_refined(tmp_path, monkeypatch):
    """The banana (a curved tube): the fast settings give 2 parts that fill its inner curve. The parts
    kept must lie within the surface tolerance of the mesh, measured at points on their faces with
    trimesh's own signed distance (positive inside; the parts' vertices are the mesh's own)."""
    from pam.objects import load_object
    from pam.pose import collision

    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    banana = load_object("banana")
    with monkeypatch.context() as m:
        m.setattr(collision, "MIN_THRESHOLD", collision.FAST_SETTINGS["threshold"])  # no refinement
        coarse = convex_parts(banana, name="banana", cache=False)
    parts = convex_parts(banana, name="banana")

    def outside(ps):
        points = [trimesh.sample.sample_surface_even(p, 300, seed=1)[0] for p in ps]
        return -min(trimesh.proximity.signed_distance(banana, x).min() for x in points)

    assert outside(coarse) > collision.SURFACE_TOLERANCE  # what the refinement is for
    assert outside(parts) <= collision.SURFACE_TOLERANCE
    assert len(parts) > len(coarse)


def test_open_mesh_is_closed_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    box = _box()
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-2])
    with pytest.warns(UserWarning, match="not watertight"):
        parts = convex_parts(open_box, name="open box")
    assert len(parts) == 1 and parts[0].volume == pytest.approx(box.volume)


def test_mesh_with_unfillable_holes_falls_back_to_its_hull():
    sphere = trimesh.creation.icosphere(2, 0.03)
    keep = sphere.vertices[sphere.faces].mean(axis=1)[:, 2] < 0.02  # cut a big cap off
    bowl = trimesh.Trimesh(sphere.vertices, sphere.faces[keep])
    with pytest.warns(UserWarning, match="convex hull"):
        parts = convex_parts(bowl, name="cut sphere")
    assert len(parts) == 1 and parts[0].is_watertight


def test_closed_mesh_keeps_overlapping_parts_inside():
    a = trimesh.creation.box([0.1, 0.02, 0.02])
    b = trimesh.creation.box([0.02, 0.1, 0.02])
    b.apply_translation([0.04, 0.04, 0.0])
    ell = trimesh.boolean.union([a, b], engine="manifold")
    with pytest.warns(UserWarning, match="filling its holes"):
        closed = closed_mesh(trimesh.Trimesh(ell.vertices, ell.faces[:-1]), name="open ell")
    assert closed.is_watertight
    assert ObjectSDF(closed)(np.array([[0.04, 0.0, 0.0]]))[0] == pytest.approx(-0.01, abs=1e-4)


def test_capsules_follow_the_posed_bones():
    from pam.hand import OpenHand
    from pam.pose.hand_geometry import FINGER_BONES, TIPS, PosedHand

    hand = PosedHand(OpenHand("right"))
    caps = HandCapsules.from_model(hand.model)
    rng = np.random.default_rng(0)
    go, pose, tr = rng.normal(scale=0.5, size=(3, 3)), rng.normal(scale=0.3, size=(3, 45)), rng.normal(size=(3, 3))
    _, joints = hand(go, pose, tr)
    pos, rot = caps.segment_poses(joints, go)
    for c in np.flatnonzero(caps.segment > 0):
        parent, child = FINGER_BONES[caps.segment[c] - 1]
        start = np.einsum("nij,j->ni", rot[:, caps.segment[c]], caps.start[c]) + pos[:, caps.segment[c]]
        end = np.einsum("nij,j->ni", rot[:, caps.segment[c]], caps.end[c]) + pos[:, caps.segment[c]]
        np.testing.assert_allclose(start, joints[:, parent], atol=1e-9)
        expected = joints[:, child]
        if child in TIPS:  # pulled in along the bone by the radius and by how far the tip joint lies beyond the skin
            bone = joints[:, child] - joints[:, parent]
            pull = caps.radius[c] + caps.tip_inset[TIPS.index(child)]
            expected = expected - pull * bone / np.linalg.norm(bone, axis=1, keepdims=True)
        np.testing.assert_allclose(end, expected, atol=1e-9)
    # the palm segment moves rigidly with the wrist
    np.testing.assert_allclose(pos[:, 0], joints[:, 0], atol=1e-12)
    assert np.all((caps.radius > 0.004) & (caps.radius < 0.03))


@pytest.mark.parametrize("percentile,betas", [(30.0, None), (85.0, None), (30.0, np.linspace(-1.5, 1.5, 10))])
def test_a_fingertip_capsule_ends_where_the_skin_ends(percentile, betas):
    """The OpenHand's fingertip joints lie about 2 mm beyond its skin; a distal capsule's end cap
    (its end plus its radius along the bone) ends on the skin's surface, within 0.3 mm by the
    closest-point distance to the flat hand's mesh (not the ray cast the capsules are measured with)."""
    import torch
    import trimesh

    from pam.hand import OpenHand
    from pam.pose.hand_geometry import FINGER_BONES, TIPS

    model = OpenHand("right")
    caps = HandCapsules.from_model(model, betas, percentile=percentile)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 45, dtype=torch.float64),
                    betas=None if betas is None else torch.as_tensor(betas).reshape(1, 10))
    skin = trimesh.Trimesh(out.vertices[0].numpy(), model.faces, process=False)
    joints = out.joints[0].numpy()
    assert np.all((caps.tip_inset > 0.001) & (caps.tip_inset < 0.003))
    for c in np.flatnonzero(caps.segment > 0):
        parent, child = FINGER_BONES[caps.segment[c] - 1]
        if child not in TIPS:
            continue
        bone = (joints[child] - joints[parent]) / np.linalg.norm(joints[child] - joints[parent])
        far = joints[parent] + caps.end[c] + caps.radius[c] * bone  # a finger segment's frame sits on its first joint
        _, distance, _ = trimesh.proximity.closest_point(skin, far[None])
        assert distance[0] < 3e-4


def test_tip_insets_measure_how_far_each_tip_joint_lies_beyond_the_skin():
    """Closed form on a 10 cm cube standing in for the skin: five distal bones run along +x from
    inside it to tips 2 mm and 7 mm outside its face (insets 2 and 7 mm), on the face (0), 1 cm inside
    it (0), and one bone outside the cube pointing away from it, whose axis meets no skin (0)."""
    import trimesh

    from pam.pose.hand_geometry import TIPS, tip_insets

    cube = trimesh.creation.box([0.1, 0.1, 0.1])
    joints = np.zeros((21, 3))
    beyond = [0.002, 0.007, 0.0, -0.01]
    for i, (tip, d) in enumerate(zip(TIPS[:4], beyond)):
        joints[tip - 1] = [0.0, -0.03 + 0.02 * i, 0.01]
        joints[tip] = [0.05 + d, -0.03 + 0.02 * i, 0.01]
    joints[TIPS[4] - 1] = [0.07, 0.0, 0.0]
    joints[TIPS[4]] = [0.09, 0.0, 0.0]
    np.testing.assert_allclose(tip_insets(cube.vertices, cube.faces, joints), [0.002, 0.007, 0.0, 0.0, 0.0], atol=1e-6)


def test_capsules_are_measured_once_per_hand_shape_and_percentile():
    """``HandCapsules.from_model`` is asked four times per trajectory: the same model, shape and
    percentile give the very same (read-only) measurement, equal to a fresh one; another shape or
    percentile is measured anew."""
    from pam.hand import OpenHand

    model = OpenHand("right")
    first = HandCapsules.from_model(model, np.zeros(10), percentile=30.0)
    assert HandCapsules.from_model(model, np.zeros(10), percentile=30.0) is first
    fresh = HandCapsules._measure(model, (0.0,) * 10, 30.0)
    for name in ("segment", "start", "end", "radius", "rest_joints", "tip_inset"):
        np.testing.assert_array_equal(getattr(first, name), getattr(fresh, name))
    with pytest.raises(ValueError):
        first.radius[0] = 1.0
    thick = HandCapsules.from_model(model, np.full(10, 1.0), percentile=30.0)
    assert thick is not first and not np.allclose(thick.radius, first.radius)
    assert HandCapsules.from_model(model, np.zeros(10), percentile=85.0).radius.mean() > first.radius.mean()
