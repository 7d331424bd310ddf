"""The condition set of a clip: encode rendered frames and hand joints, write the condition videos.

``project_joints`` gives the 2D joints (and camera-frame joints) the keypoint encoder needs,
``encode_conditions`` turns a ``RenderedClip`` plus joints into the four RGB condition videos, and
``write_condition_videos`` writes them as H.264 mp4 files in parallel (one ffmpeg each).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping

import numpy as np

from pam.render.encoders import encode_depth, encode_hand_keypoints, encode_normals, encode_segmentation
from pam.render.rasterizer import RenderedClip
from pam.render.video import write_video
from pam.sequence import Camera

#: Condition names; each is written as ``<name>.mp4``.
CONDITION_NAMES = ("depth", "seg", "hand_keypoints", "normal")


def project_joints(camera: Camera, joints_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World joints (T, N, J, 3) -> (pixels (T, N, J, 2), camera-frame joints (T, N, J, 3)).

    Uses frame t's camera pose for frame t (moving cameras). Points behind the camera get
    meaningless pixels; their camera-frame z is <= 0.
    """
    joints_world = np.asarray(joints_world, dtype=np.float64)
    if joints_world.ndim != 4 or joints_world.shape[-1] != 3:
        raise ValueError(f"joints_world: expected (T, N, J, 3), got {joints_world.shape}")
    cam = np.stack([camera.world_to_camera(joints_world[t], t) for t in range(len(joints_world))])
    z = cam[..., 2:3]
    uvw = cam @ camera.K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        pix = np.where(z != 0, uvw[..., :2] / np.where(z != 0, z, 1.0), np.nan)
    return pix, cam


def encode_conditions(
    clip: RenderedClip,
    labels: Mapping[int, int],
    joints_2d: np.ndarray,
    joints_cam: np.ndarray,
    style: str = "dexycb",
) -> dict[str, np.ndarray]:
    """All condition videos of a clip as (T, H, W, 3) uint8 RGB arrays keyed by ``CONDITION_NAMES``.

    Args:
        clip: rendered depth, ids and normals of T frames.
        labels: instance id -> ADE20K palette index (``HAND_LABEL`` for hands, ``seg_id`` for objects).
        joints_2d, joints_cam: (T, N, 21, 2) and (T, N, 21, 3) hand joints (``project_joints``); N may be 0.
        style: keypoint limb widths, "dexycb" or "oakink2".
    """
    T, H, W = clip.ids.shape
    if len(joints_2d) != T:
        raise ValueError(f"joints_2d: {len(joints_2d)} frames but the clip has {T}")
    return {
        "depth": encode_depth(clip.depth),
        "seg": encode_segmentation(clip.ids, labels),
        "hand_keypoints": encode_hand_keypoints(joints_2d, joints_cam, H, W, style=style),
        "normal": encode_normals(clip.normals, clip.ids > 0),
    }


def write_condition_videos(
    out_dir: str | Path, conditions: Mapping[str, np.ndarray], fps: float, crf: int = 18
) -> dict[str, Path]:
    """Write each (T, H, W, 3) condition as ``out_dir/<name>.mp4`` (H.264), all at once; returns the paths."""
    out_dir = Path(out_dir)
    with ThreadPoolExecutor(max_workers=max(1, len(conditions))) as pool:
        futures = {
            name: pool.submit(write_video, out_dir / f"{name}.mp4", frames, fps=fps, crf=crf)
            for name, frames in conditions.items()
        }
        return {name: f.result() for name, f in futures.items()}
