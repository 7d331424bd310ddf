"""OakInk2 annotation pickles -> ``HOISequence`` (both hands, the sequence's objects, one camera).

Layout followed (oakink/OakInk2-PreviewTool: README and ``src/oakink2_toolkit/dataset.py``)::

    <root>/anno_preview/<seq_token>.pkl   a dict with
        mocap_frame_id_list   frame ids in order
        obj_list              object ids
        raw_mano              {frame: {"rh__pose_coeffs": (1, 16, 4) joint quaternions (w, x, y, z),
                                       global first, then MANO's 15 joints; "rh__tsl": (1, 3);
                                       "rh__betas": (1, 10); the same with "lh__"}}
        obj_transf            {object id: {frame: (4, 4) object-to-world}}
        cam_intr, cam_extr    {camera: {frame: (3, 3) intrinsics / (4, 4) world-to-camera}}
    <root>/object_preview/align_ds/<object id>/<one .obj or .ply>

The pickles hold torch tensors. They are read with a restricted unpickler
(``pam.pose.importers.dataset_pickle``) that only builds containers, arrays and tensors; pass
``trusted=True`` to use plain ``pickle`` on files you trust. The joint rotations are taken as
full MANO rotations relative to the flat hand (the quaternion form has no PCA and no mean).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from pam.pose.importers import dataset_pickle
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError


def _array(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def _hand(raw: dict, frames: list, prefix: str, side: str) -> HandTrack:
    quat = np.stack([_array(raw[f][f"{prefix}__pose_coeffs"]).reshape(16, 4) for f in frames])
    rotvec = Rotation.from_quat(quat.reshape(-1, 4), scalar_first=True).as_rotvec().reshape(len(frames), 48)
    tsl = np.stack([_array(raw[f][f"{prefix}__tsl"]).reshape(3) for f in frames])
    betas = _array(raw[frames[0]][f"{prefix}__betas"]).reshape(10)
    return HandTrack(global_orient=rotvec[:, :3], hand_pose=rotvec[:, 3:], transl=tsl, betas=betas, side=side, model="mano")


def _object_mesh(root: Path, obj_id: str) -> str:
    folder = root / "object_preview" / "align_ds" / obj_id
    found = sorted(p for p in folder.glob("*") if p.suffix in (".obj", ".ply")) if folder.is_dir() else []
    return str(found[0]) if found else str(folder / f"{obj_id}.obj")


def load_oakink2(
    anno_path: str | Path,
    camera: str | None = None,
    start: int = 0,
    num_frames: int | None = None,
    root: str | Path | None = None,
    fps: float = 30.0,
    trusted: bool = False,
) -> HOISequence:
    """Read an OakInk2 annotation pickle.

    Args:
        anno_path: ``<root>/anno_preview/<seq_token>.pkl``.
        camera: which camera's intrinsics and extrinsics to use (default: the first listed).
        start, num_frames: the clip, in positions of ``mocap_frame_id_list``.
        root: the dataset root (default: the folder above ``anno_preview``).
        fps: the frame rate to record.
        trusted: read with plain ``pickle`` instead of the restricted unpickler.
    """
    anno_path = Path(anno_path)
    root = Path(root) if root is not None else anno_path.parent.parent
    with open(anno_path, "rb") as f:
        anno = pickle.load(f) if trusted else dataset_pickle.load(f)
    for key in ("mocap_frame_id_list", "obj_list", "raw_mano", "obj_transf", "cam_intr", "cam_extr"):
        if key not in anno:
            raise SequenceError(f"{anno_path}: not an OakInk2 annotation (no {key!r})")
    all_frames = list(anno["mocap_frame_id_list"])
    end = len(all_frames) if num_frames is None else min(len(all_frames), start + num_frames)
    if not 0 <= start < end:
        raise SequenceError(f"{anno_path}: frames {start}..{end} outside the sequence's {len(all_frames)} frames")
    frames = all_frames[start:end]
    raw = anno["raw_mano"]
    hands = [_hand(raw, frames, "lh", "left"), _hand(raw, frames, "rh", "right")]
    objects = []
    for k, obj_id in enumerate(anno["obj_list"]):
        transf = np.stack([_array(anno["obj_transf"][obj_id][f]) for f in frames])
        objects.append(ObjectTrack(mesh=_object_mesh(root, str(obj_id)), rotation=transf[:, :3, :3],
                                   translation=transf[:, :3, 3], name=str(obj_id), seg_id=1 + k % 150))
    cam = camera if camera is not None else next(iter(anno["cam_intr"]))
    if cam not in anno["cam_intr"]:
        raise SequenceError(f"{anno_path}: no camera {cam!r} (has {list(anno['cam_intr'])})")
    K = _array(anno["cam_intr"][cam][frames[0]])
    extr = np.stack([_array(anno["cam_extr"][cam][f]) for f in frames])
    cam_obj = Camera(K=K, R=extr[:, :3, :3], t=extr[:, :3, 3], height=int(round(2 * K[1, 2])), width=int(round(2 * K[0, 2])))
    info = {"annotation": str(anno_path), "camera": str(cam), "frame_ids": [int(f) for f in frames]}
    return HOISequence(hands=hands, objects=objects, camera=cam_obj, fps=fps, meta={"oakink2": info})
