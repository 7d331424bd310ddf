"""DexYCB (NVlabs/dex-ycb-toolkit layout): clips of one camera -> ``HOISequence`` + RGB frames.

Layout read (as the toolkit's ``dex_ycb.py`` and ``layers/mano_layer.py`` read it)::

    <root>/<subject>/<sequence>/meta.yml     serials, num_frames, ycb_ids, ycb_grasp_ind, mano_sides, mano_calib
    <root>/<subject>/<sequence>/<serial>/color_%06d.jpg                 640 x 480 RGB
    <root>/<subject>/<sequence>/<serial>/labels_%06d.npz
        pose_y (num_objects, 3, 4)  object-to-camera poses
        pose_m (1, 51)              MANO: 3 global axis-angle + 45 PCA coefficients + 3 translation (m)
        joint_3d (1, 21, 3), joint_2d (1, 21, 2), seg (480, 640)   (not needed: pam renders its own)
    <root>/calibration/intrinsics/<serial>_640x480.yml                 color: {fx, fy, ppx, ppy}
    <root>/calibration/mano_<mano_calib>/mano.yml                       betas: [10 values]
    <root>/models/<ycb class>/textured_simple.obj                       YCB object meshes (metres)

``pose_m`` is MANO with 45 PCA components and ``flat_hand_mean=False``: the full finger pose is
``hands_mean + pca @ hands_components`` (both from the MANO model file, so MANO is required);
``transl`` is MANO's translation (added after posing, as manopth does). Frames without a hand have
an all-zero ``pose_m``: they are kept, with a zero pose, and marked False in
``meta["hand_valid"]``. The sequence's world frame is the camera frame (R = I, t = 0); 30 fps.

Splits (the toolkit's ``s0``, "seen" subjects, cameras and objects): subjects in the toolkit's
order (``SUBJECTS``), sequences by their position among the subject's sorted sequence folders
(100 per subject); ``s0-train`` = every subject, index % 5 != 4; ``s0-val`` = subjects 0-1, index
% 5 == 4; ``s0-test`` = subjects 2-9, index % 5 == 4; ``s0-eval`` = val + test (the PAM paper's
1,600 evaluation clips); ``all`` = everything. Every camera in ``meta.yml`` gives one clip: the
first ``num_frames`` frames (49), as the paper's clips.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from pam.data.readers import DatasetError, DatasetReader, read_rgb
from pam.data.refs import ClipRef
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError

#: YCB object ids (1-21) -> model folder names (the toolkit's ``_YCB_CLASSES``).
YCB_CLASSES = {
    1: "002_master_chef_can", 2: "003_cracker_box", 3: "004_sugar_box", 4: "005_tomato_soup_can",
    5: "006_mustard_bottle", 6: "007_tuna_fish_can", 7: "008_pudding_box", 8: "009_gelatin_box",
    9: "010_potted_meat_can", 10: "011_banana", 11: "019_pitcher_base", 12: "021_bleach_cleanser",
    13: "024_bowl", 14: "025_mug", 15: "035_power_drill", 16: "036_wood_block", 17: "037_scissors",
    18: "040_large_marker", 19: "051_large_clamp", 20: "052_extra_large_clamp", 21: "061_foam_brick",
}
#: The ten subjects in the toolkit's order (split rules index this list).
SUBJECTS = (
    "20200709-subject-01", "20200813-subject-02", "20200820-subject-03", "20200903-subject-04",
    "20200908-subject-05", "20200918-subject-06", "20200928-subject-07", "20201002-subject-08",
    "20201015-subject-09", "20201022-subject-10",
)
FPS = 30.0
HEIGHT, WIDTH = 480, 640


def object_name(ycb_class: str) -> str:
    """``"006_mustard_bottle"`` -> ``"mustard bottle"`` (for prompts)."""
    return re.sub(r"^\d+_", "", ycb_class).replace("_", " ")


def _yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (DexYCB layout, see docs/data.md)")
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a YAML mapping")
    return data


def mano_pca(side: str, mano_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(components (45, 45), mean (45,)) of the MANO model file for ``side``."""
    from pam.hand.mano import find_mano_file, load_mano_arrays

    arrays = load_mano_arrays(find_mano_file(side, mano_dir))
    return np.asarray(arrays["hands_components"][:45], dtype=np.float64), np.asarray(arrays["hands_mean"], dtype=np.float64)


class DexYCBReader(DatasetReader):
    """DexYCB under ``root`` (the folder holding ``calibration/``, ``models/`` and the subjects)."""

    name = "dexycb"
    SPLITS = ("s0-train", "s0-val", "s0-test", "s0-eval", "all")
    MARKER = "calibration"

    def _split_clips(self, split: str) -> Iterator[ClipRef]:
        present = [s for s in SUBJECTS if (self.root / s).is_dir()]
        if not present:
            raise DatasetError(f"{self.root}: no DexYCB subject folders ({SUBJECTS[0]}, ...)")
        for subject_index, subject in enumerate(SUBJECTS):
            if subject not in present:
                continue
            sequences = sorted(p.name for p in (self.root / subject).iterdir() if p.is_dir())
            for index, sequence in enumerate(sequences):
                if not in_split(split, subject_index, index):
                    continue
                meta = _yaml(self.root / subject / sequence / "meta.yml")
                for serial in meta.get("serials", []):
                    yield ClipRef(self.name, f"{subject}/{sequence}", str(serial), 0, self.num_frames)

    def sequence(self, ref: ClipRef) -> HOISequence:
        self._check(ref)
        seq_dir = self.root / ref.sequence
        meta = _yaml(seq_dir / "meta.yml")
        total = int(meta["num_frames"])
        if ref.stop > total:
            raise SequenceError(f"{seq_dir}: frames {ref.start}..{ref.stop} outside the sequence's {total} frames")
        side = meta["mano_sides"][0]
        calib = self.root / "calibration"
        betas = np.asarray(_yaml(calib / f"mano_{meta['mano_calib'][0]}" / "mano.yml")["betas"], dtype=np.float64)
        intr = _yaml(calib / "intrinsics" / f"{ref.camera}_{WIDTH}x{HEIGHT}.yml")["color"]
        K = np.array([[intr["fx"], 0.0, intr["ppx"]], [0.0, intr["fy"], intr["ppy"]], [0.0, 0.0, 1.0]])
        frame_ids = range(ref.start, ref.stop)
        pose_m, pose_y = [], []
        for f in frame_ids:
            path = seq_dir / ref.camera / f"labels_{f:06d}.npz"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing label file")
            with np.load(path) as labels:
                pose_m.append(labels["pose_m"].reshape(51))
                pose_y.append(labels["pose_y"])
        pose_m = np.asarray(pose_m, dtype=np.float64)
        pose_y = np.asarray(pose_y, dtype=np.float64)  # (T, num_objects, 3, 4)
        components, mean = mano_pca(side, self.mano_dir)
        valid = np.any(pose_m != 0.0, axis=1)
        hand_pose = np.where(valid[:, None], mean + pose_m[:, 3:48] @ components, 0.0)
        hand = HandTrack(global_orient=pose_m[:, :3], hand_pose=hand_pose, transl=pose_m[:, 48:51], betas=betas,
                         side=side, model="mano")
        objects = []
        for k, ycb_id in enumerate(meta["ycb_ids"]):
            mesh = self.root / "models" / YCB_CLASSES[ycb_id] / "textured_simple.obj"
            if not mesh.is_file():
                raise FileNotFoundError(f"{mesh}: missing YCB model (DexYCB ships models/ under its root)")
            rot = pose_y[:, k, :, :3]
            annotated = np.abs(rot).sum(axis=(1, 2)) > 0  # unannotated frames are all zero: identity
            u, _, vt = np.linalg.svd(np.where(annotated[:, None, None], rot, np.eye(3)))
            objects.append(ObjectTrack(mesh=str(mesh), rotation=u @ vt, translation=pose_y[:, k, :, 3],
                                       name=YCB_CLASSES[ycb_id], seg_id=int(ycb_id)))
        grasped = YCB_CLASSES[meta["ycb_ids"][int(meta["ycb_grasp_ind"])]]
        source = self._source(ref, frame_ids, FPS, [object_name(grasped)], grasped_object=grasped,
                              mano_calib=str(meta["mano_calib"][0]))
        return HOISequence(hands=[hand], objects=objects, camera=Camera(K=K, height=HEIGHT, width=WIDTH), fps=FPS,
                           meta={"source": source, "hand_valid": {side: valid.tolist()}})

    def frames(self, ref: ClipRef) -> np.ndarray:
        self._check(ref)
        folder = self.root / ref.sequence / ref.camera
        return read_rgb([folder / f"color_{f:06d}.jpg" for f in range(ref.start, ref.stop)])


def in_split(split: str, subject_index: int, sequence_index: int) -> bool:
    """The toolkit's s0 rule for one sequence (see the module docstring)."""
    held_out = sequence_index % 5 == 4
    if split == "s0-train":
        return not held_out
    if split == "s0-val":
        return held_out and subject_index < 2
    if split == "s0-test":
        return held_out and subject_index >= 2
    return held_out or split == "all"
