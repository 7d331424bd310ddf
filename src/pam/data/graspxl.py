"""GraspXL MANO motions -> ``HOISequence`` (no video: a Stage I source).

Layout read (zdchan/GraspXL, ``docs/DATASET.md``)::

    <root>/mano_dataset_<n>/<small|medium|large>/<object id>/mano_<k>.npy
    <root>/object_dataset/<small|medium|large>/<object id>/<object id>.obj

Each ``.npy`` holds a pickled dict (read with ``pam.data.pickles``, containers and arrays only)::

    "right_hand":  {"trans": (T, 3) wrist position, "rot": (T, 3) axis-angle, "pose": (T, 45) MANO finger pose}
    "<object id>": {"trans": (T, 3), "rot": (T, 3) axis-angle object-to-world, "angle": unused}

``trans`` is the **wrist position** (DATASET.md: "the position sequence of the wrist"); GraspXL's
MANO viewer (GraspXL_visualization, ``visualizer_sharpa_table_top.py``) builds the mesh with
smplx MANO, ``flat_hand_mean=True``, betas 0, no translation, then subtracts the rest wrist
(``wrist_bias`` = (0.0957, 0.0064, 0.0062) m) and adds ``trans``. So ``transl = trans - J0(0)``,
computed from the MANO file in use; the hand has the mean shape. The frame rate is not in the
file (``fps``, default 30). World frame: GraspXL's (z up); the camera frames the motion
(``pam.pose.keyframes.default_camera``).

Splits: ``all`` = every motion file, in consecutive, non-overlapping windows of ``num_frames``; or
a text file of clip ids. ``ClipRef.sequence`` is the file's path under the root without ``.npy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from pam.data.pickles import load_npy_object
from pam.data.readers import DatasetError, DatasetReader, transl_from_wrist
from pam.data.refs import ClipRef
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import HandTrack, HOISequence, ObjectTrack, SequenceError


def load_motion(path: Path) -> tuple[dict, str, dict]:
    """(right hand dict, object id, object dict) of one motion file."""
    data = load_npy_object(path)
    if not isinstance(data, dict) or "right_hand" not in data:
        raise DatasetError(f"{path}: not a GraspXL motion file (no 'right_hand')")
    object_ids = [k for k in data if k != "right_hand"]
    if len(object_ids) != 1:
        raise DatasetError(f"{path}: expected one object entry besides 'right_hand', got {object_ids}")
    return data["right_hand"], object_ids[0], data[object_ids[0]]


class GraspXLReader(DatasetReader):
    """GraspXL under ``root`` (the folder holding ``object_dataset/`` and ``mano_dataset_*/``)."""

    name = "graspxl"
    SPLITS = ("all",)
    MARKER = "object_dataset"

    def __init__(self, root, num_frames: int = 49, mano_dir=None, fps: float = 30.0) -> None:
        super().__init__(root, num_frames=num_frames, mano_dir=mano_dir)
        self.fps = float(fps)

    def _split_clips(self, split: str) -> Iterator[ClipRef]:
        paths = sorted(self.root.glob("mano_dataset_*/*/*/mano_*.npy"))
        if not paths:
            raise DatasetError(f"{self.root}: no motion files (mano_dataset_*/<size>/<object id>/mano_<k>.npy)")
        for path in paths:
            total = len(load_motion(path)[0]["trans"])
            sequence = path.relative_to(self.root).with_suffix("").as_posix()
            for start in range(0, total - self.num_frames + 1, self.num_frames):
                yield ClipRef(self.name, sequence, "default", start, self.num_frames)

    def sequence(self, ref: ClipRef) -> HOISequence:
        from pam.pose.keyframes import default_camera

        self._check(ref)
        path = self.root / f"{ref.sequence}.npy"
        h, obj_id, o = load_motion(path)
        total = len(h["trans"])
        if ref.stop > total:
            raise SequenceError(f"{path}: frames {ref.start}..{ref.stop} outside the motion's {total} frames")
        window = slice(ref.start, ref.stop)
        betas = np.zeros(10)
        transl = transl_from_wrist(np.asarray(h["trans"])[window], betas, "right", self.mano_dir)
        hand = HandTrack(global_orient=np.asarray(h["rot"])[window], hand_pose=np.asarray(h["pose"])[window],
                         transl=transl, betas=betas, side="right", model="mano")
        size = Path(ref.sequence).parts[-3]
        mesh = self.root / "object_dataset" / size / obj_id / f"{obj_id}.obj"
        if not mesh.is_file():
            raise FileNotFoundError(f"{mesh}: missing GraspXL object mesh")
        rotation = axis_angle_to_matrix_np(np.asarray(o["rot"], dtype=np.float64)[window])
        obj = ObjectTrack(mesh=str(mesh), rotation=rotation, translation=np.asarray(o["trans"])[window], name=obj_id)
        camera = default_camera(np.concatenate([np.asarray(h["trans"])[window], obj.translation]))
        source = self._source(ref, range(ref.start, ref.stop), self.fps, [obj_id])
        return HOISequence(hands=[hand], objects=[obj], camera=camera, fps=self.fps,
                           meta={"source": source, "hand_valid": {"right": [True] * ref.num_frames}})

    def frames(self, ref: ClipRef) -> None:
        """GraspXL has no video."""
        self._check(ref)
        return None
