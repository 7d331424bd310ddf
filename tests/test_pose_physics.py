"""MuJoCo scene: a two-capsule gripper lifting a box; convex decomposition and its cache."""

import numpy as np
import pytest
import trimesh

from pam.pose.collision import closed_mesh, convex_parts, is_convex
from pam.pose.hand_geometry import HandCapsules, minimal_rotation
from pam.pose.physics import simulate
from pam.pose.sdf import ObjectSDF
from pam.pose.trajectory import phase_progress

FRAMES, SUB = 31, 4


def _box():
    """A 4 x 4 x 6 cm box whose frame origin is off its centre (bottom face at z = 0)."""
    box = trimesh.creation.box([0.04, 0.04, 0.06])
    box.apply_translation([0.01, 0.0, 0.03])
    return box


def _gripper_run(squeeze, lift=0.1):
    """Two vertical 1 cm capsules close on the box from +-x, then lift it by ``lift``."""
    caps = HandCapsules(
        segment=np.array([0, 1]), start=np.zeros((2, 3)), end=np.array([[0, 0, 0.04]] * 2),
        radius=np.array([0.01, 0.01]), rest_joints=np.zeros((21, 3)),
    )
    steps = (FRAMES - 1) * SUB + 1
    f = np.arange(steps) / SUB
    close, up = phase_progress(f, 3, 10), phase_progress(f, 12, 26)
    gap = 0.03 + 0.03 * (1 - close) - squeeze * close  # capsule axis to box centre
    pos = np.zeros((steps, 16, 3))
    rot = np.tile(np.eye(3), (steps, 16, 1, 1))
    pos[:, 0] = np.stack([0.01 - gap, np.zeros(steps), 0.01 + lift * up], 1)
    pos[:, 1] = np.stack([0.01 + gap, np.zeros(steps), 0.01 + lift * up], 1)
    return simulate([_box()], np.eye(3), np.zeros(3), 0.0, caps, pos, rot, 15.0, SUB, hold_start=11)


def test_squeezing_gripper_lifts_the_box():
    res = _gripper_run(squeeze=0.0015)
    assert res.held and res.drop_frame is None
    assert res.translation[0] == pytest.approx([0, 0, 0], abs=1e-3)  # starts resting where it was put
    assert res.translation[-1][2] == pytest.approx(0.1, abs=0.005)  # lifted with the hand
    assert res.drift.max() < 0.005
    np.testing.assert_allclose(res.rotation[-1], np.eye(3), atol=0.05)


def test_open_gripper_drops_the_box():
    res = _gripper_run(squeeze=-0.003)
    assert not res.held and res.drop_frame is not None
    assert res.translation[-1][2] == pytest.approx(0.0, abs=2e-3)  # stayed on the table


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
        if child in TIPS:  # pulled in by the radius along the bone
            bone = joints[:, child] - joints[:, parent]
            expected = expected - caps.radius[c] * bone / np.linalg.norm(bone, axis=1, keepdims=True)
        np.testing.assert_allclose(end, expected, atol=1e-9)
    # the palm segment moves rigidly with the wrist
    np.testing.assert_allclose(pos[:, 0], joints[:, 0], atol=1e-12)
    assert np.all((caps.radius > 0.004) & (caps.radius < 0.03))
