"""Object meshes: files through trimesh, and a catalogue of built-in household objects."""

from __future__ import annotations

from pathlib import Path

import trimesh

from pam.objects.catalogue import BUILTIN_OBJECTS, BuiltinObject, builtin_mesh
from pam.objects.loading import MeshError, NotWatertightWarning, check_mesh, load_mesh

__all__ = [
    "BUILTIN_OBJECTS",
    "BuiltinObject",
    "MeshError",
    "NotWatertightWarning",
    "builtin_mesh",
    "check_mesh",
    "load_mesh",
    "load_object",
    "object_seg_id",
]


def load_object(ref: str, scale: float = 1.0) -> trimesh.Trimesh:
    """A built-in object by name (e.g. ``"mug"``) or a mesh file path, in metres (times ``scale``)."""
    if ref in BUILTIN_OBJECTS:
        return builtin_mesh(ref, scale)
    if not Path(ref).suffix:
        raise KeyError(f"unknown built-in object {ref!r}; choose from {', '.join(BUILTIN_OBJECTS)} or give a mesh file")
    return load_mesh(ref, scale=scale)


def object_seg_id(ref: str, default: int = 1) -> int:
    """The segmentation palette index of a built-in object (its YCB index), else ``default``."""
    return BUILTIN_OBJECTS[ref].seg_id if ref in BUILTIN_OBJECTS else default
