"""Miniature DexYCB, OakInk2 and GraspXL datasets in their real layouts, with synthetic MANO files.

Labels that the datasets derive from MANO (DexYCB ``joint_3d`` / ``joint_2d``) are computed here the
way the dataset's own MANO layer does (manopth: 45 PCA components, ``flat_hand_mean=False``,
translation added after posing), so a reader is checked against the hand model's output.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import torch
import trimesh
import yaml
from scipy.spatial.transform import Rotation
from test_mano import _synthetic_mano

from pam.data.dexycb import SUBJECTS, YCB_CLASSES
from pam.fileio import save_arrays
from pam.hand import ManoHand
from pam.hand.mano import MANO_KEYS

SERIALS = ("836212060125", "932122062010")


def write_mano_files(folder: Path, seed: int = 0) -> dict[str, dict]:
    """``MANO_RIGHT.npz`` / ``MANO_LEFT.npz`` with MANO's keys and shapes (random values); returns the arrays.
    The template is scaled to hand size (about 10 cm) so rendered clips show something."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for k, side in enumerate(("right", "left")):
        mano = _synthetic_mano(np.random.default_rng(seed + k))
        mano["J_regressor"] = mano["J_regressor"].toarray()
        mano["v_template"] = mano["v_template"] * 0.6
        arrays[side] = {key: np.asarray(mano[key]) for key in MANO_KEYS}
        save_arrays(folder / f"MANO_{side.upper()}.npz", **arrays[side])
    return arrays


def _box(path: Path, size: float = 0.06) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(size, size, 1.5 * size)).export(path)


def _rgb(height: int, width: int, t: int) -> np.ndarray:
    """A smooth test image: red left half, a moving green gradient, blue constant."""
    u = np.linspace(0, 1, width)[None, :].repeat(height, 0)
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.where(u < 0.5, 220, 20)
    image[..., 1] = (255 * ((u + 0.05 * t) % 1.0)).astype(np.uint8)
    image[..., 2] = 90
    return image


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def dexycb_labels(mano_dir: Path, side: str, pose_m: np.ndarray, betas: np.ndarray, K: np.ndarray):
    """``joint_3d`` (T, 21, 3) and ``joint_2d`` (T, 21, 2) as DexYCB's toolkit computes them from
    ``pose_m`` (T, 51): manopth-style MANO, PCA + hands_mean, translation after posing; -1 without a hand."""
    hand = ManoHand(mano_dir, side=side, use_pca=True, num_pca_comps=45, flat_hand_mean=False).double()
    T = len(pose_m)
    with torch.no_grad():
        out = hand(*(torch.as_tensor(a, dtype=torch.float64) for a in
                     (pose_m[:, :3], pose_m[:, 3:48], np.tile(betas, (T, 1)), pose_m[:, 48:])))
    joint_3d = out.joints.numpy()
    uvw = joint_3d @ K.T
    joint_2d = uvw[..., :2] / uvw[..., 2:]
    empty = ~np.any(pose_m != 0, axis=1)
    joint_3d[empty], joint_2d[empty] = -1.0, -1.0
    return joint_3d, joint_2d


def make_dexycb(root: Path, mano_dir: Path, num_frames: int = 5, sequences: int = 5, subjects=(0, 2),
                seed: int = 7) -> dict:
    """A DexYCB root: ``subjects`` (indices into SUBJECTS) with ``sequences`` sequence folders each
    (meta.yml, cameras SERIALS); the first sequence of the first subject has full per-frame files
    (jpgs, labels); calibration and two YCB models. Returns what was written for that sequence."""
    rng = np.random.default_rng(seed)
    calib = root / "calibration"
    K = np.array([[615.0, 0, 321.2], [0, 614.5, 240.8], [0, 0, 1]])
    for serial in SERIALS:
        intr = {"color": {"fx": 615.0, "fy": 614.5, "ppx": 321.2, "ppy": 240.8}}
        (calib / "intrinsics").mkdir(parents=True, exist_ok=True)
        (calib / "intrinsics" / f"{serial}_640x480.yml").write_text(yaml.safe_dump(intr))
    ycb_ids = [5, 14]
    for ycb_id in ycb_ids:
        _box(root / "models" / YCB_CLASSES[ycb_id] / "textured_simple.obj")
    written = {}
    for s in subjects:
        subject = SUBJECTS[s]
        calib_name = f"{subject}_right"
        (calib / f"mano_{calib_name}").mkdir(parents=True, exist_ok=True)
        betas = rng.normal(scale=0.5, size=10).round(4)
        (calib / f"mano_{calib_name}" / "mano.yml").write_text(yaml.safe_dump({"betas": betas.tolist()}))
        for q in range(sequences):
            seq_dir = root / subject / f"20200709_1417{q:02d}"
            seq_dir.mkdir(parents=True)
            meta = {"serials": list(SERIALS), "num_frames": num_frames, "ycb_ids": ycb_ids, "ycb_grasp_ind": 1,
                    "mano_sides": ["right"], "mano_calib": [calib_name], "pcd_depth_thres": 4.0}
            (seq_dir / "meta.yml").write_text(yaml.safe_dump(meta))
            if written:
                continue
            T = num_frames
            t = np.linspace(0, 1, T)[:, None]
            pose_m = np.concatenate([
                np.array([[0.3, -2.5, 0.4]]) + rng.normal(scale=0.05, size=(T, 3)),
                rng.normal(scale=0.5, size=(T, 45)),
                np.array([[0.02, 0.03, 0.55]]) + t * np.array([[0.05, -0.02, 0.0]]),
            ], axis=1).astype(np.float32)
            pose_m[0] = 0.0  # no hand in the first frame
            rots = Rotation.from_rotvec(rng.normal(scale=0.3, size=(T * 2, 3))).as_matrix().reshape(T, 2, 3, 3)
            trans = np.stack([np.array([0.08, 0.05, 0.6]) + 0 * t, np.array([-0.1, 0.0, 0.7]) + 0.03 * t], 1)
            pose_y = np.concatenate([rots, trans[..., None]], axis=-1).astype(np.float32)
            joint_3d, joint_2d = dexycb_labels(mano_dir, "right", pose_m.astype(np.float64), betas, K)
            for serial in SERIALS:
                (seq_dir / serial).mkdir()
                for f in range(T):
                    np.savez(seq_dir / serial / f"labels_{f:06d}.npz", seg=np.zeros((480, 640), np.uint8),
                             pose_y=pose_y[f], pose_m=pose_m[f : f + 1],
                             joint_3d=joint_3d[f : f + 1].astype(np.float32),
                             joint_2d=joint_2d[f : f + 1].astype(np.float32))
                    _write_jpg(seq_dir / serial / f"color_{f:06d}.jpg", _rgb(480, 640, f))
            written = {"sequence": f"{subject}/{seq_dir.name}", "pose_m": pose_m, "pose_y": pose_y, "betas": betas,
                       "K": K, "joint_3d": joint_3d, "joint_2d": joint_2d, "ycb_ids": ycb_ids}
    return written


def _rigid(rotation, translation):
    return np.block([[rotation, np.asarray(translation)[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])


def make_oakink2(root: Path, num_images: int = 10, image_hw=(120, 212), seed: int = 3, with_images: bool = True) -> dict:
    """An OakInk2 root with one sequence: images at 30 fps (every 4th mocap id), mocap at 120 fps,
    two cameras (one moving), two objects (one mesh in object_repair, one only in object_raw),
    a desc_info prompt. Returns what was written."""
    rng = np.random.default_rng(seed)
    token = "scene_01__A001++00000000000000000001__2024-01-01-10-00-00"
    mocap = list(range(400, 400 + 4 * num_images + 3))
    image_ids = mocap[::4][:num_images]
    cam_def = {"22070938": "allocentric_top", "22139905": "egocentric"}
    raw = {}
    truth = {s: {"quat": {}, "tsl": {}, "betas": rng.normal(scale=0.5, size=10)} for s in ("lh", "rh")}
    for f in mocap:
        raw[f] = {}
        for s in ("lh", "rh"):
            quat = Rotation.from_rotvec(rng.normal(scale=0.4, size=(16, 3))).as_quat(scalar_first=True)
            tsl = np.array([0.3 if s == "rh" else -0.3, 0.1, 0.2]) + rng.normal(scale=0.01, size=3)
            truth[s]["quat"][f], truth[s]["tsl"][f] = quat, tsl
            raw[f][f"{s}__pose_coeffs"] = torch.tensor(quat[None], dtype=torch.float32)
            raw[f][f"{s}__tsl"] = torch.tensor(tsl[None], dtype=torch.float32)
            raw[f][f"{s}__betas"] = torch.tensor(truth[s]["betas"][None], dtype=torch.float32)
    obj_list = ["O02@0039@00002", "O01@0001@00001"]
    obj_transf = {o: {f: _rigid(Rotation.from_rotvec(rng.normal(size=3)).as_matrix(), rng.normal(scale=0.1, size=3))
                      for f in mocap} for o in obj_list}
    cam_intr, cam_extr = {}, {}
    for serial, name in cam_def.items():
        K = np.array([[150.0, 0, 97.0], [0, 150.0, 55.0], [0, 0, 1]])  # principal point off-centre
        cam_intr[name] = {f: K for f in image_ids}
        base = _rigid(Rotation.from_rotvec([2.2, 0.0, 0.0]).as_matrix(), np.array([0.0, 0.1, 0.9]))
        moving = [_rigid(Rotation.from_rotvec([2.2, 0.01 * i, 0.0]).as_matrix(), np.array([0.0, 0.1, 0.9 + 0.01 * i]))
                  for i in range(len(image_ids))]
        cam_extr[name] = {f: moving[i] if name == "egocentric" else base for i, f in enumerate(image_ids)}
        if with_images:
            for i, f in enumerate(image_ids):
                _write_jpg(root / "data" / token / serial / f"{f}.jpg", _rgb(*image_hw, i))
    anno = {"cam_def": cam_def, "cam_selection": list(cam_def.values()), "frame_id_list": image_ids,
            "cam_intr": cam_intr, "cam_extr": cam_extr, "mocap_frame_id_list": mocap, "obj_list": obj_list,
            "obj_transf": obj_transf, "raw_mano": raw, "raw_smplx": {}}
    (root / "anno_preview").mkdir(parents=True, exist_ok=True)
    with open(root / "anno_preview" / f"{token}.pkl", "wb") as f:
        pickle.dump(anno, f)
    _box(root / "object_repair" / "align_ds" / obj_list[0] / f"{obj_list[0]}.obj")
    _box(root / "object_raw" / "align_ds" / obj_list[1] / f"{obj_list[1]}.ply")
    (root / "object_raw" / "obj_desc.json").write_text(
        '{"O02@0039@00002": {"obj_id": "O02@0039@00002", "obj_name": "teapot"}}')
    (root / "program" / "desc_info").mkdir(parents=True, exist_ok=True)
    (root / "program" / "desc_info" / f"{token}.json").write_text(
        f'{{"(None, ({mocap[0]}, {mocap[20]}))": {{"seg_desc": "pour tea from the teapot"}}}}')
    return {"token": token, "image_ids": image_ids, "truth": truth, "obj_transf": obj_transf, "cam_extr": cam_extr,
            "obj_list": obj_list, "image_hw": image_hw, "cam_def": cam_def}


def make_graspxl(root: Path, num_frames: int = 12, seed: int = 5) -> dict:
    """A GraspXL root with one MANO motion file and its object mesh. Returns the motion."""
    rng = np.random.default_rng(seed)
    obj_id = "0a1b2c3d"
    motion = root / "mano_dataset_1" / "small" / obj_id / "mano_1.npy"
    motion.parent.mkdir(parents=True)
    hand = {"trans": rng.normal(scale=0.1, size=(num_frames, 3)), "rot": rng.normal(scale=0.4, size=(num_frames, 3)),
            "pose": rng.normal(scale=0.3, size=(num_frames, 45))}
    obj = {"trans": rng.normal(scale=0.1, size=(num_frames, 3)), "rot": rng.normal(scale=0.4, size=(num_frames, 3)),
           "angle": np.zeros(num_frames)}
    np.save(motion, {"right_hand": hand, obj_id: obj}, allow_pickle=True)
    _box(root / "object_dataset" / "small" / obj_id / f"{obj_id}.obj")
    return {"path": motion, "obj_id": obj_id, "hand": hand, "object": obj}
