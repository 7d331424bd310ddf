"""Render benchmark: 49 frames at 480 x 720 of a hand plus a ~50k-face object.

Prints frames/s of raw rasterization (OpenGL and the ray-casting fallback) and the time of the full
condition set: rasterize, encode depth / seg / hand keypoints / normals and write the four H.264
videos in parallel (plus, separately, the lossless depth + ids .npz).

    PYTHONPATH=src python benchmarks/render.py [--frames 49] [--out DIR] [--skip-ray]

The hand is ``pam.hand.OpenHand`` when available, else a hand-sized ellipsoid of ~1.3k faces with a
synthetic 21-joint skeleton. Target (issue 2): the whole 49-frame condition set in <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import trimesh

from pam.render.encoders import depth_range, encode_depth, encode_hand_keypoints, encode_normals, encode_segmentation
from pam.render.palette import HAND_LABEL
from pam.render.rasterizer import GLRasterizer, Mesh, RayRasterizer, RenderedClip, RenderError
from pam.render.video import save_arrays, write_videos
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import Camera


def hand_frames(T: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per-frame hand vertices (V, 3), faces, and joints (T, 21, 3), reaching towards +x."""
    path = np.linspace(0.0, 1.0, T)
    orient = np.stack([np.array([-np.pi / 2, 0.0, 0.3 * s]) for s in path])
    transl = np.stack([[-0.18 + 0.1 * s, 0.02, 0.55] for s in path])
    try:
        import torch

        from pam.hand import OpenHand

        hand = OpenHand("right").to(torch.float64)
        pose = torch.zeros(T, 45, dtype=torch.float64)
        pose[:, 2::3] = torch.from_numpy(0.5 * path)[:, None]  # curl
        with torch.no_grad():
            out = hand(torch.from_numpy(orient), pose, None, torch.from_numpy(transl))
        return list(out.vertices.numpy()), np.asarray(hand.faces), out.joints.numpy()
    except ImportError:
        proxy = trimesh.creation.icosphere(subdivisions=3)  # 1280 faces
        proxy.apply_scale([0.09, 0.045, 0.02])
        local = np.zeros((21, 3))
        for f in range(5):
            for k in range(4):
                local[1 + 4 * f + k] = [0.03 + 0.022 * (k + 1), -0.04 + 0.02 * f, 0.0]
        verts, joints = [], []
        for t in range(T):
            R = axis_angle_to_matrix_np(orient[t])
            verts.append(proxy.vertices @ R.T + transl[t])
            joints.append(local @ R.T + transl[t])
        return verts, np.asarray(proxy.faces), np.stack(joints)


def object_frames(T: int) -> tuple[list[np.ndarray], np.ndarray]:
    """A ~50k-face can-like uv sphere rotating in place."""
    obj = trimesh.creation.uv_sphere(radius=0.05, count=[112, 112])
    obj.apply_scale([1.0, 1.6, 1.0])
    verts = [
        obj.vertices @ axis_angle_to_matrix_np(np.array([0.0, 0.5 * t / T, 0.0])).T + [0.02, 0.0, 0.6]
        for t in range(T)
    ]
    return verts, np.asarray(obj.faces)


def condition_frames(clip: RenderedClip, joints_2d: np.ndarray, joints_cam: np.ndarray) -> dict[str, Iterator[np.ndarray]]:
    """The four condition videos as lazy per-frame encoders (hand id 1; object id 2, palette index 1)."""
    H, W = clip.ids.shape[1:]
    near_far = depth_range(clip.depth)
    labels = {1: HAND_LABEL, 2: 1}
    return {
        "depth": (encode_depth(d, near_far=near_far) for d in clip.depth),
        "seg": (encode_segmentation(i, labels) for i in clip.ids),
        "hand_keypoints": (encode_hand_keypoints(j[None], c[None], H, W)[0] for j, c in zip(joints_2d, joints_cam)),
        "normal": (encode_normals(n, i > 0) for n, i in zip(clip.normals, clip.ids)),
    }


def in_memory(streams: dict[str, Iterator[np.ndarray]]) -> dict[str, np.ndarray]:
    """Run lazy per-frame encoders to the end: name -> (T, H, W, 3)."""
    return {name: np.stack(list(frames)) for name, frames in streams.items()}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--out", type=Path, default=None, help="keep the videos here (default: a temp dir)")
    parser.add_argument("--skip-ray", action="store_true", help="do not time the ray-casting fallback")
    args = parser.parse_args()
    T = args.frames

    camera = Camera.from_fov(50.0, height=480, width=720)
    hand_v, hand_f, joints = hand_frames(T)
    obj_v, obj_f = object_frames(T)
    frames = [[Mesh(hv, hand_f, 1), Mesh(ov, obj_f, 2)] for hv, ov in zip(hand_v, obj_v)]
    print(f"{T} frames, 480 x 720; hand {len(hand_f)} faces, object {len(obj_f)} faces")

    backends = []
    try:
        backends.append(GLRasterizer())
    except RenderError as exc:
        print(f"gl: unavailable ({exc})")
    if not args.skip_ray:
        backends.append(RayRasterizer())
    clip, t_raster = None, 0.0
    for rast in backends:
        rast.render(frames[0], camera)  # warm-up (shader compile, buffer allocation)
        result, seconds = timed(rast.render_clip, frames, camera)
        if clip is None:
            clip, t_raster = result, seconds
        print(f"raster {rast.name:>3}: {seconds:6.2f} s  {T / seconds:7.1f} frames/s")
    if clip is None:
        raise SystemExit("no rasterizer available")

    joints_cam = np.stack([camera.world_to_camera(joints[t], t) for t in range(T)])[:, None]
    joints_2d = np.stack([camera.project(joints[t], t) for t in range(T)])[:, None]
    inputs = (clip, joints_2d, joints_cam)
    videos, t_encode = timed(in_memory, condition_frames(*inputs))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        _, t_write = timed(write_videos, {out / f"{name}.mp4": v for name, v in videos.items()}, fps=15.0)
        lazy = {out / f"{name}.mp4": frames for name, frames in condition_frames(*inputs).items()}
        _, t_stream = timed(write_videos, lazy, fps=15.0)
        _, t_npz = timed(save_arrays, out / "render.npz", depth=clip.depth, ids=clip.ids)
        sizes = {p.name: p.stat().st_size // 1024 for p in sorted(out.iterdir())}
    print(f"encode 4 conditions in memory: {t_encode:6.2f} s; then write the 4 H.264 videos: {t_write:6.2f} s")
    print(f"encode + write streamed frame by frame: {t_stream:6.2f} s")
    total = t_raster + min(t_stream, t_encode + t_write)
    print(
        f"condition set (raster {backends[0].name} + encode + write): {total:6.2f} s  "
        f"{T / total:5.1f} frames/s  (target <= 2 s)"
    )
    print(f"lossless depth + ids npz: {t_npz:6.2f} s")
    print("sizes (KiB):", sizes)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
