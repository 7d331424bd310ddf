"""Built-in procedural household objects with real-world sizes.

Every object is a watertight mesh in metres, resting on the plane z = 0 (z up), centred on the
z axis. Sizes follow the YCB object set (Calli et al., "The YCB object and model set", 2015) where
a YCB counterpart exists; ``seg_id`` is then its DexYCB/YCB object index, which the segmentation
encoder maps to an ADE20K palette colour as the PAM release does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh


def _revolve(profile_rz: list[tuple[float, float]], sections: int = 48) -> trimesh.Trimesh:
    """Solid of revolution about z of a closed (r, z) profile that starts and ends on the axis."""
    return trimesh.creation.revolve(np.asarray(profile_rz, dtype=np.float64), sections=sections)


def _tube(centreline: np.ndarray, radii: np.ndarray, sections: int = 20) -> trimesh.Trimesh:
    """Closed tube along ``centreline`` (N, 3) with per-point radius (N,); ends capped with a point."""
    tangents = np.gradient(centreline, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    ref = np.array([0.0, 0.0, 1.0])
    normals = np.cross(tangents, ref)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    binormals = np.cross(tangents, normals)
    angles = np.linspace(0.0, 2.0 * np.pi, sections, endpoint=False)
    ring = np.cos(angles)[None, :, None] * normals[:, None] + np.sin(angles)[None, :, None] * binormals[:, None]
    rings = centreline[:, None] + radii[:, None, None] * ring  # (N, S, 3)
    n = len(centreline)
    vertices = np.concatenate([rings.reshape(-1, 3), centreline[[0, -1]]])
    start, end = n * sections, n * sections + 1
    faces = []
    for i in range(n - 1):
        for j in range(sections):
            a, b = i * sections + j, i * sections + (j + 1) % sections
            c, d = a + sections, b + sections
            faces += [[a, c, b], [b, c, d]]
    for j in range(sections):
        faces.append([start, j, (j + 1) % sections])
        last = (n - 1) * sections
        faces.append([end, last + (j + 1) % sections, last + j])
    mesh = trimesh.Trimesh(vertices, np.asarray(faces), process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _box(extents: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def _on_table(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centre on the z axis and put the lowest point on z = 0."""
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return mesh


def soup_can() -> trimesh.Trimesh:
    """YCB 005 tomato soup can: 66 mm diameter, 101 mm tall."""
    return _on_table(trimesh.creation.cylinder(radius=0.033, height=0.101, sections=48))


def cracker_box() -> trimesh.Trimesh:
    """YCB 003 cracker box: 60 x 158 x 210 mm."""
    return _on_table(trimesh.creation.box(extents=(0.060, 0.158, 0.210)))


def mug() -> trimesh.Trimesh:
    """YCB 025 mug: 80 mm body diameter, 82 mm tall, a D-shaped handle on +x (110 mm across)."""
    body = _revolve([(0.0, 0.0), (0.040, 0.0), (0.040, 0.082), (0.0365, 0.082), (0.0365, 0.006), (0.0, 0.006)])
    ring = trimesh.creation.torus(major_radius=0.026, minor_radius=0.0055, major_sections=48, minor_sections=16)
    ring.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    ring.apply_translation([0.0385, 0.0, 0.043])
    inside = _box((0.08, 0.08, 0.2), (0.0, 0.0, 0.05))  # the part of the ring inside the body
    handle = trimesh.boolean.difference([ring, inside], engine="manifold")
    return _on_table(trimesh.boolean.union([body, handle], engine="manifold"))


def bottle() -> trimesh.Trimesh:
    """A 0.5 l drink bottle: 66 mm diameter, 215 mm tall, with shoulder and neck."""
    return _on_table(
        _revolve([(0.0, 0.0), (0.033, 0.0), (0.033, 0.145), (0.013, 0.185), (0.013, 0.215), (0.0, 0.215)])
    )


def bowl() -> trimesh.Trimesh:
    """YCB 024 bowl: 159 mm rim diameter, 53 mm tall, 3 mm wall."""
    return _on_table(
        _revolve([(0.0, 0.0), (0.036, 0.0), (0.0795, 0.053), (0.0765, 0.053), (0.0345, 0.004), (0.0, 0.004)])
    )


def ball() -> trimesh.Trimesh:
    """A tennis ball: 65 mm diameter."""
    return _on_table(trimesh.creation.icosphere(subdivisions=3, radius=0.0325))


def banana() -> trimesh.Trimesh:
    """YCB 011 banana: about 190 mm along its curve, 36 mm thick, lying on its side."""
    s = np.linspace(0.0, 1.0, 40)
    bend_radius, sweep = 0.13, np.deg2rad(84.0)  # arc length 0.19 m
    theta = (s - 0.5) * sweep
    centreline = np.stack([bend_radius * np.sin(theta), bend_radius * (1 - np.cos(theta)), np.zeros_like(s)], 1)
    radii = 0.004 + 0.014 * np.sin(np.pi * s) ** 0.6
    return _on_table(_tube(centreline, radii))


def drill() -> trimesh.Trimesh:
    """YCB 035 power drill, standing on its battery: 185 mm long, 187 mm tall, 57 mm wide."""
    parts = [
        _box((0.100, 0.057, 0.040), (0.000, 0.0, 0.020)),  # battery pack
        _box((0.045, 0.045, 0.085), (0.000, 0.0, 0.080)),  # grip
        _box((0.150, 0.057, 0.062), (0.020, 0.0, 0.150)),  # motor housing
        trimesh.creation.cylinder(
            radius=0.016,
            height=0.040,
            transform=trimesh.transformations.translation_matrix([0.115, 0.0, 0.150])
            @ trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]),
        ),  # chuck
    ]
    return _on_table(trimesh.boolean.union(parts, engine="manifold"))


def foam_brick() -> trimesh.Trimesh:
    """YCB 061 foam brick: 50 x 75 x 50 mm."""
    return _on_table(trimesh.creation.box(extents=(0.050, 0.075, 0.050)))


@dataclass(frozen=True)
class BuiltinObject:
    name: str
    build: Callable[[], trimesh.Trimesh]
    seg_id: int

    @property
    def description(self) -> str:
        return (self.build.__doc__ or "").strip()


BUILTIN_OBJECTS: dict[str, BuiltinObject] = {
    o.name: o
    for o in [
        BuiltinObject("soup_can", soup_can, 4),
        BuiltinObject("cracker_box", cracker_box, 2),
        BuiltinObject("mug", mug, 14),
        BuiltinObject("bottle", bottle, 5),
        BuiltinObject("bowl", bowl, 13),
        BuiltinObject("ball", ball, 22),
        BuiltinObject("banana", banana, 10),
        BuiltinObject("drill", drill, 15),
        BuiltinObject("foam_brick", foam_brick, 21),
    ]
}


@functools.lru_cache(maxsize=None)
def _built(name: str) -> trimesh.Trimesh:
    return BUILTIN_OBJECTS[name].build()


def builtin_mesh(name: str) -> trimesh.Trimesh:
    """A fresh copy of the named built-in object's mesh."""
    if name not in BUILTIN_OBJECTS:
        raise KeyError(f"unknown built-in object {name!r}; choose from {', '.join(BUILTIN_OBJECTS)}")
    return _built(name).copy()
