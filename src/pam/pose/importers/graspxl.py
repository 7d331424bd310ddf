"""GraspXL motion files (MANO sequences) -> ``HOISequence``.

Layout followed (zdchan/GraspXL, ``docs/DATASET.md``)::

    mano_dataset_*/<small|medium|large>/<object id>/mano_<k>.npy
    object_dataset/<small|medium|large>/<object id>/<object id>.obj

Each ``.npy`` holds a pickled dict (``np.load(..., allow_pickle=True).item()``)::

    "right_hand": {"trans": (T, 3), "rot": (T, 3) axis-angle, "pose": (T, 45) MANO finger pose}
    "<object id>": {"trans": (T, 3), "rot": (T, 3) axis-angle, "angle": unused}

It is read with the restricted unpickler (``dataset_pickle``). ``trans`` is taken as MANO's
translation and the hand has the mean shape (betas 0); the frame rate is not in the file (the
``fps`` argument, default 30). World frame: GraspXL's (z up); the camera frames the motion
(``keyframes.default_camera``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pam.pose.importers.dataset_pickle import load_npy_object
from pam.pose.keyframes import default_camera
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import HandTrack, HOISequence, ObjectTrack, SequenceError


def load_graspxl(path: str | Path, object_root: str | Path | None = None, fps: float = 30.0) -> HOISequence:
    """Read one GraspXL MANO motion file.

    Args:
        path: ``.../<size>/<object id>/mano_<k>.npy``.
        object_root: the unpacked ``object_dataset`` folder; the mesh is
            ``<object_root>/<size>/<object id>/<object id>.obj`` (default: ``<object id>.obj`` beside
            the motion file).
        fps: the frame rate to record.
    """
    path = Path(path)
    data = load_npy_object(path)
    if not isinstance(data, dict) or "right_hand" not in data:
        raise SequenceError(f"{path}: not a GraspXL motion file (no 'right_hand')")
    object_ids = [k for k in data if k != "right_hand"]
    if len(object_ids) != 1:
        raise SequenceError(f"{path}: expected one object entry besides 'right_hand', got {object_ids}")
    obj_id = object_ids[0]
    h, o = data["right_hand"], data[obj_id]
    hand = HandTrack(global_orient=h["rot"], hand_pose=h["pose"], transl=h["trans"], side="right", model="mano")
    size = path.parent.parent.name
    mesh = (Path(object_root) / size / obj_id if object_root is not None else path.parent) / f"{obj_id}.obj"
    rotation = axis_angle_to_matrix_np(np.asarray(o["rot"], dtype=np.float64))
    obj = ObjectTrack(mesh=str(mesh), rotation=rotation, translation=o["trans"], name=obj_id)
    camera = default_camera(np.concatenate([hand.transl, obj.translation]))
    return HOISequence(hands=[hand], objects=[obj], camera=camera, fps=fps, meta={"graspxl": {"file": str(path)}})
