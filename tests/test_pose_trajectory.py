"""Minimum-jerk timing, rotation interpolation and finger closing against closed forms."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pam.pose.trajectory import (
    interpolate_positions,
    minimum_jerk,
    phase_progress,
    slerp_axis_angles,
    slerp_rotations,
)


def test_minimum_jerk_matches_the_flash_hogan_closed_form():
    u = np.linspace(0, 1, 101)
    np.testing.assert_allclose(minimum_jerk(u), 10 * u**3 - 15 * u**4 + 6 * u**5, atol=1e-15)
    # rest to rest: zero velocity and acceleration at both ends (finite differences)
    h = 1e-4
    for end in (0.0, 1.0):
        x = np.array([end - 2 * h, end - h, end, end + h, end + 2 * h])
        s = 10 * x**3 - 15 * x**4 + 6 * x**5  # unclipped polynomial
        assert abs((s[3] - s[1]) / (2 * h)) < 1e-6
        assert abs((s[3] - 2 * s[2] + s[1]) / h**2) < 1e-3
    # the jerk of the quintic is the constant-free parabola 60 - 360 u + 360 u^2
    dt = 1e-3
    t = np.arange(0, 1 + dt / 2, dt)
    jerk = np.diff(minimum_jerk(t), 3) / dt**3
    mid = t[1:-2] + dt / 2
    np.testing.assert_allclose(jerk[5:-5], 60 - 360 * mid[5:-5] + 360 * mid[5:-5] ** 2, atol=0.05)
    assert minimum_jerk(-1.0) == 0.0 and minimum_jerk(2.0) == 1.0


def test_phase_progress_is_clamped_and_symmetric():
    f = np.arange(0, 21)
    p = phase_progress(f, 5, 15)
    assert np.all(p[:6] == 0) and np.all(p[15:] == 1)
    np.testing.assert_allclose(p[10], 0.5)
    np.testing.assert_allclose(p[5:16] + p[5:16][::-1], 1.0, atol=1e-12)
    assert np.all(np.diff(p) >= 0)


def test_position_and_rotation_interpolation():
    p = interpolate_positions(np.zeros(3), np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.25, 1.0]))
    np.testing.assert_allclose(p[1], [0.25, 0.5, 0.75])
    r0 = np.eye(3)
    r1 = Rotation.from_rotvec([0, 0, 1.2]).as_matrix()
    r = slerp_rotations(r0, r1, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(r[0], r0, atol=1e-12)
    np.testing.assert_allclose(r[2], r1, atol=1e-12)
    np.testing.assert_allclose(Rotation.from_matrix(r[1]).as_rotvec(), [0, 0, 0.6], atol=1e-12)


def test_per_joint_slerp_follows_the_geodesic():
    rng = np.random.default_rng(3)
    a0, a1 = rng.normal(size=45) * 0.5, rng.normal(size=45) * 0.5
    s = np.array([0.0, 0.3, 1.0])
    out = slerp_axis_angles(a0, a1, s)
    np.testing.assert_allclose(Rotation.from_rotvec(out[0].reshape(15, 3)).as_matrix(),
                               Rotation.from_rotvec(a0.reshape(15, 3)).as_matrix(), atol=1e-10)
    np.testing.assert_allclose(Rotation.from_rotvec(out[2].reshape(15, 3)).as_matrix(),
                               Rotation.from_rotvec(a1.reshape(15, 3)).as_matrix(), atol=1e-10)
    # at s, the relative rotation from a0 is s times the full relative rotation (per joint)
    q0 = Rotation.from_rotvec(a0.reshape(15, 3))
    q1 = Rotation.from_rotvec(a1.reshape(15, 3))
    qs = Rotation.from_rotvec(out[1].reshape(15, 3))
    full = (q0.inv() * q1).magnitude()
    part = (q0.inv() * qs).magnitude()
    np.testing.assert_allclose(part, 0.3 * full, atol=1e-9)
