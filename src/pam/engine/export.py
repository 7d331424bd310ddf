"""``pam export``: finished clips -> training layouts for hand-pose codebases.

``dexycb`` (DexYCB's own layout; ``docs/engine.md`` lists every key). DexYCB's labels hold one hand per
sequence (``meta.yml`` ``mano_sides`` / ``mano_calib`` and ``joint_3d`` (1, 21, 3), read at index 0 by its
toolkit), so a clip becomes one DexYCB sequence *per hand*, ``<clip_id>_<side>``; a two-hand clip gives
two sequences with the same frames, each labelled for its own hand::

    DEST/calibration/intrinsics/<clip_id>_<W>x<H>.yml         color: {fx, fy, ppx, ppy}
    DEST/calibration/mano_<clip_id>_<side>/mano.yml           betas (10) of that hand
    DEST/pam/<clip_id>_<side>/meta.yml                        serials [<clip_id>], num_frames, ycb_ids,
                                                              mano_sides [<side>], mano_calib [<clip_id>_<side>], ...
    DEST/pam/<clip_id>_<side>/<clip_id>/color_%06d.jpg        the generated frames
    DEST/pam/<clip_id>_<side>/<clip_id>/labels_%06d.npz       seg, pose_y, joint_3d, joint_2d (+ pose_m for MANO hands)
    DEST/pam/<clip_id>_<side>/<clip_id>/simplehand_%06d.json  MANO hands only: joints, K, 778 vertices (camera frame)

The clip's camera is one DexYCB camera whose serial is the clip id (its intrinsics file is shared by the
clip's sequences); ``mano_calib`` names the folder ``calibration/mano_<mano_calib>`` as DexYCB's toolkit
reads it. ``joint_3d`` (1, 21, 3) camera-frame metres, ``joint_2d`` (1, 21, 2) pixels, ``pose_y`` (n, 3, 4)
object-to-camera [R | t], ``seg`` (H, W) uint8 with 255 on the sequence's hand, 254 on any other hand, each
object's YCB id (its ``seg_id``) on the object, 0 elsewhere.

``webdataset``: ``DEST/shard-%06d.tar`` with one sample per hand and frame, key
``<clip_id>_<frame:06d>_<hand>``: ``.jpg`` (the whole frame) and ``.json`` (HaMeR-style keys:
``keypoints_2d``, ``keypoints_3d``, ``global_orient`` (camera frame), ``hand_pose``, ``betas``, ``right``,
``center``, ``scale``, plus ``K`` and provenance). Written with the standard library's tarfile in
webdataset's naming convention (files of a sample share the key up to the first dot).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pam.engine.manifest import CLIPS, read_rows

FORMATS = ("dexycb", "webdataset")
SUBJECT = "pam"  # DexYCB's subject level: one folder for all generated sequences
HAND_LABEL = 255  # DexYCB's hand id in seg: the hand a sequence is labelled for
OTHER_HAND_LABEL = 254  # another hand of the clip (not an id DexYCB uses, so its loaders ignore it)
#: HaMeR's box convention: scale = box size / 200 px; the box is the keypoints' square box grown by this factor.
BOX_STD, BOX_GROWTH = 200.0, 1.2
JPEG_QUALITY = 95


@dataclass
class ExportReport:
    clips: int = 0
    frames: int = 0
    hands: int = 0  # hand tracks: DexYCB sequences, or webdataset samples per frame, summed over clips
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class ClipFrames:
    """What the exporters need from one clip folder, camera-frame and per frame (T frames, NH hands, NO objects)."""

    clip_id: str
    video: np.ndarray  # (T, H, W, 3) uint8
    K: np.ndarray  # (3, 3)
    joints_3d: np.ndarray  # (T, NH, 21, 3) metres
    joints_2d: np.ndarray  # (T, NH, 21, 2) pixels
    sides: list[str]
    models: list[str]  # "open" or "mano" per hand
    global_orient: np.ndarray  # (T, NH, 3) axis-angle, camera frame
    hand_pose: np.ndarray  # (T, NH, 45) axis-angle
    betas: np.ndarray  # (NH, 10)
    object_to_camera: np.ndarray  # (T, NO, 4, 4)
    object_ids: np.ndarray  # (NO,) YCB / seg ids
    seg: np.ndarray  # (T, H, W) uint8, DexYCB ids with every hand HAND_LABEL (see ``seg_for_hand``)
    instance_ids: np.ndarray  # (T, H, W) rendered ids: 0 background, 1..NH hands, then objects
    meta: dict


def load_clip(folder: Path) -> ClipFrames:
    """Read a finished clip folder and convert its annotations to the camera frame."""
    from pam.data.clip_folder import ClipFolder
    from pam.render.video import read_video
    from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

    clip = ClipFolder.open(folder)
    a = clip.annotations()
    seq = clip.sequence()
    video = read_video(clip.video_path)
    T, H, W = a["instance_ids"].shape
    if video.shape[:3] != (T, H, W):
        raise ValueError(f"{clip.video_path}: {video.shape[:3]} frames x size, annotations have {(T, H, W)}")
    num_hands = len(seq.hands)
    if num_hands == 0:
        raise ValueError(f"{folder}: no hand to export")
    rotation = a["world_to_camera"][:, None, :3, :3]  # (T, 1, 3, 3)
    global_orient = matrix_to_axis_angle_np(rotation @ axis_angle_to_matrix_np(a["mano_global_orient"]))
    ids = a["instance_ids"]
    seg = np.zeros(ids.shape, np.uint8)
    seg[(ids >= 1) & (ids <= num_hands)] = HAND_LABEL
    for k, seg_id in enumerate(a["object_seg_ids"]):
        seg[ids == num_hands + 1 + k] = seg_id
    return ClipFrames(
        clip_id=clip.clip_id, video=video, K=a["intrinsics"], joints_3d=a["joints_3d_cam"], joints_2d=a["joints_2d"],
        sides=[str(s) for s in a["hand_sides"]], models=[h.model for h in seq.hands], global_orient=global_orient,
        hand_pose=a["mano_hand_pose"], betas=a["mano_betas"], object_to_camera=a["object_to_camera"],
        object_ids=a["object_seg_ids"], seg=seg, instance_ids=ids, meta=clip.meta,
    )


def seg_for_hand(clip: ClipFrames, h: int) -> np.ndarray:
    """DexYCB ``seg`` (T, H, W) of the sequence of hand ``h``: HAND_LABEL on it, OTHER_HAND_LABEL on other hands."""
    seg = clip.seg.copy()
    seg[(seg == HAND_LABEL) & (clip.instance_ids != h + 1)] = OTHER_HAND_LABEL
    return seg


def _jpeg(frame: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _yaml(path: Path, data: dict) -> None:
    import yaml

    from pam.fileio import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))


def _hand_model(clip: ClipFrames, h: int, mano_dir: str | None):
    import torch

    from pam.hand import load_hand_model

    return load_hand_model(clip.models[h], side=clip.sides[h], mano_dir=mano_dir).to(torch.float64)


def mano_pose_camera(clip: ClipFrames, mano_dir: str | None) -> np.ndarray:
    """DexYCB's ``pose_m`` rows (T, NH, 51): camera-frame global rotation (3), the 45 finger axis-angles
    (not PCA coefficients), and the camera-frame translation (3) such that the hand model with these
    parameters and the clip's betas puts the hand where the sequence has it, in camera coordinates."""
    import torch

    T, NH = clip.global_orient.shape[:2]
    rows = np.zeros((T, NH, 51))
    for h in range(NH):
        model = _hand_model(clip, h, mano_dir)
        zeros = torch.zeros(1, 3, dtype=torch.float64)
        with torch.no_grad():  # MANO rotates about its rest root joint J0: t_cam = root_cam - J0
            rest = model(zeros, torch.zeros(1, 45, dtype=torch.float64), torch.from_numpy(clip.betas[h][None]), zeros)
        root_rest = rest.joints[0, 0].numpy()
        rows[:, h, :3] = clip.global_orient[:, h]
        rows[:, h, 3:48] = clip.hand_pose[:, h]
        rows[:, h, 48:] = clip.joints_3d[:, h, 0] - root_rest
    return rows


def simplehand_frames(clip: ClipFrames, pose_m: np.ndarray, mano_dir: str | None, h: int = 0) -> Iterator[dict]:
    """Per frame, SimpleHand-style labels of hand ``h``: ``joints_3d`` (21, 3) camera metres, ``joints_2d`` (21, 2)
    pixels, ``K`` (3, 3) and the hand mesh ``vertices`` (V, 3) camera metres (778 for MANO), from ``pose_m``."""
    import torch

    model = _hand_model(clip, h, mano_dir)
    rows = torch.from_numpy(pose_m[:, h])
    with torch.no_grad():
        out = model(rows[:, :3], rows[:, 3:48], torch.from_numpy(clip.betas[h]).expand(len(rows), -1), rows[:, 48:])
    for t in range(len(rows)):
        yield {"K": clip.K.tolist(), "joints_3d": clip.joints_3d[t, h].tolist(), "joints_2d": clip.joints_2d[t, h].tolist(),
               "vertices": out.vertices[t].numpy().tolist(), "side": clip.sides[h]}


def write_dexycb(clip: ClipFrames, dest: Path, mano_dir: str | None = None) -> None:
    """One clip as DexYCB sequences, one per hand (see the module docstring)."""
    T, H, W = clip.seg.shape
    serial = clip.clip_id
    fx, fy, ppx, ppy = clip.K[0, 0], clip.K[1, 1], clip.K[0, 2], clip.K[1, 2]
    _yaml(dest / "calibration" / "intrinsics" / f"{serial}_{W}x{H}.yml",
          {"color": {"fx": float(fx), "fy": float(fy), "ppx": float(ppx), "ppy": float(ppy)}})
    is_mano = [model == "mano" for model in clip.models]
    pose_m = mano_pose_camera(clip, mano_dir) if any(is_mano) else None
    images = [_jpeg(frame) for frame in clip.video]
    for h in range(len(clip.sides)):
        _write_hand_sequence(clip, h, dest, images, pose_m if is_mano[h] else None, mano_dir)


def _write_hand_sequence(clip: ClipFrames, h: int, dest: Path, images: list[bytes], pose_m: np.ndarray | None,
                         mano_dir: str | None) -> None:
    """The DexYCB sequence ``<clip_id>_<side>`` of hand ``h``: meta.yml, its MANO calibration and per-frame files."""
    import yaml

    from pam.fileio import atomic_dir

    T, H, W = clip.seg.shape
    serial, side = clip.clip_id, clip.sides[h]
    name = f"{clip.clip_id}_{side}"
    _yaml(dest / "calibration" / f"mano_{name}" / "mano.yml", {"betas": clip.betas[h].tolist()})
    seg = seg_for_hand(clip, h)
    with atomic_dir(dest / SUBJECT / name, replace=True) as tmp:
        meta = {
            "serials": [serial], "num_frames": int(T), "ycb_ids": clip.object_ids.tolist(), "ycb_grasp_ind": 0,
            "mano_sides": [side], "mano_calib": [name],
            "pam": {"clip_id": clip.clip_id, "hand": h, "hands": len(clip.sides), "prompt": clip.meta.get("prompt"),
                    "hand_model": clip.models[h], "smoke": bool(clip.meta.get("source", {}).get("smoke")),
                    "image_size": [int(H), int(W)]},
        }
        (tmp / "meta.yml").write_text(yaml.safe_dump(meta, sort_keys=False))
        frames = tmp / serial
        frames.mkdir()
        for t in range(T):
            (frames / f"color_{t:06d}.jpg").write_bytes(images[t])
            labels = {"seg": seg[t], "pose_y": clip.object_to_camera[t, :, :3, :].astype(np.float32),
                      "joint_3d": clip.joints_3d[t, h : h + 1].astype(np.float32),
                      "joint_2d": clip.joints_2d[t, h : h + 1].astype(np.float32)}
            if pose_m is not None:
                labels["pose_m"] = pose_m[t, h : h + 1].astype(np.float32)
            np.savez_compressed(frames / f"labels_{t:06d}.npz", **labels)
        if pose_m is not None:
            for t, hand in enumerate(simplehand_frames(clip, pose_m, mano_dir, h)):
                (frames / f"simplehand_{t:06d}.json").write_text(json.dumps(hand))


def hand_samples(clip: ClipFrames) -> Iterator[tuple[str, bytes, dict]]:
    """(key, jpeg, HaMeR-style labels) per hand and frame."""
    for t in range(len(clip.video)):
        image = _jpeg(clip.video[t])
        for h, side in enumerate(clip.sides):
            kp2d = clip.joints_2d[t, h]
            lo, hi = kp2d.min(axis=0), kp2d.max(axis=0)
            size = float((hi - lo).max()) * BOX_GROWTH
            labels = {
                "clip_id": clip.clip_id, "frame": t, "hand": h, "image_size": list(clip.seg.shape[1:]),
                "keypoints_2d": kp2d.tolist(), "keypoints_3d": clip.joints_3d[t, h].tolist(),
                "global_orient": clip.global_orient[t, h].tolist(), "hand_pose": clip.hand_pose[t, h].tolist(),
                "betas": clip.betas[h].tolist(), "right": int(side == "right"), "hand_model": clip.models[h],
                "center": ((lo + hi) / 2).tolist(), "scale": size / BOX_STD, "K": clip.K.tolist(),
                "smoke": bool(clip.meta.get("source", {}).get("smoke")),
            }
            yield f"{clip.clip_id}_{t:06d}_{h}", image, labels


class ShardWriter:
    """Tar shards ``shard-%06d.tar`` of at most ``shard_size`` samples, each renamed into place when full."""

    def __init__(self, dest: Path, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"--shard-size: must be at least 1, got {shard_size}")
        self.dest, self.shard_size = dest, shard_size
        self.index, self.count, self._tar, self._tmp = 0, 0, None, None

    def add(self, key: str, files: dict[str, bytes]) -> None:
        if self._tar is None:
            self._tmp = self.dest / f".shard-{self.index:06d}.tar.tmp"
            self._tar = tarfile.open(self._tmp, "w")
        for ext, data in files.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            self._tar.addfile(info, io.BytesIO(data))
        self.count += 1
        if self.count == self.shard_size:
            self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tmp.replace(self.dest / f"shard-{self.index:06d}.tar")
            self.index, self.count, self._tar = self.index + 1, 0, None

    def abort(self) -> None:
        """Drop the shard being written (after an error), keeping the finished ones."""
        if self._tar is not None:
            self._tar.close()
            self._tmp.unlink(missing_ok=True)
            self._tar = None


def export(out_root: str | Path, dest: str | Path, fmt: str, include_filtered: bool = False, shard_size: int = 1000,
           mano_dir: str | None = None, progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Export the finished clips of ``out_root`` (``filtered`` ones too with ``include_filtered``) to ``dest``."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    out_root, dest = Path(out_root), Path(dest)
    if not (out_root / "manifest.jsonl").is_file():
        raise FileNotFoundError(f"{out_root}: no manifest.jsonl (not a pam generate output folder)")
    statuses = ("done", "filtered") if include_filtered else ("done",)
    rows = [r for r in read_rows(out_root).values() if r.status in statuses and r.stage == "motion"]
    dest.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    shards = ShardWriter(dest, shard_size) if fmt == "webdataset" else None
    try:
        for i, row in enumerate(rows):
            try:
                clip = load_clip(out_root / CLIPS / row.clip_id)
            except (OSError, ValueError) as err:
                report.skipped[row.clip_id] = str(err)
                continue
            if shards is None:
                write_dexycb(clip, dest, mano_dir)
            else:
                for key, image, labels in hand_samples(clip):
                    shards.add(key, {"jpg": image, "json": json.dumps(labels).encode()})
            report.clips += 1
            report.frames += len(clip.video)
            report.hands += len(clip.sides)
            if progress is not None:
                progress(i + 1, len(rows))
    except BaseException:
        if shards is not None:
            shards.abort()
        raise
    if shards is not None:
        shards.close()
    return report
