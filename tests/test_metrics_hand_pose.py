import numpy as np
import pytest

from pam.metrics.hand_estimator import boxes_from_keypoints
from pam.metrics.hand_pose import f_score, mpjpe, pa_mpjpe, pa_mpvpe, procrustes_align
from pam.rotations import axis_angle_to_matrix_np


@pytest.fixture
def joints():
    return np.random.default_rng(0).normal(scale=0.05, size=(2, 21, 3))


def test_mpjpe_root_aligned(joints):
    assert mpjpe(joints + [0.1, -0.2, 0.3], joints) == pytest.approx(0.0, abs=1e-9)
    moved = joints.copy()
    moved[:, 5] += [0.021, 0, 0]  # one joint 21 mm off: 21 mm / 21 joints
    assert mpjpe(moved, joints) == pytest.approx(1.0)
    root = joints.copy()
    root[:, 0] += [0, 0.01, 0]  # the wrist 10 mm off: after alignment the 20 others are 10 mm off
    assert mpjpe(root, joints) == pytest.approx(20 * 10 / 21)


def test_procrustes_undoes_a_similarity(joints):
    rot = axis_angle_to_matrix_np(np.array([0.3, -1.2, 0.5]))
    pred = 1.7 * joints @ rot.T + [0.5, 0.1, -0.2]
    np.testing.assert_allclose(procrustes_align(pred, joints), joints, atol=1e-12)
    assert pa_mpjpe(pred, joints) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(pred, joints) > 10


def test_procrustes_reflection_is_not_allowed():
    gt = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float) * 0.01
    mirrored = gt * [1, 1, -1]
    assert pa_mpjpe(mirrored, gt) > 1.0  # a reflection would fit it exactly


def test_pa_mpvpe_hand_computed_twisted_square():
    s, d = 0.01, 0.002
    gt = np.array([[1, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]], float) * s
    pred = gt + np.array([[0, 0, d], [0, 0, -d], [0, 0, d], [0, 0, -d]])
    # the z offsets are orthogonal to the square: rotation stays identity, scale = 8 s^2 / (8 s^2 + 4 d^2)
    scale = 8 * s**2 / (8 * s**2 + 4 * d**2)
    per_point = np.sqrt((1 - scale) ** 2 * 2 * s**2 + (scale * d) ** 2)
    assert pa_mpvpe(pred, gt) == pytest.approx(per_point * 1000, rel=1e-9)


def test_f_score_hand_computed():
    gt = np.array([[0, 0, 0], [0.010, 0, 0]])
    pred = np.array([[0.003, 0, 0], [0.020, 0, 0]])
    # pred->gt: 3 mm, 10 mm; gt->pred: 3 mm, 7 mm
    assert f_score(pred, gt, 5, align=False) == pytest.approx(0.5)  # P = R = 1/2
    assert f_score(pred, gt, 8, align=False) == pytest.approx(2 * 0.5 * 1 / 1.5)  # P = 1/2, R = 1
    assert f_score(pred, gt, 15, align=False) == pytest.approx(1.0)
    assert f_score(gt * 2 + 1, gt, 5) == pytest.approx(1.0)  # aligned first


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="pred"):
        mpjpe(np.zeros((21, 2)), np.zeros((21, 3)))
    with pytest.raises(ValueError, match="differ in shape"):
        pa_mpjpe(np.zeros((21, 3)), np.zeros((20, 3)))


def test_boxes_from_keypoints():
    kp = np.array([[[10, 20], [30, 60]]], float)
    np.testing.assert_allclose(boxes_from_keypoints(kp, margin=0.5), [[0, 0, 40, 80]])
