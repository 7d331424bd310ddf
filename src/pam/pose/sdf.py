"""Signed distance to an object mesh (libigl), negative inside."""

from __future__ import annotations

import igl
import numpy as np
import trimesh


class ObjectSDF:
    """Signed distance to a mesh in its own frame.

    A watertight mesh uses pseudonormal signs (exact); an open mesh uses the fast generalised
    winding number, which still tells inside from outside across small holes.
    """

    def __init__(self, mesh: trimesh.Trimesh):
        self.vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
        self.lower, self.upper = self.vertices.min(axis=0), self.vertices.max(axis=0)
        self.sign_type = (
            igl.SIGNED_DISTANCE_TYPE_PSEUDONORMAL if mesh.is_watertight else igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER
        )

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points in the object frame -> (...,) signed distances in metres."""
        points = np.asarray(points, dtype=np.float64)
        flat = np.ascontiguousarray(points.reshape(-1, 3))
        if len(flat) == 0:
            return np.zeros(points.shape[:-1])
        dist = igl.signed_distance(flat, self.vertices, self.faces, sign_type=self.sign_type)[0]
        return dist.reshape(points.shape[:-1])

    def near(self, points: np.ndarray, within: float) -> np.ndarray:
        """(..., 3) points -> signed distances, exact within ``within`` (m) of the surface; farther
        out, a lower bound of at least ``within`` (for callers that only need exact values near
        the surface: libigl prunes its search at the bound, several times faster)."""
        points = np.asarray(points, dtype=np.float64)
        flat = np.ascontiguousarray(points.reshape(-1, 3))
        dist = igl.signed_distance(flat, self.vertices, self.faces, sign_type=self.sign_type,
                                   lower_bound=-within, upper_bound=within)[0]
        unknown = np.flatnonzero(np.isnan(dist))
        box = np.linalg.norm(np.maximum(np.maximum(self.lower - flat[unknown], flat[unknown] - self.upper), 0.0), axis=-1)
        dist[unknown] = np.maximum(box, within)  # outside the bounding box: outside the object
        inside_box = unknown[box == 0.0]  # the sign is unknown there: exact
        dist[inside_box] = self(flat[inside_box])
        return dist.reshape(points.shape[:-1])

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) points -> (signed distances (N,), closest surface points (N, 3))."""
        flat = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
        dist, _, closest, _ = igl.signed_distance(flat, self.vertices, self.faces, sign_type=self.sign_type)
        return dist, closest
