"""DexYCB sequences (one camera view) -> ``HOISequence``.

Layout followed (NVlabs/dex-ycb-toolkit, ``dex_ycb_toolkit/dex_ycb.py`` and
``layers/mano_layer.py``)::

    <root>/<subject>/<sequence>/meta.yml        num_frames, ycb_ids, ycb_grasp_ind, mano_sides, mano_calib
    <root>/<subject>/<sequence>/<serial>/labels_{frame:06d}.npz
        pose_y (num_objects, 3, 4) object poses, pose_m (1, 51) MANO, in this camera's frame
    <root>/calibration/intrinsics/<serial>_640x480.yml      color: {fx, fy, ppx, ppy}
    <root>/calibration/mano_<mano_calib>/mano.yml            betas: [10 values]
    <root>/models/<ycb class>/textured_simple.obj

``pose_m`` = 3 global axis-angle + 45 PCA coefficients (MANO with 45 components and
``flat_hand_mean=False``) + 3 translation in metres. The full pose is
``hands_mean + pca @ hands_components``, which needs the MANO model file (``pam.hand.mano``), or
pass ``pca=(components (45, 45), mean (45,))``. Frames without a hand have an all-zero ``pose_m``;
they are kept and listed in ``meta["dexycb"]["hand_valid"]``.

The sequence's world frame is the camera frame (camera R = I, t = 0); 640 x 480 at 30 fps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError

#: YCB object ids (1-21) -> model folder names (DexYCB toolkit).
YCB_CLASSES = {
    1: "002_master_chef_can", 2: "003_cracker_box", 3: "004_sugar_box", 4: "005_tomato_soup_can",
    5: "006_mustard_bottle", 6: "007_tuna_fish_can", 7: "008_pudding_box", 8: "009_gelatin_box",
    9: "010_potted_meat_can", 10: "011_banana", 11: "019_pitcher_base", 12: "021_bleach_cleanser",
    13: "024_bowl", 14: "025_mug", 15: "035_power_drill", 16: "036_wood_block", 17: "037_scissors",
    18: "040_large_marker", 19: "051_large_clamp", 20: "052_extra_large_clamp", 21: "061_foam_brick",
}
FPS = 30.0


def _yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (DexYCB layout, see pam.pose.importers.dexycb)")
    with open(path) as f:
        return yaml.safe_load(f)


def mano_pca(side: str, mano_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(components (45, 45), mean (45,)) of the MANO model file for ``side``."""
    from pam.hand.mano import find_mano_file, load_mano_arrays

    arrays = load_mano_arrays(find_mano_file(side, mano_dir))
    return np.asarray(arrays["hands_components"][:45], dtype=np.float64), np.asarray(arrays["hands_mean"], dtype=np.float64)


def load_dexycb(
    sequence_dir: str | Path,
    serial: str,
    start: int = 0,
    num_frames: int | None = None,
    root: str | Path | None = None,
    pca: tuple[np.ndarray, np.ndarray] | None = None,
    mano_dir=None,
) -> HOISequence:
    """Read frames ``start .. start + num_frames`` of one DexYCB sequence seen by camera ``serial``.

    Args:
        sequence_dir: ``<root>/<subject>/<sequence>``.
        serial: the camera's serial number (a sub-folder of the sequence).
        root: the DexYCB root (default: two levels above ``sequence_dir``).
        pca: MANO PCA basis and mean; default: read from the MANO files (``mano_dir``).
    """
    seq_dir = Path(sequence_dir)
    root = Path(root) if root is not None else seq_dir.parents[1]
    meta = _yaml(seq_dir / "meta.yml")
    side = meta["mano_sides"][0]
    betas = np.asarray(_yaml(root / "calibration" / f"mano_{meta['mano_calib'][0]}" / "mano.yml")["betas"], dtype=np.float64)
    intr = _yaml(root / "calibration" / "intrinsics" / f"{serial}_640x480.yml")["color"]
    K = np.array([[intr["fx"], 0.0, intr["ppx"]], [0.0, intr["fy"], intr["ppy"]], [0.0, 0.0, 1.0]])
    total = int(meta["num_frames"])
    end = total if num_frames is None else min(total, start + num_frames)
    if not 0 <= start < end:
        raise SequenceError(f"{seq_dir}: frames {start}..{end} outside the sequence's {total} frames")
    pose_m, pose_y = [], []
    for f in range(start, end):
        path = seq_dir / serial / f"labels_{f:06d}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing label file")
        with np.load(path) as labels:
            pose_m.append(labels["pose_m"].reshape(51))
            pose_y.append(labels["pose_y"])
    pose_m = np.asarray(pose_m, dtype=np.float64)
    pose_y = np.asarray(pose_y, dtype=np.float64)  # (T, num_objects, 3, 4)
    components, mean = mano_pca(side, mano_dir) if pca is None else pca
    valid = np.any(pose_m != 0.0, axis=1)
    hand_pose = np.where(valid[:, None], mean + pose_m[:, 3:48] @ components, 0.0)
    hand = HandTrack(global_orient=pose_m[:, :3], hand_pose=hand_pose, transl=pose_m[:, 48:51], betas=betas,
                     side=side, model="mano")
    objects = []
    for k, ycb_id in enumerate(meta["ycb_ids"]):
        rot = pose_y[:, k, :, :3]
        annotated = np.abs(rot).sum(axis=(1, 2)) > 0  # unannotated frames are all zero: identity
        u, _, vt = np.linalg.svd(np.where(annotated[:, None, None], rot, np.eye(3)))
        rot = u @ vt  # re-orthonormalise the float32 annotations
        objects.append(ObjectTrack(mesh=str(root / "models" / YCB_CLASSES[ycb_id] / "textured_simple.obj"),
                                   rotation=rot, translation=pose_y[:, k, :, 3], name=YCB_CLASSES[ycb_id],
                                   seg_id=int(ycb_id)))
    camera = Camera(K=K, height=480, width=640)
    info = {"sequence": str(seq_dir), "serial": serial, "start": start, "hand_valid": valid.tolist(),
            "grasped_object": int(meta["ycb_grasp_ind"])}
    return HOISequence(hands=[hand], objects=objects, camera=camera, fps=FPS, meta={"dexycb": info})
