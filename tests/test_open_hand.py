"""OpenHand: rest geometry, joint order, mirroring, surface quality, skinning and shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from pam.hand import JOINT_NAMES, OpenHand, lbs
from pam.hand.anatomy import PARENTS, curl_pose, mirror_pose
from pam.hand.open_hand import ASSET_PATH
from pam.hand.open_hand_build import build

FINGERS = ["thumb", "index", "middle", "ring", "little"]


@pytest.fixture(scope="module")
def right() -> OpenHand:
    return OpenHand("right").double()


@pytest.fixture(scope="module")
def left() -> OpenHand:
    return OpenHand("left").double()


def _forward(hand, pose, orient=None, betas=None, transl=None):
    pose = torch.as_tensor(np.atleast_2d(pose), dtype=torch.float64)
    orient = torch.zeros(len(pose), 3, dtype=torch.float64) if orient is None else torch.as_tensor(orient)
    out = hand(orient, pose, None if betas is None else torch.as_tensor(betas), transl)
    return out.vertices.numpy(), out.joints.numpy()


def _chain(finger: str) -> list[int]:
    return [0] + [JOINT_NAMES.index(f"{finger}{i}") for i in range(1, 5)]


def _self_intersections(vertices: np.ndarray, faces: np.ndarray) -> int:
    """Number of mesh edges that pierce a face not incident to them (0 for an embedded surface)."""
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    edges = mesh.edges_unique
    origins = vertices[edges[:, 0]]
    vectors = vertices[edges[:, 1]] - origins
    lengths = np.linalg.norm(vectors, axis=1)
    tri, ray, loc = mesh.ray.intersects_id(origins, vectors / lengths[:, None], multiple_hits=True, return_locations=True)
    dist = np.linalg.norm(loc - origins[ray], axis=1)
    incident = (faces[tri] == edges[ray, 0:1]).any(axis=1) | (faces[tri] == edges[ray, 1:2]).any(axis=1)
    return int(np.sum(~incident & (dist < lengths[ray] - 1e-9)))


def test_zero_pose_is_a_flat_open_hand_of_adult_size(right):
    vertices, joints = _forward(right, np.zeros(45))
    joints = joints[0]
    hand_length = np.linalg.norm(joints[JOINT_NAMES.index("middle4")] - joints[0])
    assert 0.17 <= hand_length <= 0.20
    for finger in FINGERS[1:]:
        chain = joints[_chain(finger)[1:]]
        bones = np.diff(chain, axis=0)
        assert np.all((np.linalg.norm(bones, axis=1) > 0.015) & (np.linalg.norm(bones, axis=1) < 0.055))
        directions = bones / np.linalg.norm(bones, axis=1, keepdims=True)
        assert np.allclose(directions, directions[0], atol=1e-6)  # straight fingers
        assert np.ptp(chain[:, 1]) < 1e-6  # in the palm plane (palm normal is y)
        assert directions[0] @ [-1.0, 0.0, 0.0] > 0.95  # right-hand fingers point along -x
    not_thumb = right.weights[:, 13:16].sum(dim=1).numpy() == 0
    knuckles = np.abs(vertices[0][:, 0] - joints[JOINT_NAMES.index("middle1"), 0]) < 0.005
    assert 0.07 < np.ptp(vertices[0][knuckles & not_thumb, 2]) < 0.10  # hand breadth


def test_joint_order_tips_are_chain_ends_and_thumb_is_radial(right):
    _, joints = _forward(right, np.zeros(45))
    joints = joints[0]
    for finger in FINGERS:
        dist = np.linalg.norm(joints[_chain(finger)] - joints[0], axis=1)
        assert np.all(np.diff(dist) > 0), finger
    # right hand, palm down (-y), fingers along -x: the radial (thumb) side is +z, little is ulnar
    mean_z = [joints[_chain(f)[1:], 2].mean() for f in FINGERS]
    assert mean_z == sorted(mean_z, reverse=True)


def test_left_is_the_mirror_of_right_for_random_poses(right, left):
    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.4, size=(4, 45))
    orient = rng.normal(scale=1.0, size=(4, 3))
    transl = rng.normal(scale=0.1, size=(4, 3))
    flip = np.array([-1.0, 1.0, 1.0])
    v_r, j_r = _forward(right, pose, orient, transl=torch.as_tensor(transl))
    v_l, j_l = _forward(left, mirror_pose(pose), mirror_pose(orient), transl=torch.as_tensor(transl * flip))
    np.testing.assert_allclose(v_l, v_r * flip, atol=1e-9)
    np.testing.assert_allclose(j_l, j_r * flip, atol=1e-9)
    assert right.faces.shape == left.faces.shape and trimesh.Trimesh(v_l[0], left.faces).volume > 0


@pytest.mark.parametrize("side", ["right", "left"])
def test_surface_is_watertight_and_embedded(side):
    hand = OpenHand(side)
    mesh = trimesh.Trimesh(hand.v_template.numpy(), hand.faces, process=False)
    assert 800 <= len(mesh.vertices) <= 1300
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert mesh.euler_number == 2  # one closed genus-0 surface
    assert 2.0e-4 < mesh.volume < 5.0e-4  # m^3: an adult hand without forearm is ~0.3-0.45 l
    assert _self_intersections(mesh.vertices.astype(np.float64), mesh.faces) == 0


@pytest.mark.parametrize("closure", [0.3, 0.6, [0.6, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0.9, 0.9]])
def test_bending_through_the_grasp_range_keeps_the_surface_embedded(right, closure):
    vertices, _ = _forward(right, curl_pose(closure))
    assert _self_intersections(vertices[0], right.faces) == 0


def test_self_intersection_check_detects_a_crossing():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    other = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    other.apply_translation((0.5, 0.3, 0.2))
    both = trimesh.util.concatenate([box, other])
    assert _self_intersections(box.vertices, box.faces) == 0
    assert _self_intersections(both.vertices, both.faces) > 0


def test_flexing_a_finger_moves_only_that_finger_and_keeps_its_bones(right):
    closure = np.zeros(5)
    closure[1] = 0.8  # index
    pose = curl_pose(closure)
    v0, j0 = _forward(right, np.zeros(45))
    v1, j1 = _forward(right, pose)
    index = _chain("index")[1:]
    others = [i for i in range(21) if i not in index]
    np.testing.assert_allclose(j1[0, others], j0[0, others], atol=1e-12)
    assert np.linalg.norm(j1[0, index[-1]] - j0[0, index[-1]]) > 0.05
    np.testing.assert_allclose(
        np.linalg.norm(np.diff(j1[0, index], axis=0), axis=1), np.linalg.norm(np.diff(j0[0, index], axis=0), axis=1)
    )
    assert j1[0, index[1], 1] < j0[0, index[1], 1] - 0.03  # bends towards the palm (-y)
    index_bones = right.weights[:, 1:4].sum(dim=1).numpy()
    moved = np.linalg.norm(v1[0] - v0[0], axis=1) > 1e-9
    assert np.array_equal(moved, index_bones > 0)


def test_skinning_matches_independent_forward_kinematics(right):
    """A vertex skinned only to joint j moves exactly like joint j's frame, computed with SciPy."""
    rng = np.random.default_rng(1)
    pose = rng.normal(scale=0.5, size=(2, 16, 3))
    joints = right.j_template.numpy()
    vertices = rng.normal(scale=0.05, size=(16, 3)) + joints
    got = lbs.skin(
        torch.as_tensor(vertices)[None].expand(2, -1, -1),
        torch.eye(16, dtype=torch.float64),
        lbs.batch_rigid_transform(
            lbs.pose_rotations(torch.as_tensor(pose[:, 0]), torch.as_tensor(pose[:, 1:].reshape(2, 45))),
            torch.as_tensor(joints)[None].expand(2, -1, -1),
            right.parents,
        )[1],
    ).numpy()
    for b in range(2):
        for j in range(16):
            chain = [j]
            while PARENTS[chain[-1]] >= 0:
                chain.append(int(PARENTS[chain[-1]]))
            point = vertices[j]
            for k in chain:  # apply the rotations from the joint up to the root, each about its rest joint
                point = Rotation.from_rotvec(pose[b, k]).apply(point - joints[k]) + joints[k]
            np.testing.assert_allclose(got[b, j], point, atol=1e-12)


def test_betas0_scales_size_monotonically(right):
    lengths = []
    for size in (-2.0, -1.0, 0.0, 1.0, 2.0):
        betas = np.zeros(10)
        betas[0] = size
        _, joints = _forward(right, np.zeros(45), betas=betas)
        lengths.append(np.linalg.norm(joints[0, JOINT_NAMES.index("middle4")] - joints[0, 0]))
    assert np.all(np.diff(lengths) > 0)
    np.testing.assert_allclose(lengths[3] / lengths[2], np.exp(0.05))
    betas = np.zeros(10)
    betas[1:] = 3.0  # unused shape values leave the hand unchanged
    np.testing.assert_allclose(_forward(right, np.zeros(45), betas=betas)[0], _forward(right, np.zeros(45))[0])


def test_batched_frames_equal_single_frames(right):
    rng = np.random.default_rng(2)
    pose = curl_pose(rng.uniform(0, 1, size=(5, 5))) + rng.normal(scale=0.05, size=(5, 45))
    orient = rng.normal(size=(5, 3))
    transl = torch.as_tensor(rng.normal(scale=0.1, size=(5, 3)))
    v, j = _forward(right, pose, orient, transl=transl)
    for b in range(5):
        vb, jb = _forward(right, pose[b], orient[b : b + 1], transl=transl[b : b + 1])
        np.testing.assert_allclose(v[b], vb[0], atol=1e-12)
        np.testing.assert_allclose(j[b], jb[0], atol=1e-12)


def test_global_orient_rotates_about_the_wrist_and_transl_shifts(right):
    _, j0 = _forward(right, np.zeros(45))
    _, j1 = _forward(right, np.zeros(45), orient=np.array([[0.3, -1.2, 0.7]]), transl=torch.tensor([[0.1, 0.2, 0.3]]))
    np.testing.assert_allclose(j1[0, 0], j0[0, 0] + [0.1, 0.2, 0.3], atol=1e-12)
    rotation = Rotation.from_rotvec([0.3, -1.2, 0.7]).as_matrix()
    np.testing.assert_allclose(j1[0] - j1[0, 0], (j0[0] - j0[0, 0]) @ rotation.T, atol=1e-12)


def test_bad_inputs_name_the_input(right):
    with pytest.raises(ValueError, match="hand_pose"):
        right(torch.zeros(2, 3), torch.zeros(2, 44))
    with pytest.raises(ValueError, match="global_orient"):
        right(torch.zeros(3, 3), torch.zeros(2, 45))
    with pytest.raises(ValueError, match="betas"):
        right(torch.zeros(1, 3), torch.zeros(1, 45), torch.zeros(9))
    with pytest.raises(ValueError, match="NaN"):
        right(torch.zeros(1, 3), torch.full((1, 45), float("nan")))
    with pytest.raises(ValueError, match="side"):
        OpenHand("middle")


def test_shipped_asset_is_what_the_builder_makes():
    """Rebuilding reproduces the packaged asset: same skeleton, and surfaces within 1 mm of each other
    (compared surface to surface, so another triangulation from other library versions still agrees)."""
    built = build()
    with np.load(ASSET_PATH) as shipped:
        shipped = {k: shipped[k] for k in shipped.files}
    assert set(shipped) == set(built)
    np.testing.assert_allclose(built["joints"], shipped["joints"], atol=1e-7)
    np.testing.assert_allclose(built["tips"], shipped["tips"], atol=1e-7)
    assert abs(len(built["faces"]) - len(shipped["faces"])) <= 0.02 * len(shipped["faces"])
    meshes = [trimesh.Trimesh(asset["vertices"], asset["faces"], process=False) for asset in (built, shipped)]
    for points, surface in ((meshes[0].vertices, meshes[1]), (meshes[1].vertices, meshes[0])):
        assert surface.nearest.on_surface(points)[1].max() < 1e-3
