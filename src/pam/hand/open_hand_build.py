"""Deterministic builder of the OpenHand asset (rest surface, skinning weights, rest keypoints).

The surface is the zero level set of a signed distance field made of tapered capsules around the
bones of :mod:`pam.hand.anatomy` (each finger joined to the palm by a smooth union, fingers joined
to each other by a plain union so no webbing grows between them), meshed by marching cubes and
decimated to about a thousand vertices. Skinning weights fall off with the distance to each bone's
flesh, restricted to the bones of the finger (or palm) a vertex belongs to, then smoothed over the
mesh. Regenerate the shipped asset with::

    python -m pam.hand.open_hand_build [OUT.npz]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import trimesh

from pam.fileio import save_arrays
from pam.hand import anatomy
from pam.hand.open_hand import ASSET_PATH
VOXEL_MM = 1.25
TARGET_FACES = 2000
FINGER_BLEND_MM = 7.0
PALM_BLEND_MM = 9.0
WEIGHT_FALLOFF_MM = 3.0
WEIGHT_SMOOTHING_STEPS = 3


def _capsules() -> list[tuple[int, str, np.ndarray, np.ndarray, float, float]]:
    """Flesh primitives as (joint, group, end a, end b, radius at a, radius at b), hand coordinates in mm."""
    chains = anatomy.finger_chains()
    caps = []
    for name, root in anatomy.FINGER_ROOTS.items():
        radii = anatomy.THUMB["radii"] if name == "thumb" else anatomy.LONG_FINGERS[name]["radii"]
        pts = chains[name]
        for k in range(3):
            a, b = pts[k], pts[k + 1]
            rb = radii[k + 1]
            if k == 2:  # the distal capsule ends so that its surface reaches the fingertip keypoint
                b = b - rb * (b - a) / np.linalg.norm(b - a)
            group = "palm" if (name == "thumb" and k == 0) else name
            caps.append((root + k, group, a, b, radii[k], rb))
        if name != "thumb":
            base = np.array(anatomy.METACARPAL_BASES[name])
            caps.append((0, "palm", base, pts[0], *anatomy.METACARPAL_RADII))
    a, b = (np.array(e) for e in anatomy.CARPUS["ends"])
    caps.append((0, "palm", a, b, anatomy.CARPUS["radius"], anatomy.CARPUS["radius"]))
    for off in anatomy.FOREARM["offsets"]:
        a, b = (np.array(e) + [0.0, off, 0.0] for e in anatomy.FOREARM["ends"])
        caps.append((0, "palm", a, b, anatomy.FOREARM["radius"], anatomy.FOREARM["radius"]))
    return caps


def _capsule_sdf(points: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    """Approximate signed distance (N,) from points (N, 3) to a capsule whose radius tapers from ra to rb."""
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1) - (ra + t * (rb - ra))


def _smooth_min(d1: np.ndarray, d2: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields with blend width k."""
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 * (1.0 - h) + d1 * h - k * h * (1.0 - h)


def _group_fields(points: np.ndarray, caps) -> dict[str, np.ndarray]:
    """Signed distance (N,) of each group (palm and the five fingers) as the union of its capsules."""
    fields: dict[str, np.ndarray] = {}
    for _, group, a, b, ra, rb in caps:
        d = _capsule_sdf(points, a, b, ra, rb)
        if group not in fields:
            fields[group] = d
        elif group == "palm":
            fields[group] = _smooth_min(fields[group], d, PALM_BLEND_MM)
        else:
            fields[group] = np.minimum(fields[group], d)
    return fields


def hand_sdf(points: np.ndarray, caps) -> np.ndarray:
    """Signed distance (N,) of the whole hand: each finger smoothly joined to the palm, fingers hard-unioned."""
    fields = _group_fields(points, caps)
    palm = fields.pop("palm")
    return np.min([_smooth_min(palm, finger, FINGER_BLEND_MM) for finger in fields.values()], axis=0)


def _surface(caps) -> trimesh.Trimesh:
    """Marching-cubes surface of :func:`hand_sdf`, decimated to about TARGET_FACES faces (hand coordinates, mm)."""
    import igl
    from skimage.measure import marching_cubes

    ends = np.concatenate([np.stack([a, b]) for _, _, a, b, _, _ in caps])
    lo = ends.min(axis=0) - 20.0
    hi = ends.max(axis=0) + 20.0
    axes = [np.arange(lo[i], hi[i] + VOXEL_MM, VOXEL_MM) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    sdf = hand_sdf(grid.reshape(-1, 3), caps).reshape(grid.shape[:3])
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(VOXEL_MM,) * 3)
    verts = verts + lo
    v, f, _, _ = igl.decimate(
        np.asfortranarray(verts, dtype=np.float64), np.asfortranarray(faces, dtype=np.int32), TARGET_FACES, True
    )
    mesh = trimesh.Trimesh(v, f, process=True)
    mesh = trimesh.smoothing.filter_taubin(mesh, iterations=10)
    return mesh


def _skinning_weights(vertices: np.ndarray, caps, adjacency: list[list[int]]) -> np.ndarray:
    """(V, 16) skinning weights from the distance to each bone's flesh, within the vertex's own finger."""
    groups = _group_fields(vertices, caps)
    names = list(groups)
    label = np.argmin(np.stack([groups[n] for n in names]), axis=0)
    bone_dist = np.full((len(vertices), 16), np.inf)
    for joint, _, a, b, ra, rb in caps:
        bone_dist[:, joint] = np.minimum(bone_dist[:, joint], _capsule_sdf(vertices, a, b, ra, rb))
    allowed = {"palm": [0] + list(anatomy.FINGER_ROOTS.values())}
    for name, root in anatomy.FINGER_ROOTS.items():
        allowed[name] = [0, root, root + 1, root + 2]
    mask = np.zeros_like(bone_dist, dtype=bool)
    for g, name in enumerate(names):
        mask[np.ix_(label == g, allowed[name])] = True
    weights = np.where(mask, np.exp(-np.maximum(bone_dist, 0.0) / WEIGHT_FALLOFF_MM), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    for _ in range(WEIGHT_SMOOTHING_STEPS):
        weights = 0.5 * weights + 0.5 * np.stack([weights[nb].mean(axis=0) for nb in adjacency])
    weights[weights < 1e-4] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def build() -> dict[str, np.ndarray]:
    """Build the right OpenHand: vertices (V, 3) m, faces (F, 3), weights (V, 16), joints (16, 3) m, tips (5, 3) m."""
    caps = _capsules()
    mesh = _surface(caps)
    weights = _skinning_weights(mesh.vertices, caps, mesh.vertex_neighbors)
    keypoints = anatomy.rest_keypoints_mm()
    model = trimesh.Trimesh(anatomy.to_model_frame(mesh.vertices), mesh.faces, process=False)
    if model.volume < 0:  # the hand frame is left-handed in model coordinates: flip the winding
        model.invert()
    model_keypoints = anatomy.to_model_frame(keypoints)
    return {
        "vertices": model.vertices.astype(np.float32),
        "faces": model.faces.astype(np.int32),
        "weights": weights.astype(np.float32),
        "joints": model_keypoints[:16].astype(np.float32),
        "tips": model_keypoints[16:].astype(np.float32),
    }


def main(argv: list[str] | None = None) -> None:
    """Write the asset to ``argv[0]`` (default: the packaged asset) and print what was built."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else ASSET_PATH
    asset = build()
    save_arrays(out, compresslevel=9, **asset)
    print(f"wrote {out}: {len(asset['vertices'])} vertices, {len(asset['faces'])} faces")


if __name__ == "__main__":
    main()
