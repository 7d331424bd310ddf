"""Can a set of frictional contacts hold an object against gravity? (a linear program per grasp)

The question GraspIt-style grasp metrics ask (Ferrari & Canny 1992; Miller & Allen 2004), in
its simplest useful form for a hand that lifts: the object's weight, applied at its centre of
mass, must be balanced by contact forces that push (never pull) and stay inside Coulomb friction
cones, with no net torque. Each cone is linearised with ``edges`` edges; a contact patch's
torsional friction is two more generators per contact (a push with the most twist it resists).
The generators of one contact share its normal force, which is conservative. The answer is the
least possible largest normal force over the contacts, in units of the object's weight: 1 for a
contact right under the centre of mass, 1 / (2 mu) for two fingers opposed across it on vertical
sides, infinite when no forces balance the weight (e.g. two contacts whose axis misses the
centre of mass, without torsional friction).
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.optimize import linprog


def centre_of_mass(mesh: trimesh.Trimesh) -> np.ndarray:
    """(3,) the centre of mass of a uniform solid ``mesh``; its surface's centroid when it is not closed."""
    return mesh.center_mass if mesh.is_watertight else mesh.centroid


def _tangents(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit tangents (C, 3) each, orthogonal to each other and to the unit ``normals`` (C, 3)."""
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    t1 = np.cross(normals, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    return t1, np.cross(normals, t1)


def support_force(points: np.ndarray, normals: np.ndarray, centre: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0]),
                  mu: float = 0.5, torsion: float = 0.0, edges: int = 6) -> float:
    """Least largest contact normal force (in units of the object's weight) that holds it.

    Args:
        points: (C, 3) contact points on the object's surface.
        normals: (C, 3) the object's outward unit normals there (a contact pushes along -normal).
        centre: (3,) the object's centre of mass.
        up: (3,) unit vector against gravity (the contacts must supply this force, unit weight).
        mu: friction coefficient of the cones.
        torsion: torsional friction (m): a contact resists a twist about its normal up to
            ``torsion`` times its normal force (a soft fingertip's contact patch).
        edges: edges of each linearised cone.

    Returns:
        The force (>= 0), or ``inf`` when the contacts cannot balance the weight.
    """
    points, normals = np.atleast_2d(points), np.atleast_2d(normals)
    count = len(points)
    if count == 0:
        return float("inf")
    angle = 2.0 * np.pi * np.arange(edges) / edges
    t1, t2 = _tangents(normals)
    # per contact: the cone's edges (unit normal component), then a push with the most twist the
    # patch resists, either way
    tangential = np.cos(angle)[None, :, None] * t1[:, None] + np.sin(angle)[None, :, None] * t2[:, None]
    forces = -normals[:, None] + mu * tangential  # (C, E, 3)
    forces = np.concatenate([forces, np.repeat(-normals[:, None], 2, axis=1)], axis=1)  # (C, E + 2, 3)
    torques = np.cross((points - centre)[:, None], forces)
    torques[:, edges:] += np.array([1.0, -1.0])[None, :, None] * torsion * normals[:, None]
    per_contact = edges + 2
    wrench = np.concatenate([forces, torques], axis=2).reshape(count * per_contact, 6).T  # (6, C * (E + 2))
    num = count * per_contact
    # variables: edge magnitudes (num), then the largest normal force s; minimise s
    cost = np.zeros(num + 1)
    cost[-1] = 1.0
    a_eq = np.hstack([wrench, np.zeros((6, 1))])
    b_eq = np.concatenate([up, np.zeros(3)])
    a_ub = np.hstack([np.kron(np.eye(count), np.ones(per_contact)), -np.ones((count, 1))])  # each normal force <= s
    # torques in metres are small next to forces: scale their rows so the solver weighs them alike
    scale = np.array([1.0, 1.0, 1.0, 100.0, 100.0, 100.0])
    result = linprog(cost, A_ub=a_ub, b_ub=np.zeros(count), A_eq=a_eq * scale[:, None], b_eq=b_eq * scale,
                     bounds=[(0, None)] * (num + 1), method="highs")
    return float(result.x[-1]) if result.status == 0 else float("inf")
