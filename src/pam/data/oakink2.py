"""OakInk2 (oakink/OakInk2-PreviewTool layout): clips of one camera -> ``HOISequence`` + RGB frames.

Layout read (the toolkit's README "Dataset Format" and ``oakink2_toolkit``)::

    <root>/anno_preview/<seq_token>.pkl     (seq_token = the sequence key with '/' as '++')
        cam_def            {serial: camera name}
        cam_selection      [camera name, ...]            (optional; else every camera of cam_def)
        frame_id_list      image frame ids (30 fps video)
        cam_intr, cam_extr {camera name: {frame id: (3, 3) intrinsics / (4, 4) world-to-camera}}
        mocap_frame_id_list  mocap frame ids (120 fps; the image ids are on the same clock)
        obj_list           object ids
        obj_transf         {object id: {mocap frame id: (4, 4) object-to-world}}
        raw_mano           {mocap frame id: {"rh__pose_coeffs": (1, 16, 4) quaternions (w, x, y, z),
                            global first, then MANO's 15 joints; "rh__tsl": (1, 3); "rh__betas": (1, 10);
                            the same with "lh__"}}
    <root>/data/<seq_token>/<serial>/<frame id>.jpg      (848 x 480; a 6-digit zero-padded name is accepted too)
    <root>/object_repair/align_ds/<object id>/<one .obj or .ply>  (else object_raw/align_ds/...)
    <root>/object_{repair,raw}/obj_desc.json             {object id: {"obj_name": ...}} (optional, prompts)
    <root>/program/desc_info/<seq_token>.json            {"(lh interval, rh interval)": {"seg_desc": ...}} (optional)

Conventions, checked against the toolkit: cameras, images and poses are indexed by the image
frame ids of ``frame_id_list`` (the preview's ``StreamDataset``), hands and objects at the same
(or, if absent, the nearest) mocap frame id. The quaternions are full MANO rotations relative to
the flat hand (manotorch ``rot_mode="quat"``, ``flat_hand_mean=True``, no PCA). ``tsl`` is the
**wrist position**, not MANO's translation: the toolkit's MANO layer is built with
``center_idx=0`` (joints and vertices re-centred on the wrist) and then ``tsl`` is added, so
``transl = tsl - J0(betas)``, the rest wrist joint of the hand's shape (about 9.6 cm for the mean
right hand). The image size is read from the first image of the clip (``image_size=(H, W)``
stands in when the images are absent). Pickles are read with ``pam.data.pickles`` (containers,
arrays and tensors only).

Splits: ``all`` = every camera of every sequence in consecutive, non-overlapping windows of
``num_frames`` image frames; or a text file of clip ids (e.g. a curated subset).
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from pam.data import pickles
from pam.data.readers import DatasetError, DatasetReader, image_size, read_rgb, transl_from_wrist
from pam.data.refs import ClipRef
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError

FPS = 30.0
#: Mesh folders in order of preference.
MESH_FOLDERS = ("object_repair", "object_raw")
_KEYS = ("cam_def", "frame_id_list", "cam_intr", "cam_extr", "mocap_frame_id_list", "obj_list", "obj_transf", "raw_mano")


def _array(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


@functools.lru_cache(maxsize=2)
def load_annotation(path: Path) -> dict:
    """One ``anno_preview`` pickle, read safely and checked for the keys this reader uses."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such OakInk2 annotation")
    with open(path, "rb") as f:
        anno = pickles.load(f)
    missing = [k for k in _KEYS if not isinstance(anno, dict) or k not in anno]
    if missing:
        raise DatasetError(f"{path}: not an OakInk2 anno_preview pickle (no {', '.join(missing)})")
    return anno


def _token(sequence: str) -> str:
    return sequence.replace("/", "++")


def _cameras(anno: dict) -> list[str]:
    return list(anno.get("cam_selection") or anno["cam_def"].values())


class OakInk2Reader(DatasetReader):
    """OakInk2 under ``root`` (the folder holding ``anno_preview/``, ``data/``, ``object_repair/``)."""

    name = "oakink2"
    SPLITS = ("all",)
    MARKER = "anno_preview"

    def __init__(self, root, num_frames: int = 49, mano_dir=None, image_size: tuple[int, int] | None = None) -> None:
        super().__init__(root, num_frames=num_frames, mano_dir=mano_dir)
        self.image_size = image_size

    def _split_clips(self, split: str) -> Iterator[ClipRef]:
        paths = sorted((self.root / "anno_preview").glob("*.pkl"))
        if not paths:
            raise DatasetError(f"{self.root / 'anno_preview'}: no annotation pickles")
        for path in paths:
            anno = load_annotation(path)
            sequence = path.stem.replace("++", "/")
            prompts = self._descriptions(path.stem)
            frame_ids = list(anno["frame_id_list"])
            for camera in _cameras(anno):
                for start in range(0, len(frame_ids) - self.num_frames + 1, self.num_frames):
                    middle = frame_ids[start + self.num_frames // 2]
                    prompt = next((text for (lo, hi), text in prompts if lo <= middle < hi), "")
                    yield ClipRef(self.name, sequence, camera, start, self.num_frames, prompt)

    def _descriptions(self, token: str) -> list[tuple[tuple[int, int], str]]:
        """((first, end) mocap frame ids, seg_desc) of each primitive in ``program/desc_info``, if present."""
        path = self.root / "program" / "desc_info" / f"{token}.json"
        if not path.is_file():
            return []
        spans = []
        for key, value in json.loads(path.read_text()).items():
            intervals = [iv for iv in ast.literal_eval(key) if iv is not None]
            if intervals and isinstance(value, dict) and value.get("seg_desc"):
                spans.append(((min(iv[0] for iv in intervals), max(iv[1] for iv in intervals)), str(value["seg_desc"])))
        return spans

    def _mesh(self, obj_id: str) -> Path:
        for folder in MESH_FOLDERS:
            candidates = sorted((self.root / folder / "align_ds" / obj_id).glob("*"))
            found = [p for p in candidates if p.suffix in (".obj", ".ply")]
            if found:
                return found[0]
        raise FileNotFoundError(f"no mesh of object {obj_id} in " + " or ".join(
            str(self.root / folder / "align_ds" / obj_id) for folder in MESH_FOLDERS))

    def _object_names(self) -> dict[str, str]:
        for folder in MESH_FOLDERS:
            path = self.root / folder / "obj_desc.json"
            if path.is_file():
                return {k: str(v.get("obj_name", k)) for k, v in json.loads(path.read_text()).items()}
        return {}

    def _image_path(self, anno: dict, ref: ClipRef, frame_id: int) -> Path:
        serial = {name: serial for serial, name in anno["cam_def"].items()}.get(ref.camera)
        if serial is None:
            raise DatasetError(f"{ref.sequence}: no camera {ref.camera!r} (has {_cameras(anno)})")
        folder = self.root / "data" / _token(ref.sequence) / str(serial)
        plain = folder / f"{frame_id}.jpg"
        padded = folder / f"{frame_id:06d}.jpg"
        return padded if not plain.is_file() and padded.is_file() else plain

    def _clip_frame_ids(self, anno: dict, ref: ClipRef) -> list[int]:
        frame_ids = [int(f) for f in anno["frame_id_list"]]
        if ref.stop > len(frame_ids):
            raise SequenceError(f"{ref.sequence}: frames {ref.start}..{ref.stop} outside the sequence's "
                                f"{len(frame_ids)} image frames")
        return frame_ids[ref.start : ref.stop]

    def sequence(self, ref: ClipRef) -> HOISequence:
        self._check(ref)
        anno = load_annotation(self.root / "anno_preview" / f"{_token(ref.sequence)}.pkl")
        frame_ids = self._clip_frame_ids(anno, ref)
        if ref.camera not in anno["cam_intr"]:
            raise DatasetError(f"{ref.sequence}: no camera {ref.camera!r} (has {list(anno['cam_intr'])})")
        mocap = np.asarray(sorted(int(f) for f in anno["mocap_frame_id_list"]))
        mocap_ids = [int(mocap[np.abs(mocap - f).argmin()]) for f in frame_ids]
        raw = anno["raw_mano"]
        hands, valid = [], {}
        for prefix, side in (("lh", "left"), ("rh", "right")):
            quat = np.stack([_array(raw[f][f"{prefix}__pose_coeffs"]).reshape(16, 4) for f in mocap_ids])
            ok = np.linalg.norm(quat, axis=-1).min(axis=-1) > 1e-6
            quat[~ok] = (1.0, 0.0, 0.0, 0.0)
            rotvec = Rotation.from_quat(quat.reshape(-1, 4), scalar_first=True).as_rotvec().reshape(len(frame_ids), 48)
            wrist = np.stack([_array(raw[f][f"{prefix}__tsl"]).reshape(3) for f in mocap_ids])
            betas = _array(raw[mocap_ids[0]][f"{prefix}__betas"]).reshape(10)
            hands.append(HandTrack(global_orient=rotvec[:, :3], hand_pose=rotvec[:, 3:],
                                   transl=transl_from_wrist(wrist, betas, side, self.mano_dir), betas=betas,
                                   side=side, model="mano"))
            valid[side] = ok.tolist()
        names = self._object_names()
        objects = []
        for k, obj_id in enumerate(anno["obj_list"]):
            transf = np.stack([_array(anno["obj_transf"][obj_id][f]) for f in mocap_ids])
            objects.append(ObjectTrack(mesh=str(self._mesh(str(obj_id))), rotation=transf[:, :3, :3],
                                       translation=transf[:, :3, 3], name=str(obj_id), seg_id=1 + k % 150))
        K = _array(anno["cam_intr"][ref.camera][frame_ids[0]])
        extr = np.stack([_array(anno["cam_extr"][ref.camera][f]) for f in frame_ids])
        first = self._image_path(anno, ref, frame_ids[0])
        if first.is_file():
            height, width = image_size(first)
        elif self.image_size is not None:
            height, width = self.image_size
        else:
            raise FileNotFoundError(f"{first}: missing image; the image size is read from it "
                                    "(without the images, pass image_size=(H, W))")
        camera = Camera(K=K, R=extr[:, :3, :3], t=extr[:, :3, 3], height=height, width=width)
        source = self._source(ref, frame_ids, FPS, [names.get(str(o), str(o)) for o in anno["obj_list"]],
                              mocap_frame_ids=mocap_ids)
        return HOISequence(hands=hands, objects=objects, camera=camera, fps=FPS,
                           meta={"source": source, "hand_valid": valid})

    def frames(self, ref: ClipRef) -> np.ndarray:
        self._check(ref)
        anno = load_annotation(self.root / "anno_preview" / f"{_token(ref.sequence)}.pkl")
        return read_rgb([self._image_path(anno, ref, f) for f in self._clip_frame_ids(anno, ref)])
