"""pam.pose.wrench.support_force against closed-form statics."""

import numpy as np
import pytest

from pam.pose.wrench import support_force

SIDES = np.array([[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]])
OUT = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])  # outward normals of the two vertical sides


@pytest.mark.parametrize("mu", [0.3, 0.5, 1.0])
def test_two_opposed_fingers_need_half_the_weight_over_mu_each(mu):
    # each side carries half the weight by friction: f_t = 1/2 <= mu f_n
    assert support_force(SIDES, OUT, np.zeros(3), mu=mu, edges=8) == pytest.approx(0.5 / mu, rel=0.03)


def test_a_contact_under_the_centre_of_mass_carries_the_weight():
    assert support_force([[0.0, 0.0, -0.03]], [[0.0, 0.0, -1.0]], np.zeros(3)) == pytest.approx(1.0)


def test_pushing_only_from_above_cannot_hold():
    assert support_force([[0.0, 0.0, 0.03]], [[0.0, 0.0, 1.0]], np.zeros(3)) == np.inf


def test_a_pinch_beside_the_centre_of_mass_needs_torsional_friction():
    beside = SIDES + [0.0, 0.01, 0.0]  # the pinch axis passes 1 cm from the centre of mass
    assert support_force(beside, OUT, np.zeros(3)) == np.inf
    # the gravity torque 0.01 m x 1 weight is resisted by two patches: 2 * torsion * f_n >= 0.01
    weak, strong = (support_force(beside, OUT, np.zeros(3), torsion=t) for t in (0.002, 0.01))
    assert np.isfinite(weak) and weak >= 0.01 / (2 * 0.002) - 1e-6
    assert strong < weak


def test_gravity_in_another_direction():
    # the same pinch held with the fingers pointing down: now one side pushes up against gravity
    up = np.array([1.0, 0.0, 0.0])  # gravity along -x: the contact at -x (normal -x) pushes +x
    assert support_force(SIDES, OUT, np.zeros(3), up=up) == pytest.approx(1.0)
