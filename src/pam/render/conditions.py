"""The condition set of a clip: project hand joints, encode rendered frames, write the condition videos.

``project_joints`` gives the 2D joints (and camera-frame joints) the keypoint encoder needs;
``iter_condition_frames`` encodes a ``RenderedClip`` frame by frame into the four RGB conditions;
``write_condition_videos`` streams such frames into one H.264 mp4 per condition (the ffmpeg
encoders run while the next frame is being encoded); ``stack_condition_frames`` keeps them in memory.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from pam.render.encoders import depth_range, encode_depth, encode_hand_keypoints, encode_normals, encode_segmentation
from pam.render.rasterizer import RenderedClip
from pam.render.video import VideoWriter
from pam.sequence import Camera

#: Condition names; each is written as ``<name>.mp4``.
CONDITION_NAMES = ("depth", "seg", "hand_keypoints", "normal")


def project_joints(camera: Camera, joints_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World joints (T, N, J, 3) -> (pixels (T, N, J, 2), camera-frame joints (T, N, J, 3)).

    Uses frame t's camera pose for frame t (moving cameras). Points on the camera plane get NaN
    pixels; points behind the camera have camera-frame z < 0 (the keypoint encoder skips them).
    """
    joints_world = np.asarray(joints_world, dtype=np.float64)
    if joints_world.ndim != 4 or joints_world.shape[-1] != 3:
        raise ValueError(f"joints_world: expected (T, N, J, 3), got {joints_world.shape}")
    cam = np.stack([camera.world_to_camera(joints_world[t], t) for t in range(len(joints_world))])
    z = cam[..., 2:3]
    uvw = cam @ camera.K.T
    pix = np.divide(uvw[..., :2], z, out=np.full(uvw[..., :2].shape, np.nan), where=z != 0)
    return pix, cam


def iter_condition_frames(
    clip: RenderedClip,
    labels: Mapping[int, int],
    joints_2d: np.ndarray,
    joints_cam: np.ndarray,
    style: str = "dexycb",
) -> Iterator[dict[str, np.ndarray]]:
    """Per frame, the conditions as (H, W, 3) uint8 RGB images keyed by ``CONDITION_NAMES``.

    Args:
        clip: rendered depth, ids and normals of T frames (depth is normalised over the whole clip).
        labels: instance id -> ADE20K palette index (``HAND_LABEL`` for hands, ``seg_id`` for objects).
        joints_2d, joints_cam: (T, N, 21, 2) and (T, N, 21, 3) hand joints (``project_joints``); N may be 0.
        style: keypoint limb widths, "dexycb" or "oakink2".
    """
    T, H, W = clip.ids.shape
    if len(joints_2d) != T or len(joints_cam) != T:
        raise ValueError(f"joints: {len(joints_2d)} / {len(joints_cam)} frames but the clip has {T}")
    near_far = depth_range(clip.depth)
    for t in range(T):
        yield {
            "depth": encode_depth(clip.depth[t], near_far=near_far),
            "seg": encode_segmentation(clip.ids[t], labels),
            "hand_keypoints": encode_hand_keypoints(joints_2d[t : t + 1], joints_cam[t : t + 1], H, W, style=style)[0],
            "normal": encode_normals(clip.normals[t], clip.ids[t] > 0),
        }


def stack_condition_frames(frames: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-frame images ``{name: (H, W, 3)}`` -> in-memory videos ``{name: (T, H, W, 3)}``."""
    frames = list(frames)
    if not frames:
        raise ValueError("stack_condition_frames: no frames given")
    return {name: np.stack([f[name] for f in frames]) for name in frames[0]}


def write_condition_videos(
    out_dir: str | Path, frames: Iterable[Mapping[str, np.ndarray]], fps: float, crf: int = 18
) -> dict[str, Path]:
    """Stream per-frame images ``{name: (H, W, 3)}`` into ``out_dir/<name>.mp4`` (H.264); returns the paths.

    ``frames`` is typically ``iter_condition_frames(...)``, possibly with extra keys (a preview).
    Either every video is written or, on an error, none is left behind.
    """
    out_dir = Path(out_dir)
    with contextlib.ExitStack() as stack:
        writers: dict[str, VideoWriter] = {}
        for frame in frames:
            for name, image in frame.items():
                if name not in writers:
                    video = VideoWriter(out_dir / f"{name}.mp4", fps=fps, crf=crf, threads=1)  # one ffmpeg each
                    writers[name] = stack.enter_context(video)
                writers[name].write(image)
        if not writers:
            raise ValueError("write_condition_videos: no frames given")
    return {name: w.path for name, w in writers.items()}
