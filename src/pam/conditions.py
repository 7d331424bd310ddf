"""From a sequence to its condition set: rendered buffers, encoded condition videos and annotations.

``render_conditions`` rasterizes every frame (metric depth, instance ids, normals) and projects
the hand joints; ``write_condition_set`` encodes them as the PAM release does and writes the
videos, a preview and ``annotations.npz`` into a folder (each file written atomically).
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from pam.scene import build_scene
from pam.sequence import HOISequence, project_points

#: Called with (frames done, frames total) while rendering.
Progress = Callable[[int, int], None]

#: File stems recognised for each cue in a conditions folder: `pam render`'s names, then the release samples'.
CONDITION_FILE_STEMS = {
    "depth": ("depth", "val_depth"),
    "seg": ("seg", "seg_mask", "val_seg_mask"),
    "hand": ("hand_keypoints", "hand", "val_hand_keypoints", "val_hand"),
    "normal": ("normal", "val_normal"),
}
#: Frames shown side by side in ``preview.png``.
SHEET_COLUMNS = 5
CONDITION_FILE_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".png", ".jpg", ".jpeg")


def find_condition_files(
    names: Iterable[str], directory: str | Path | None = None, explicit: Mapping[str, str | Path | None] | None = None
) -> dict[str, Path]:
    """Cue name -> file: those of ``names`` found in ``directory`` (e.g. a ``pam render`` folder),
    overridden by the non-None ``explicit`` paths."""
    found: dict[str, Path] = {}
    if directory is not None:
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"conditions folder {directory} does not exist")
        for name in names:
            candidates = (
                directory / f"{stem}{suffix}"
                for stem in CONDITION_FILE_STEMS.get(name, (name,))
                for suffix in CONDITION_FILE_SUFFIXES
            )
            path = next((p for p in candidates if p.is_file()), None)
            if path is not None:
                found[name] = path
    found.update({name: Path(path) for name, path in (explicit or {}).items() if path is not None})
    return found


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
) -> ConditionFrames:
    """Rasterize ``seq`` frame by frame with its camera."""
    from pam.render.rasterizer import Mesh, make_rasterizer

    scene = build_scene(seq, mano_dir=mano_dir)
    cam = seq.camera
    T = seq.num_frames
    meshes = [[Mesh(m.vertices[t], m.faces, m.instance_id) for m in scene.meshes] for t in range(T)]
    on_frame = None if progress is None else (lambda t: progress(t + 1, T))
    with make_rasterizer(backend) as rasterizer:
        clip = rasterizer.render_clip(meshes, cam, on_frame=on_frame)
    joints_cam = np.stack([cam.world_to_camera(scene.joints[t], t) for t in range(T)])
    joints_2d = project_points(joints_cam, cam.K)
    return ConditionFrames(
        depth=clip.depth,
        ids=clip.ids,
        normals=clip.normals,
        joints_cam=joints_cam,
        joints_2d=joints_2d,
        hand_ids=[m.instance_id for m in scene.meshes if m.kind == "hand"],
        seg_ids={m.instance_id: m.seg_id for m in scene.meshes if m.kind == "object"},
    )


def encoded_frames(frames: ConditionFrames, style: str = "dexycb") -> Iterator[dict[str, np.ndarray]]:
    """Frame by frame, the PAM condition images, each (H, W, 3) uint8: depth, seg, hand_keypoints,
    normal. Lazy, so encoding overlaps with the video writers; depth is normalised over the clip."""
    from pam.render import HAND_LABEL, encode_depth, encode_hand_keypoints, encode_normals, encode_segmentation
    from pam.render.encoders import depth_range

    T, H, W = frames.depth.shape
    labels = {**{i: HAND_LABEL for i in frames.hand_ids}, **frames.seg_ids}
    near_far = depth_range(frames.depth)
    for t in range(T):
        yield {
            "depth": encode_depth(frames.depth[t], near_far=near_far),
            "seg": encode_segmentation(frames.ids[t], labels),
            "hand_keypoints": encode_hand_keypoints(
                frames.joints_2d[t : t + 1], frames.joints_cam[t : t + 1], H, W, style=style
            )[0],
            "normal": encode_normals(frames.normals[t], frames.ids[t] > 0),
        }


def _labelled_half(frame: np.ndarray, label: str) -> np.ndarray:
    import cv2

    small = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.putText(small, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return small


def preview_frame(images: dict[str, np.ndarray]) -> np.ndarray:
    """One frame's condition images tiled two per row at half size, each labelled: (H, W, 3) uint8."""
    tiles = [_labelled_half(image, name) for name, image in images.items()]
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    return np.concatenate([np.concatenate(tiles[i : i + 2], axis=1) for i in range(0, len(tiles), 2)], axis=0)


def contact_sheet(picked: dict[int, dict[str, np.ndarray]]) -> np.ndarray:
    """One row per condition, one column per picked frame (frame index -> condition images), at
    half size: (rows * H / 2, columns * W / 2, 3) uint8."""
    names = list(next(iter(picked.values())))
    rows = [
        np.concatenate([_labelled_half(images[name], f"{name} t={t}") for t, images in picked.items()], axis=1)
        for name in names
    ]
    return np.concatenate(rows, axis=0)


def annotation_arrays(seq: HOISequence, frames: ConditionFrames) -> dict[str, np.ndarray]:
    """Per-frame annotations (arrays for ``annotations.npz``; see ``write_condition_set``)."""
    cam = seq.camera
    T = seq.num_frames
    world_to_cam = np.tile(np.eye(4), (T, 1, 1))
    for f in range(T):
        world_to_cam[f, :3, :3], world_to_cam[f, :3, 3] = cam.extrinsics(f)

    def per_hand(field: str, *shape: int) -> np.ndarray:  # (T, NH, ...) per-frame MANO parameters
        return np.stack([getattr(h, field) for h in seq.hands], 1) if seq.hands else np.zeros((T, 0, *shape))

    arrays = {
        "fps": np.float64(seq.fps),
        "image_size": np.array([cam.height, cam.width]),
        "intrinsics": cam.K,
        "world_to_camera": world_to_cam,
        "hand_sides": np.array([h.side for h in seq.hands], dtype="U5"),
        "mano_global_orient": per_hand("global_orient", 3),
        "mano_hand_pose": per_hand("hand_pose", 45),
        "mano_transl": per_hand("transl", 3),
        "mano_betas": np.stack([h.betas for h in seq.hands]) if seq.hands else np.zeros((0, 10)),
        "joints_3d_cam": frames.joints_cam,
        "joints_2d": frames.joints_2d,
        "object_names": np.array([o.name for o in seq.objects], dtype=str),
        "object_seg_ids": np.array([o.seg_id for o in seq.objects], dtype=np.int64),
        "object_to_world": np.stack([o.transforms() for o in seq.objects], 1) if seq.objects else np.zeros((T, 0, 4, 4)),
        "depth": frames.depth,
        "instance_ids": frames.ids,
    }
    arrays["object_to_camera"] = world_to_cam[:, None] @ arrays["object_to_world"]
    return arrays


def write_condition_set(
    seq: HOISequence,
    out_dir: str | Path,
    style: str = "dexycb",
    backend: str | None = None,
    mano_dir: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Render ``seq`` and write its condition set into ``out_dir``; returns name -> path.

    Files: ``depth.mp4``, ``seg.mp4``, ``hand_keypoints.mp4``, ``normal.mp4`` (the encodings of
    REFERENCE.md), ``preview.mp4`` (the four side by side) with a ``preview.png`` contact sheet,
    and ``annotations.npz``: MANO parameters per hand (world frame; ``mano_*``, hands in
    ``hand_sides`` order), ``joints_3d_cam`` (T, NH, 21, 3) metres and ``joints_2d`` (T, NH, 21, 2)
    pixels, object poses ``object_to_world`` / ``object_to_camera`` (T, NO, 4, 4),
    ``intrinsics`` (3, 3), ``world_to_camera`` (T, 4, 4), and lossless ``depth`` (T, H, W) float32
    metres and ``instance_ids`` (T, H, W) uint16 (0 background, 1.. hands, then objects).
    """
    from PIL import Image

    from pam.fileio import atomic_path
    from pam.fileio import save_arrays
    from pam.render import write_videos

    out_dir = Path(out_dir)
    frames = render_conditions(seq, backend=backend, mano_dir=mano_dir, progress=progress)
    T = seq.num_frames
    picks = set(np.linspace(0, T - 1, min(SHEET_COLUMNS, T)).round().astype(int).tolist())
    picked: dict[int, dict[str, np.ndarray]] = {}

    def keep_picks() -> Iterator[dict[str, np.ndarray]]:
        for t, images in enumerate(encoded_frames(frames, style)):
            if t in picks:
                picked[t] = images
            yield images

    names = ["depth", "seg", "hand_keypoints", "normal"]
    streams = itertools.tee(keep_picks(), len(names) + 1)
    files = {name: out_dir / f"{name}.mp4" for name in [*names, "preview"]}
    videos = {files[name]: map(operator.itemgetter(name), stream) for name, stream in zip(names, streams)}
    videos[files["preview"]] = map(preview_frame, streams[-1])
    write_videos(videos, fps=seq.fps)  # one ffmpeg per video, fed in lockstep
    written = dict(files)
    with atomic_path(out_dir / "preview.png") as tmp:
        Image.fromarray(contact_sheet(dict(sorted(picked.items())))).save(tmp, format="PNG")
    written["preview_png"] = out_dir / "preview.png"
    written["annotations"] = save_arrays(out_dir / "annotations.npz", **annotation_arrays(seq, frames))
    return written
