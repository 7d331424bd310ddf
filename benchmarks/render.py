"""Render benchmark: ``pam render`` of 49 frames at 480 x 720, the open hand plus a ~50k-face object.

Prints the time of rasterizing the sequence (OpenGL and the ray-casting fallback, scene posing and
joint projection included) and of the whole ``pam render`` (rasterize, encode depth / seg / hand
keypoints / normals, write the four H.264 videos and the preview, then the lossless
``annotations.npz``).

    PYTHONPATH=src python benchmarks/render.py [--frames 49] [--out DIR] [--skip-ray]

Target (issue 2): the whole 49-frame condition set in <= 2 s on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from pam.conditions import render_conditions, write_condition_set
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack


def benchmark_sequence(T: int, mesh_path: Path) -> HOISequence:
    """The open hand reaching and curling next to a slowly turning ~50k-face ellipsoid."""
    obj = trimesh.creation.uv_sphere(radius=0.05, count=[112, 112])
    obj.apply_scale([1.0, 1.6, 1.0])
    obj.export(mesh_path)
    s = np.linspace(0.0, 1.0, T)
    pose = np.zeros((T, 45))
    pose[:, 2::3] = 0.5 * s[:, None]  # curl every finger joint
    hand = HandTrack(
        global_orient=np.stack([[-np.pi / 2, 0.0, 0.3 * u] for u in s]),
        hand_pose=pose,
        transl=np.stack([[-0.18 + 0.1 * u, 0.02, 0.55] for u in s]),
    )
    turning = ObjectTrack(
        mesh=str(mesh_path),
        rotation=axis_angle_to_matrix_np(np.stack([[0.0, 0.5 * u, 0.0] for u in s])),
        translation=np.tile([0.02, 0.0, 0.6], (T, 1)),
    )
    return HOISequence(hands=[hand], objects=[turning], camera=Camera.from_fov(50.0), fps=15.0)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here (default: a temp dir)")
    parser.add_argument("--skip-ray", action="store_true", help="do not time the ray-casting fallback")
    args = parser.parse_args()
    T = args.frames
    with tempfile.TemporaryDirectory() as tmp:
        seq = benchmark_sequence(T, Path(tmp) / "object.ply")
        faces = trimesh.load(Path(tmp) / "object.ply").faces.shape[0]
        print(f"{T} frames, 480 x 720; open hand 2000 faces, object {faces} faces")
        render_conditions(seq, backend="gl")  # warm-up: shader compile, mesh load
        for backend in ["gl"] + ([] if args.skip_ray else ["ray"]):
            _, seconds = timed(render_conditions, seq, backend=backend)
            print(f"rasterize ({backend:>3}): {seconds:6.2f} s  {T / seconds:6.1f} frames/s")
        out = args.out or Path(tmp) / "out"
        written, total = timed(write_condition_set, seq, out, backend="gl")
        sizes = {p.name: p.stat().st_size // 1024 for p in written.values()}
    print(f"pam render (raster + encode + 5 videos + preview.png + annotations.npz): {total:6.2f} s  (target <= 2 s)")
    print("sizes (KiB):", sizes)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
