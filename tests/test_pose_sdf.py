"""Signed distance to an object (libigl) against closed forms: a box's distance is exact."""

import numpy as np
import trimesh

from pam.pose.sdf import ObjectSDF


def _box_distance(points: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Closed-form signed distance to an axis-aligned box centred at the origin."""
    q = np.abs(points) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0)


def test_signed_distance_of_a_box_is_the_closed_form():
    half = np.array([0.02, 0.03, 0.05])
    sdf = ObjectSDF(trimesh.creation.box(2 * half))
    points = np.random.default_rng(0).uniform(-0.1, 0.1, (5000, 3))
    np.testing.assert_allclose(sdf(points), _box_distance(points, half), atol=1e-9)


def test_near_is_exact_in_its_band_and_a_lower_bound_beyond():
    """``near`` (libigl's bounded search) returns the exact distance within the band, the right
    sign everywhere, and beyond the band a value between the band and the true distance; deep
    inside points are exact too."""
    half = np.array([0.02, 0.03, 0.05])
    sdf = ObjectSDF(trimesh.creation.box(2 * half))
    points = np.random.default_rng(1).uniform(-0.12, 0.12, (20000, 3)).reshape(100, 200, 3)
    true = _box_distance(points, half)
    near = sdf.near(points, 0.01)
    assert near.shape == true.shape
    band = np.abs(true) <= 0.01
    np.testing.assert_allclose(near[band], true[band], atol=1e-9)
    assert np.all(np.sign(near) == np.sign(true))
    far = true > 0.01
    assert np.all((near[far] >= 0.01 - 1e-12) & (near[far] <= true[far] + 1e-12))
    deep = true < -0.01
    np.testing.assert_allclose(near[deep], true[deep], atol=1e-9)
