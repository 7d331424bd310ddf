import numpy as np
import pytest

from pam.metrics.hand_estimator import boxes_from_keypoints, crop_camera_to_full
from pam.sequence import project_points
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


HAMER_FOCAL, HAMER_CROP = 5000.0, 256  # HaMeR's crop camera: focal 5000 px for a 256 px crop


def hamer_crop_keypoints(kp3d, cam, box_center, box_size):
    """HaMeR's own 2D output mapped back to the image: its crop-normalised ``pred_keypoints_2d`` (the joints
    through its crop camera, translation (tx, ty, 2 f / (256 s)), focal f / 256) times the box, plus its centre."""
    s, tx, ty = cam
    cam_t = np.array([tx, ty, 2 * HAMER_FOCAL / (HAMER_CROP * s)])
    points = kp3d + cam_t
    normalised = HAMER_FOCAL / HAMER_CROP * points[:, :2] / points[:, 2:]
    return box_center + box_size * normalised


def test_crop_camera_reprojects_as_hamer_when_the_camera_is_hamer_crop_camera(joints):
    """With K equal to HaMeR's crop camera in image pixels, the projection is HaMeR's crop keypoints exactly,
    perspective included."""
    center, size, cam = np.array([300.0, 200.0]), 180.0, np.array([6.0, 0.01, -0.02])
    f = size * HAMER_FOCAL / HAMER_CROP
    K = np.array([[f, 0, center[0]], [0, f, center[1]], [0, 0, 1]])
    ours = project_points(joints[0] + crop_camera_to_full(cam, center, size, K), K)
    np.testing.assert_allclose(ours, hamer_crop_keypoints(joints[0], cam, center, size), atol=1e-9)


def test_a_hand_parallel_to_the_image_lands_on_hamer_keypoints_for_any_camera(joints):
    """For joints at one depth the crop's weak perspective is exact, so any focal length and principal point
    (off the box centre) give HaMeR's crop keypoints; inputs batch over leading axes."""
    flat = joints.copy()
    flat[..., 2] = 0.0
    cams = np.array([[6.0, 0.01, -0.02], [9.0, -0.03, 0.0]])
    centers, sizes = np.array([[500.0, 120.0], [80.0, 400.0]]), np.array([150.0, 90.0])
    K = np.array([[520.0, 0, 360.0], [0, 520.0, 240.0], [0, 0, 1]])
    translations = crop_camera_to_full(cams, centers, sizes, K)
    assert translations.shape == (2, 3)
    np.testing.assert_allclose(translations[:, 2], 2 * 520.0 / (sizes * cams[:, 0]))  # HaMeR's depth, with K's focal
    for i in range(2):
        ours = project_points(flat[i] + translations[i], K)
        np.testing.assert_allclose(ours, hamer_crop_keypoints(flat[i], cams[i], centers[i], sizes[i]), atol=1e-9)
