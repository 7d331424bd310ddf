"""Built-in procedural household objects with real-world sizes.

Every object is a watertight mesh in metres, resting on the plane z = 0 (z up), its bounding box
centred on the z axis. Some carry named parts (``BuiltinObject.parts``, e.g. the mug's
``handle``) that a grasp request can target: ``mesh.metadata["parts"]`` maps each name to a
(V,) vertex mask; a part is the surface whose triangles have all three vertices in it. Objects
built from convex primitives also carry their exact convex pieces (``metadata["convex_parts"]``)
for the simulator. Sizes follow the YCB object set (Calli et al., "The YCB object and model set",
2015) where a YCB counterpart exists; ``seg_id`` is then its DexYCB/YCB object index, which the segmentation
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


def _tube_rings(centreline: np.ndarray, radii: np.ndarray, sections: int = 20, plane_normal=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Rings (N, sections, 3) of a tube along ``centreline`` (N, 3), a curve in the plane with
    normal ``plane_normal``, with per-point radius (N,)."""
    tangents = np.gradient(centreline, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    normals = np.cross(tangents, np.asarray(plane_normal, dtype=np.float64))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    binormals = np.cross(tangents, normals)
    angles = np.linspace(0.0, 2.0 * np.pi, sections, endpoint=False)
    ring = np.cos(angles)[None, :, None] * normals[:, None] + np.sin(angles)[None, :, None] * binormals[:, None]
    return centreline[:, None] + radii[:, None, None] * ring


def _tube(centreline: np.ndarray, radii: np.ndarray, sections: int = 20, plane_normal=(0.0, 0.0, 1.0)) -> trimesh.Trimesh:
    """Closed tube through ``_tube_rings``; ends capped with a point."""
    rings = _tube_rings(centreline, radii, sections, plane_normal)
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


def _on_table(
    mesh: trimesh.Trimesh, parts: dict[str, tuple[tuple, tuple]] | None = None, convex: list[np.ndarray] | None = None
) -> trimesh.Trimesh:
    """Centre on the z axis and put the lowest point on z = 0.

    ``parts`` are named boxes (lo, hi) in the mesh's frame before that move, stored as vertex
    masks in ``metadata["parts"]``; ``convex`` (point sets whose hulls cover the mesh exactly, in
    the same frame) is stored, moved along, in ``metadata["convex_parts"]`` for the simulator.
    """
    verts = np.asarray(mesh.vertices)
    mesh.metadata["parts"] = {
        name: np.all((verts >= np.asarray(lo)) & (verts <= np.asarray(hi)), axis=1)
        for name, (lo, hi) in (parts or {}).items()
    }
    lo, hi = mesh.bounds
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    mesh.apply_translation(shift)
    if convex is not None:
        mesh.metadata["convex_parts"] = [np.asarray(points) + shift for points in convex]
    return mesh


def _revolved_convex(cells: list[list[tuple[float, float]]], sections: int = 48, per_part: int = 2) -> list[np.ndarray]:
    """Convex pieces of a solid of revolution (as ``_revolve`` with ``sections``): each cell, a
    convex polygon of (r, z) corners, swept in wedges of ``per_part`` sections; (M, 3) points each."""
    angles = np.linspace(0.0, 2.0 * np.pi, sections + 1)
    pieces = []
    for cell in cells:
        rz = np.asarray(cell, dtype=np.float64)  # (k, 2) corners of one convex cell of the profile
        for i in range(0, sections, per_part):
            theta = angles[i : i + per_part + 1]
            ring = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (p, 2)
            pts = np.concatenate([np.column_stack([r * ring, np.full(len(ring), z)]) for r, z in rz])
            pieces.append(pts)
    return pieces


def soup_can() -> trimesh.Trimesh:
    """YCB 005 tomato soup can: 66 mm diameter, 101 mm tall."""
    return _on_table(trimesh.creation.cylinder(radius=0.033, height=0.101, sections=48))


def cracker_box() -> trimesh.Trimesh:
    """YCB 003 cracker box: 60 x 158 x 210 mm."""
    return _on_table(trimesh.creation.box(extents=(0.060, 0.158, 0.210)))


def mug() -> trimesh.Trimesh:
    """YCB 025 mug: 80 mm body diameter, 82 mm tall, a D-shaped handle on +x (116 mm across) with
    an opening of 25 x 47 mm that two fingers pass through. Parts: handle, rim, body."""
    body = _revolve([(0.0, 0.0), (0.040, 0.0), (0.040, 0.082), (0.0365, 0.082), (0.0365, 0.006), (0.0, 0.006)])
    theta = np.radians(np.linspace(97.0, -97.0, 40))  # half an ellipse, ends inside the wall
    arc = np.stack([0.040 + 0.030 * np.cos(theta), np.zeros_like(theta), 0.043 + 0.029 * np.sin(theta)], axis=1)
    ring = _tube(arc, np.full(len(arc), 0.0055), sections=16, plane_normal=(0.0, 1.0, 0.0))
    inside = _box((0.08, 0.08, 0.2), (0.0, 0.0, 0.05))  # the part of the tube inside the body
    handle = trimesh.boolean.difference([ring, inside], engine="manifold")
    mesh = trimesh.boolean.union([body, handle], engine="manifold")
    parts = {"handle": ((0.0401, -1.0, -1.0), (1.0, 1.0, 1.0)), "rim": ((-1.0, -1.0, 0.081), (0.0401, 1.0, 1.0)),
             "body": ((-1.0, -1.0, -1.0), (0.0401, 1.0, 1.0))}
    # exact convex pieces: the base, wall wedges, and the handle's tube in runs of 3 rings (the
    # tube's ends poke up to 2 mm into the cavity, which no grasp touches)
    rings = _tube_rings(arc, np.full(len(arc), 0.0055), sections=16, plane_normal=(0.0, 1.0, 0.0))
    convex = _revolved_convex([[(0.0, 0.0), (0.040, 0.0), (0.040, 0.006), (0.0, 0.006)]], per_part=48)
    convex += _revolved_convex([[(0.040, 0.006), (0.040, 0.082), (0.0365, 0.082), (0.0365, 0.006)]])
    convex += [rings[i : i + 4].reshape(-1, 3) for i in range(0, 39, 3)]
    return _on_table(mesh, parts, convex)


def bottle() -> trimesh.Trimesh:
    """A 0.5 l drink bottle: 66 mm diameter, 215 mm tall, with shoulder and neck. Parts: neck, body."""
    mesh = _revolve([(0.0, 0.0), (0.033, 0.0), (0.033, 0.145), (0.013, 0.185), (0.013, 0.215), (0.0, 0.215)])
    parts = {"neck": ((-1.0, -1.0, 0.144), (1.0, 1.0, 1.0)), "body": ((-1.0, -1.0, -1.0), (1.0, 1.0, 0.146))}
    return _on_table(mesh, parts)


def bowl() -> trimesh.Trimesh:
    """YCB 024 bowl: 159 mm rim diameter, 53 mm tall, 3 mm wall. Parts: rim."""
    mesh = _revolve([(0.0, 0.0), (0.036, 0.0), (0.0795, 0.053), (0.0765, 0.053), (0.0345, 0.004), (0.0, 0.004)])
    convex = _revolved_convex([[(0.0, 0.0), (0.036, 0.0), (0.0345, 0.004), (0.0, 0.004)]], per_part=48)
    convex += _revolved_convex([[(0.036, 0.0), (0.0795, 0.053), (0.0765, 0.053), (0.0345, 0.004)]])
    return _on_table(mesh, {"rim": ((-1.0, -1.0, 0.052), (1.0, 1.0, 1.0))}, convex)


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
    """YCB 035 power drill, standing on its battery: 188 mm long, 187 mm tall, 57 mm wide, with a
    93 mm pistol grip (room for a hand's breadth) at the back, standing 3 mm proud of the battery
    and motor housing there. Parts: handle (the grip), body (motor housing), chuck, battery."""
    parts = [
        _box((0.100, 0.057, 0.035), (-0.002, 0.0, 0.0175)),  # battery pack
        _box((0.045, 0.045, 0.097), (-0.0325, 0.0, 0.0815)),  # grip
        _box((0.150, 0.057, 0.059), (0.023, 0.0, 0.1575)),  # motor housing
        trimesh.creation.cylinder(
            radius=0.016,
            height=0.040,
            transform=trimesh.transformations.translation_matrix([0.113, 0.0, 0.1575])
            @ trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]),
        ),  # chuck
    ]
    boxes = {
        "handle": ((-0.0565, -1.0, 0.034), (-0.0085, 1.0, 0.129)),
        "body": ((-1.0, -1.0, 0.127), (0.0981, 1.0, 1.0)),
        "chuck": ((0.0979, -1.0, -1.0), (1.0, 1.0, 1.0)),
        "battery": ((-1.0, -1.0, -1.0), (1.0, 1.0, 0.0351)),
    }
    return _on_table(trimesh.boolean.union(parts, engine="manifold"), boxes, [p.vertices for p in parts])


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

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the parts a grasp request can target (``GraspRequest.region``)."""
        return tuple(_built(self.name).metadata["parts"])


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


def builtin_mesh(name: str, scale: float = 1.0) -> trimesh.Trimesh:
    """A fresh copy of the named built-in object's mesh, scaled by ``scale`` (its metadata too)."""
    if name not in BUILTIN_OBJECTS:
        raise KeyError(f"unknown built-in object {name!r}; choose from {', '.join(BUILTIN_OBJECTS)}")
    mesh = _built(name).copy()
    if scale != 1.0:
        mesh.apply_scale(scale)
        if "convex_parts" in mesh.metadata:
            mesh.metadata["convex_parts"] = [scale * points for points in mesh.metadata["convex_parts"]]
    return mesh
