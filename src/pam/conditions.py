"""From a sequence to its condition set: rendered buffers, encoded condition videos and annotations.

``render_conditions`` rasterizes every frame (metric depth, instance ids, normals) and projects
the hand joints; ``write_condition_set`` encodes them as the PAM release does and writes the
videos, a preview and ``annotations.npz`` into a folder (each file written atomically).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pam.scene import SceneGeometry, build_scene
from pam.sequence import HOISequence

#: Called with (frames done, frames total) while rendering.
Progress = Callable[[int, int], None]


@dataclass
class ConditionFrames:
    """Rendered buffers of T frames at H x W.

    Attributes:
        depth: (T, H, W) float32 metres along the camera z axis, 0 on background.
        ids: (T, H, W) uint16 instance ids (0 background, 1.. hands, then objects).
        normals: (T, H, W, 3) float32 camera-frame unit normals, 0 on background.
        joints_cam: (T, NH, 21, 3) hand joints in the camera frame (metres).
        joints_2d: (T, NH, 21, 2) projected hand joints in pixels.
        hand_ids: the instance ids that are hands.
        seg_ids: instance id -> ADE20K palette index for objects.
    """

    depth: np.ndarray
    ids: np.ndarray
    normals: np.ndarray
    joints_cam: np.ndarray
    joints_2d: np.ndarray
    hand_ids: list[int]
    seg_ids: dict[int, int]


def render_conditions(
    seq: HOISequence,
    backend: str | None = None,
    mano_dir: str | None = None,
    progress: Progress | None = None,
    scene: SceneGeometry | None = None,
) -> ConditionFrames:
    """Rasterize ``seq`` frame by frame with its camera."""
    from pam.render.rasterizer import Mesh, make_rasterizer

    scene = scene or build_scene(seq, mano_dir=mano_dir)
    cam = seq.camera
    T = seq.num_frames
    depth = np.zeros((T, cam.height, cam.width), np.float32)
    ids = np.zeros((T, cam.height, cam.width), np.uint16)
    normals = np.zeros((T, cam.height, cam.width, 3), np.float32)
    with make_rasterizer(backend) as rasterizer:
        for t in range(T):
            frame = rasterizer.render([Mesh(m.vertices[t], m.faces, m.instance_id) for m in scene.meshes], cam, t)
            depth[t], ids[t], normals[t] = frame.depth, frame.ids, frame.normals
            if progress:
                progress(t + 1, T)
    joints_cam = np.stack([cam.world_to_camera(scene.joints[t], t) for t in range(T)])
    joints_2d = np.stack([cam.project(scene.joints[t], t) for t in range(T)])
    return ConditionFrames(
        depth=depth,
        ids=ids,
        normals=normals,
        joints_cam=joints_cam,
        joints_2d=joints_2d,
        hand_ids=[m.instance_id for m in scene.meshes if m.kind == "hand"],
        seg_ids={m.instance_id: m.seg_id for m in scene.meshes if m.kind == "object"},
    )
