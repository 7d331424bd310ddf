"""Quality measures against hand-computed cases."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from pam.pose.quality import hand_jerk, penetration_depths, slip


def test_penetration_depth_of_points_in_a_box_is_independent_of_the_object_pose():
    box = trimesh.creation.box([0.1, 0.1, 0.1])
    local = np.array([[[0.0, 0.0, 0.049], [0.0, 0.0, 0.06], [0.3, 0.0, 0.0]],  # 1 mm inside
                      [[0.0, 0.0, 0.06], [0.0, 0.07, 0.0], [0.2, 0.0, 0.0]]])  # all outside, nearest 10 mm
    R = Rotation.from_rotvec([[0.3, 0.2, 0.1], [-1.0, 0.5, 0.0]]).as_matrix()
    t = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, 0.1]])
    world = np.einsum("tij,tvj->tvi", R, local) + t[:, None]
    depth, nearest = penetration_depths(world, box, R, t)
    np.testing.assert_allclose(depth, [0.001, 0.0], atol=1e-9)
    np.testing.assert_allclose(nearest, [-0.001, 0.01], atol=1e-9)


def test_slip_is_zero_for_a_rigidly_carried_point_and_measures_drift():
    T = 10
    rot = Rotation.from_rotvec(np.outer(np.linspace(0, 1.5, T), [0.2, 1.0, 0.3])).as_matrix()
    wrist = np.outer(np.linspace(0, 1, T), [0.3, 0.1, 0.2])
    offset = np.array([0.05, 0.02, -0.01])  # point fixed in the wrist frame
    carried = np.einsum("tij,j->ti", rot, offset) + wrist
    hold = np.arange(T) >= 3
    assert slip(rot, wrist, carried, hold).max() == pytest.approx(0.0, abs=1e-12)
    drift = np.zeros((T, 3))
    drift[hold, 0] = np.linspace(0, 0.004, hold.sum())  # 4 mm along the wrist's x
    moved = np.einsum("tij,tj->ti", rot, offset + drift) + wrist
    s = slip(rot, wrist, moved, hold)
    assert s[~hold].max() == 0.0
    assert s.max() == pytest.approx(0.004, abs=1e-12)


def test_hand_jerk_of_a_cubic_path_is_its_constant_third_derivative():
    fps = 15.0
    t = np.arange(30) / fps
    path = np.stack([2.0 * t**3, -t**3, 0.5 * t**2], axis=1)  # jerk (12, -6, 0)
    assert hand_jerk(path, fps) == pytest.approx(np.sqrt(12**2 + 6**2), rel=1e-9)
    assert hand_jerk(path[:3], fps) == 0.0
