"""Object collision geometry: convex parts for the simulator, from CoACD, cached on disk.

MuJoCo collides convex shapes only, so a non-convex object (a mug, a drill) is split into
convex parts with CoACD (approximate convex decomposition). A mesh that is already (nearly)
convex is used as its own convex hull, with no decomposition.

Cache: ``$PAM_HOME/cache/coacd`` (``PAM_HOME`` defaults to ``~/.cache/pam``), one ``.npz`` per
mesh keyed by a SHA-256 of its vertices, faces and the CoACD settings. Delete the folder to
recompute.

Quality vs speed: CoACD's defaults (threshold 0.05, resolution 2000, 150 MCTS iterations) take
~30 s per mesh. ``FAST_SETTINGS`` (threshold 0.08, resolution 800, 60 iterations, at most 12
parts) take ~19 s for the mug on a first run (cached after that) and keep the handle's hole
open, which is all a grasp needs; pass ``settings=DEFAULT_SETTINGS`` for tighter parts (lower
concavity threshold, finer voxels) when collisions with concave details matter more than time.

Faithfulness: the simulated object must be the shown one. A decomposition whose parts stand out of
the mesh's surface by more than ``SURFACE_TOLERANCE`` is run again with CoACD's concavity threshold
halved, down to ``MIN_THRESHOLD`` (the fast settings filled a banana's inner curve: its 2 parts
stood 6.8 mm proud of it, the refined 5 parts 1.0 mm).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings

import numpy as np
import trimesh

from pam.fileio import atomic_path
from pam.home import cache_dir
from pam.pose.sdf import ObjectSDF

log = logging.getLogger(__name__)

FAST_SETTINGS = dict(
    threshold=0.08, max_convex_hull=12, preprocess_resolution=30, resolution=800,
    mcts_iterations=60, mcts_nodes=12, mcts_max_depth=2, seed=0,
)
DEFAULT_SETTINGS = dict(threshold=0.05, seed=0)
#: A mesh whose volume is at least this fraction of its convex hull's counts as convex.
CONVEX_VOLUME_RATIO = 0.97
#: m the parts may stand out of the mesh's surface (the hand's contact gap); coarser ones are refined ...
SURFACE_TOLERANCE = 0.002
#: ... by halving CoACD's concavity threshold, down to this one.
MIN_THRESHOLD = 0.02


def is_convex(mesh: trimesh.Trimesh) -> bool:
    """True for a watertight mesh filling at least ``CONVEX_VOLUME_RATIO`` of its convex hull."""
    if not mesh.is_watertight:
        return False
    return abs(mesh.volume) >= CONVEX_VOLUME_RATIO * mesh.convex_hull.volume


def closed_mesh(mesh: trimesh.Trimesh, name: str = "object") -> trimesh.Trimesh:
    """``mesh`` if watertight; otherwise, with a warning, a copy with its holes filled or, if they
    cannot be filled, its convex hull. The warning points at the caller's caller."""
    if mesh.is_watertight:
        return mesh
    closed = mesh.copy()
    closed.fill_holes()
    how = "filling its holes" if closed.is_watertight else "its convex hull (holes could not be filled)"
    warnings.warn(f"{name}: mesh is not watertight; collision shape from {how}", stacklevel=3)
    return closed if closed.is_watertight else mesh.convex_hull


def outward_deviation(mesh: trimesh.Trimesh, parts: list[trimesh.Trimesh], samples: int = 800) -> float:
    """The farthest (m) that points sampled on the parts' surfaces (``samples`` per part) lie outside
    the watertight ``mesh``; 0 when every one is on or inside it."""
    points = np.concatenate([trimesh.sample.sample_surface(p, samples, seed=0)[0] for p in parts])
    return float(max(ObjectSDF(mesh)(points).max(), 0.0))


def _mesh_key(mesh: trimesh.Trimesh, settings: dict) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:32]


def convex_parts(
    mesh: trimesh.Trimesh, name: str = "object", settings: dict | None = None, cache: bool = True
) -> list[trimesh.Trimesh]:
    """Convex parts covering ``mesh`` (in its own frame and units).

    A convex mesh gives its hull; otherwise CoACD runs (or its cached result is read). A mesh
    that is not watertight is closed first (``closed_mesh``; CoACD on an open surface is slow
    and fragments it).
    """
    if "convex_parts" in mesh.metadata:  # exact pieces of a built-in object (pam.objects.catalogue)
        return [trimesh.Trimesh(points).convex_hull for points in mesh.metadata["convex_parts"]]
    mesh = closed_mesh(mesh, name)
    if is_convex(mesh):
        return [mesh.convex_hull]
    settings = dict(FAST_SETTINGS if settings is None else settings)
    settings.setdefault("threshold", DEFAULT_SETTINGS["threshold"])
    path = cache_dir("coacd") / f"{_mesh_key(mesh, dict(settings, surface_tolerance=SURFACE_TOLERANCE))}.npz"
    if cache and path.is_file():
        with np.load(path) as data:
            counts = data["counts"]
            verts = np.split(data["vertices"], np.cumsum(counts)[:-1])
        return [trimesh.Trimesh(v).convex_hull for v in verts]
    import coacd

    coacd.set_log_level("error")
    while True:
        log.info("convex decomposition of %s (%d faces) with CoACD, threshold %g", name, len(mesh.faces),
                 settings["threshold"])
        result = coacd.run_coacd(coacd.Mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces)), **settings)
        parts = [trimesh.Trimesh(np.asarray(v), np.asarray(f)).convex_hull for v, f in result]
        if settings["threshold"] / 2 < MIN_THRESHOLD or outward_deviation(mesh, parts) <= SURFACE_TOLERANCE:
            break
        settings["threshold"] /= 2
    if cache:
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                vertices=np.concatenate([p.vertices for p in parts]),
                counts=np.array([len(p.vertices) for p in parts]),
            )
    return parts
