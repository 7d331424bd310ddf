"""Loading object meshes from files (OBJ, PLY, STL, GLB, ... through trimesh) with checks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import trimesh


class MeshError(ValueError):
    """An object mesh that cannot be used (unreadable, empty or degenerate); the message names the file."""


class NotWatertightWarning(UserWarning):
    """The mesh has holes: volumes, signed distances and physics fall back to approximations."""


#: Extent (metres) above which a mesh given in metres is almost surely in millimetres.
SUSPICIOUS_EXTENT_M = 3.0


def check_mesh(mesh: trimesh.Trimesh, name: str) -> trimesh.Trimesh:
    """Reject empty or degenerate meshes; warn on holes and on sizes that look like millimetres."""
    if len(mesh.faces) == 0 or len(mesh.vertices) < 4:
        raise MeshError(f"{name}: mesh is empty ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces)")
    if not np.all(np.isfinite(mesh.vertices)):
        raise MeshError(f"{name}: mesh has NaN or infinite vertex coordinates")
    mesh.remove_unreferenced_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    if len(mesh.faces) == 0 or mesh.area <= 0:
        raise MeshError(f"{name}: mesh is degenerate (all faces have zero area)")
    extents = mesh.extents
    if np.sort(extents)[1] <= 1e-9:
        raise MeshError(f"{name}: mesh is degenerate (flat along two axes, extents {extents})")
    if mesh.is_watertight and mesh.volume < 0:  # inverted normals: every face wound inwards
        trimesh.repair.fix_normals(mesh)
    if not mesh.is_watertight:
        warnings.warn(
            f"{name}: mesh is not watertight; physics uses its convex decomposition and volumes are approximate",
            NotWatertightWarning,
            stacklevel=3,
        )
    if extents.max() > SUSPICIOUS_EXTENT_M:
        warnings.warn(
            f"{name}: mesh is {extents.max():.1f} m across; if it is in millimetres, pass scale=0.001",
            stacklevel=3,
        )
    return mesh


def load_mesh(path: str | Path, scale: float = 1.0) -> trimesh.Trimesh:
    """Read a mesh file into one ``trimesh.Trimesh`` in metres (multiply by ``scale``, e.g. 0.001 for mm).

    Scenes (GLB, multi-object OBJ) are flattened into one mesh with their transforms applied.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    if not np.isfinite(scale) or scale <= 0:
        raise MeshError(f"{path}: scale must be positive, got {scale}")
    try:
        mesh = trimesh.load(path, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many exception types for corrupt files
        raise MeshError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh):
        raise MeshError(f"{path}: file holds no triangle mesh")
    if scale != 1.0:
        mesh.apply_scale(scale)
    return check_mesh(mesh, str(path))
