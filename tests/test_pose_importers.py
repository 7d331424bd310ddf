"""Importers on small synthetic files written in each dataset's real layout."""

import os
import pickle

import numpy as np
import pytest
import torch
import yaml
from scipy.spatial.transform import Rotation

from pam.pose.importers import load_dexycb, load_graspxl, load_oakink2
from pam.safe_pickle import UnsafePickleError
from pam.sequence import HOISequence

RNG = np.random.default_rng(7)


def _rotvecs(n):
    return RNG.normal(scale=0.4, size=(n, 3))


def test_dexycb_sequence_round_trip(tmp_path):
    root = tmp_path / "dex"
    seq_dir = root / "20200709-subject-01" / "20200709_141754"
    serial = "836212060125"
    (seq_dir / serial).mkdir(parents=True)
    (root / "calibration" / "intrinsics").mkdir(parents=True)
    (root / "calibration" / "mano_20200709-subject-01_right").mkdir(parents=True)
    T = 5
    meta = {"num_frames": T, "ycb_ids": [4, 10], "ycb_grasp_ind": 0, "mano_sides": ["right"],
            "mano_calib": ["20200709-subject-01_right"], "serials": [serial]}
    (seq_dir / "meta.yml").write_text(yaml.safe_dump(meta))
    betas = RNG.normal(size=10).round(4)
    (root / "calibration" / "mano_20200709-subject-01_right" / "mano.yml").write_text(yaml.safe_dump({"betas": betas.tolist()}))
    intr = {"color": {"fx": 615.0, "fy": 614.5, "ppx": 321.2, "ppy": 240.8}}
    (root / "calibration" / "intrinsics" / f"{serial}_640x480.yml").write_text(yaml.safe_dump(intr))
    comps, _ = np.linalg.qr(RNG.normal(size=(45, 45)))
    mean = RNG.normal(scale=0.1, size=45)
    pose_m = np.concatenate([_rotvecs(T), RNG.normal(size=(T, 45)), RNG.normal(size=(T, 3))], axis=1).astype(np.float32)
    pose_m[0] = 0.0  # no hand in the first frame
    rots = Rotation.from_rotvec(_rotvecs(2 * T)).as_matrix().reshape(T, 2, 3, 3)
    trans = RNG.normal(size=(T, 2, 3))
    pose_y = np.concatenate([rots, trans[..., None]], axis=-1).astype(np.float32)
    for f in range(T):
        np.savez(seq_dir / serial / f"labels_{f:06d}.npz", pose_m=pose_m[f : f + 1], pose_y=pose_y[f],
                 seg=np.zeros((480, 640), np.uint8))
    seq = load_dexycb(seq_dir, serial, start=1, num_frames=3, pca=(comps, mean))
    hand = seq.hands[0]
    assert seq.num_frames == 3 and seq.fps == 30.0 and hand.side == "right" and hand.model == "mano"
    np.testing.assert_allclose(hand.betas, betas)
    np.testing.assert_allclose(hand.global_orient, pose_m[1:4, :3], atol=1e-6)
    np.testing.assert_allclose(hand.hand_pose, mean + pose_m[1:4, 3:48].astype(np.float64) @ comps, atol=1e-5)
    np.testing.assert_allclose(hand.transl, pose_m[1:4, 48:], atol=1e-6)
    np.testing.assert_allclose(seq.objects[1].rotation, rots[1:4, 1], atol=1e-6)
    np.testing.assert_allclose(seq.objects[1].translation, trans[1:4, 1], atol=1e-6)
    assert seq.objects[0].seg_id == 4 and seq.objects[0].mesh.endswith("005_tomato_soup_can/textured_simple.obj")
    np.testing.assert_allclose(seq.camera.K, [[615.0, 0, 321.2], [0, 614.5, 240.8], [0, 0, 1]])
    assert seq.meta["dexycb"]["hand_valid"] == [True, True, True]
    whole = load_dexycb(seq_dir, serial, pca=(comps, mean))
    assert whole.meta["dexycb"]["hand_valid"][0] is False and np.all(whole.hands[0].hand_pose[0] == 0)
    seq.save(tmp_path / "dex.npz")
    again = HOISequence.load(tmp_path / "dex.npz")
    np.testing.assert_array_equal(again.hands[0].hand_pose, hand.hand_pose)
    os.remove(seq_dir / serial / "labels_000001.npz")
    with pytest.raises(FileNotFoundError, match="labels_000001"):
        load_dexycb(seq_dir, serial, pca=(comps, mean))


def _rigid(rotation, translation):
    return np.block([[rotation, translation[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])


def _oakink2_anno(T=4):
    frames = [100 + 2 * i for i in range(T)]
    go = {s: _rotvecs(T) for s in ("lh", "rh")}
    fingers = {s: _rotvecs(15 * T).reshape(T, 15, 3) for s in ("lh", "rh")}
    raw = {}
    for i, f in enumerate(frames):
        raw[f] = {}
        for s in ("lh", "rh"):
            rv = np.concatenate([go[s][i : i + 1], fingers[s][i]])
            quat = Rotation.from_rotvec(rv).as_quat(scalar_first=True)
            raw[f][f"{s}__pose_coeffs"] = torch.tensor(quat[None], dtype=torch.float32)
            raw[f][f"{s}__tsl"] = torch.tensor(RNG.normal(size=(1, 3)), dtype=torch.float32)
            raw[f][f"{s}__betas"] = torch.zeros(1, 10)
    obj_rot = Rotation.from_rotvec(_rotvecs(T)).as_matrix()
    obj_t = RNG.normal(size=(T, 3))
    transf = {"O02@0039@00002": {f: _rigid(obj_rot[i], obj_t[i]) for i, f in enumerate(frames)}}
    cam_rot, cam_t = Rotation.from_rotvec(_rotvecs(T)).as_matrix(), RNG.normal(size=(T, 3))
    extr = {f: _rigid(cam_rot[i], cam_t[i]) for i, f in enumerate(frames)}
    anno = {"mocap_frame_id_list": frames, "obj_list": ["O02@0039@00002"], "raw_mano": raw, "obj_transf": transf,
            "cam_intr": {"egocentric": {f: np.array([[600.0, 0, 424], [0, 600, 240], [0, 0, 1]]) for f in frames}},
            "cam_extr": {"egocentric": extr}, "cam_def": {"egocentric": "ego"}}
    return anno, go, fingers, (obj_rot, obj_t), (cam_rot, cam_t)


def test_oakink2_pickle_round_trip_both_hands(tmp_path):
    anno, go, fingers, (obj_rot, obj_t), (cam_rot, cam_t) = _oakink2_anno()
    (tmp_path / "anno_preview").mkdir()
    path = tmp_path / "anno_preview" / "scene_01__A001++seq__2024.pkl"
    with open(path, "wb") as f:
        pickle.dump(anno, f)
    seq = load_oakink2(path, start=1, num_frames=2)
    assert [h.side for h in seq.hands] == ["left", "right"] and seq.num_frames == 2
    for hand, s in zip(seq.hands, ("lh", "rh")):
        R_got = Rotation.from_rotvec(hand.hand_pose.reshape(-1, 3)).as_matrix()
        R_want = Rotation.from_rotvec(fingers[s][1:3].reshape(-1, 3)).as_matrix()
        np.testing.assert_allclose(R_got, R_want, atol=1e-6)
        np.testing.assert_allclose(Rotation.from_rotvec(hand.global_orient).as_matrix(),
                                   Rotation.from_rotvec(go[s][1:3]).as_matrix(), atol=1e-6)
    np.testing.assert_allclose(seq.objects[0].rotation, obj_rot[1:3], atol=1e-9)
    np.testing.assert_allclose(seq.objects[0].translation, obj_t[1:3], atol=1e-9)
    # cam_extr is world-to-camera, as Camera.R / Camera.t
    np.testing.assert_allclose(seq.camera.R, cam_rot[1:3], atol=1e-9)
    np.testing.assert_allclose(seq.camera.t, cam_t[1:3], atol=1e-9)
    assert seq.camera.is_moving and (seq.camera.height, seq.camera.width) == (480, 848)
    assert seq.meta["oakink2"]["frame_ids"] == [102, 104]


def test_oakink2_refuses_code_in_the_pickle(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"mocap_frame_id_list": [Exploit()]}))
    with pytest.raises(UnsafePickleError, match="posix.system|nt.system"):
        load_oakink2(path)


def test_graspxl_motion_round_trip(tmp_path):
    T = 6
    motion = tmp_path / "mano_dataset_1" / "small" / "0a1b2c" / "mano_1.npy"
    motion.parent.mkdir(parents=True)
    hand = {"trans": RNG.normal(size=(T, 3)), "rot": _rotvecs(T), "pose": RNG.normal(scale=0.3, size=(T, 45))}
    obj = {"trans": RNG.normal(size=(T, 3)), "rot": _rotvecs(T), "angle": np.zeros(T)}
    np.save(motion, {"right_hand": hand, "0a1b2c": obj}, allow_pickle=True)
    seq = load_graspxl(motion, object_root=tmp_path / "object_dataset")
    np.testing.assert_allclose(seq.hands[0].hand_pose, hand["pose"])
    np.testing.assert_allclose(seq.hands[0].transl, hand["trans"])
    np.testing.assert_allclose(seq.hands[0].global_orient, hand["rot"])
    np.testing.assert_allclose(seq.objects[0].translation, obj["trans"])
    np.testing.assert_allclose(seq.objects[0].rotation, Rotation.from_rotvec(obj["rot"]).as_matrix(), atol=1e-12)
    assert seq.objects[0].mesh == str(tmp_path / "object_dataset" / "small" / "0a1b2c" / "0a1b2c.obj")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(UnsafePickleError, match="plain array"):
        load_graspxl(tmp_path / "plain.npy")
