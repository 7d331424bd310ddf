"""Dataset readers on miniature datasets in each dataset's real layout, checked against the hand
model's output (DexYCB's own joint labels, OakInk2's and GraspXL's wrist conventions)."""

import dataclasses
import os
import pickle

import numpy as np
import pytest
import torch
from dataset_fixtures import SERIALS, make_dexycb, make_graspxl, make_oakink2, write_mano_files
from scipy.spatial.transform import Rotation

from pam.data import ClipRef, DatasetError, Reader, make_reader
from pam.data.dexycb import SUBJECTS
from pam.hand import ManoHand
from pam.safe_pickle import UnsafePickleError
from pam.sequence import HOISequence, SequenceError


@pytest.fixture(scope="module")
def mano(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mano")
    return folder, write_mano_files(folder)


@pytest.fixture(scope="module")
def dexycb(tmp_path_factory, mano):
    root = tmp_path_factory.mktemp("dex-ycb")
    return root, make_dexycb(root, mano[0])


def _posed(hand_track, mano_dir):
    """Vertices (T, 778, 3) and joints (T, 21, 3) of a HandTrack under ManoHand (full pose, flat mean)."""
    hand = ManoHand(mano_dir, side=hand_track.side).double()
    with torch.no_grad():
        out = hand(*(torch.as_tensor(a, dtype=torch.float64) for a in
                     (hand_track.global_orient, hand_track.hand_pose, np.tile(hand_track.betas, (hand_track.num_frames, 1)),
                      hand_track.transl)))
    return out.vertices.numpy(), out.joints.numpy()


def test_dexycb_poses_reproduce_the_datasets_joint_labels(dexycb, mano):
    root, truth = dexycb
    reader = make_reader("dexycb", root, num_frames=5, mano_dir=mano[0])
    assert isinstance(reader, Reader)
    ref = ClipRef("dexycb", truth["sequence"], SERIALS[1], 0, 5)
    seq = reader.sequence(ref)
    hand = seq.hands[0]
    assert seq.num_frames == 5 and seq.fps == 30.0 and hand.side == "right" and hand.model == "mano"
    np.testing.assert_allclose(hand.betas, truth["betas"])
    _, joints = _posed(hand, mano[0])
    np.testing.assert_allclose(joints[1:], truth["joint_3d"][1:], atol=1e-5)  # joint_3d in the labels
    uvw = joints @ seq.camera.K.T
    np.testing.assert_allclose(uvw[1:, :, :2] / uvw[1:, :, 2:], truth["joint_2d"][1:], atol=1e-3)
    assert seq.meta["hand_valid"] == {"right": [False, True, True, True, True]}
    assert np.all(hand.hand_pose[0] == 0)
    for k, obj in enumerate(seq.objects):
        np.testing.assert_allclose(obj.rotation, truth["pose_y"][:, k, :, :3], atol=1e-6)
        np.testing.assert_allclose(obj.translation, truth["pose_y"][:, k, :, 3], atol=1e-6)
    assert [o.seg_id for o in seq.objects] == truth["ycb_ids"]
    assert seq.objects[1].mesh == str(root / "models" / "025_mug" / "textured_simple.obj")
    np.testing.assert_allclose(seq.camera.K, truth["K"])
    assert (seq.camera.height, seq.camera.width) == (480, 640)
    source = seq.meta["source"]
    assert source["kind"] == "dexycb" and source["clip_id"] == ref.clip_id and source["camera"] == SERIALS[1]
    assert source["frame_ids"] == [0, 1, 2, 3, 4] and source["objects"] == ["mug"]
    assert source["extra"]["grasped_object"] == "025_mug"
    frames = reader.frames(ref)
    assert frames.shape == (5, 480, 640, 3) and frames.dtype == np.uint8
    assert frames[0, :, :300, 0].mean() > 200 and frames[0, :, 340:, 0].mean() < 40  # RGB, not BGR
    seq.save(root.parent / "dex.npz")
    np.testing.assert_array_equal(HOISequence.load(root.parent / "dex.npz").hands[0].hand_pose, hand.hand_pose)


def test_dexycb_s0_splits_follow_the_toolkit(dexycb, tmp_path):
    root, truth = dexycb  # subjects 0 and 2, five sequences each, two cameras
    reader = make_reader("dexycb", root, num_frames=5)
    ids = {split: [r.clip_id for r in reader.clips(split)] for split in reader.SPLITS}
    assert len(ids["s0-train"]) == 2 * 4 * 2 and len(ids["all"]) == 20
    assert all(f"{SUBJECTS[0]}+20200709_141704" in i for i in ids["s0-val"]) and len(ids["s0-val"]) == 2
    assert all(f"{SUBJECTS[2]}+20200709_141704" in i for i in ids["s0-test"]) and len(ids["s0-test"]) == 2
    assert sorted(ids["s0-eval"]) == sorted(ids["s0-val"] + ids["s0-test"])
    assert not set(ids["s0-train"]) & set(ids["s0-eval"])
    first = next(reader.clips("s0-train"))
    assert first == ClipRef("dexycb", truth["sequence"], SERIALS[0], 0, 5)
    listing = tmp_path / "mine.txt"
    listing.write_text(f"# two clips\n{ids['s0-val'][1]}\n\n{ids['s0-test'][0]}\n")
    assert [r.clip_id for r in reader.clips(str(listing))] == [ids["s0-val"][1], ids["s0-test"][0]]
    with pytest.raises(DatasetError, match="unknown dexycb split 's1-train'"):
        reader.clips("s1-train")
    listing.write_text("oakink2__a__b__000000-049\n")
    with pytest.raises(DatasetError, match="mine.txt:1: .* is from oakink2"):
        list(reader.clips(str(listing)))


def test_dexycb_missing_files_are_named(dexycb, mano, tmp_path):
    root, truth = dexycb
    reader = make_reader("dexycb", root, num_frames=5, mano_dir=mano[0])
    with pytest.raises(SequenceError, match="frames 0..9 outside the sequence's 5 frames"):
        reader.sequence(ClipRef("dexycb", truth["sequence"], SERIALS[0], 0, 9))
    mesh = root / "models" / "025_mug" / "textured_simple.obj"
    mesh.rename(mesh.with_suffix(".bak"))
    try:
        with pytest.raises(FileNotFoundError, match="025_mug/textured_simple.obj: missing YCB model"):
            reader.sequence(ClipRef("dexycb", truth["sequence"], SERIALS[0], 0, 5))
    finally:
        mesh.with_suffix(".bak").rename(mesh)
    with pytest.raises(FileNotFoundError, match="no such dexycb root"):
        make_reader("dexycb", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="not a dexycb root .no calibration/"):
        make_reader("dexycb", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'hoi4d'"):
        make_reader("hoi4d", root)


def test_oakink2_indexes_images_by_frame_id_and_reads_tsl_as_the_wrist(tmp_path, mano):
    root = tmp_path / "OakInk2"
    truth = make_oakink2(root)
    reader = make_reader("oakink2", root, num_frames=4, mano_dir=mano[0])
    clips = list(reader.clips("all"))
    assert [(c.camera, c.start) for c in clips] == [("allocentric_top", 0), ("allocentric_top", 4),
                                                    ("egocentric", 0), ("egocentric", 4)]
    assert clips[0].prompt == "pour tea from the teapot" and clips[1].prompt == ""  # mocap 400..420 covers window 0
    ref = ClipRef("oakink2", truth["token"].replace("++", "/"), "egocentric", 4, 4)
    seq = reader.sequence(ref)
    ids = truth["image_ids"][4:8]
    assert seq.meta["source"]["frame_ids"] == ids and seq.meta["source"]["extra"]["mocap_frame_ids"] == ids
    assert [h.side for h in seq.hands] == ["left", "right"] and seq.fps == 30.0
    for hand, s in zip(seq.hands, ("lh", "rh")):
        quat = np.stack([truth["truth"][s]["quat"][f] for f in ids])
        want = Rotation.from_quat(quat.reshape(-1, 4), scalar_first=True).as_matrix().reshape(4, 16, 3, 3)
        got = Rotation.from_rotvec(np.concatenate([hand.global_orient[:, None], hand.hand_pose.reshape(4, 15, 3)], 1)
                                   .reshape(-1, 3)).as_matrix().reshape(4, 16, 3, 3)
        np.testing.assert_allclose(got, want, atol=1e-6)
        # the toolkit's MANO layer: joints re-centred on the wrist (center_idx=0), then + tsl
        tsl = np.stack([truth["truth"][s]["tsl"][f] for f in ids])
        vertices, joints = _posed(hand, mano[0])
        np.testing.assert_allclose(joints[:, 0], tsl, atol=1e-6)
        centred_v, centred_j = _posed(dataclasses.replace(hand, transl=np.zeros((4, 3))), mano[0])
        np.testing.assert_allclose(vertices, centred_v - centred_j[:, :1] + tsl[:, None], atol=1e-6)
    assert seq.meta["hand_valid"] == {"left": [True] * 4, "right": [True] * 4}
    for obj, obj_id in zip(seq.objects, truth["obj_list"]):
        transf = np.stack([truth["obj_transf"][obj_id][f] for f in ids])
        np.testing.assert_allclose(obj.rotation, transf[:, :3, :3], atol=1e-9)
        np.testing.assert_allclose(obj.translation, transf[:, :3, 3], atol=1e-9)
    assert "object_repair/align_ds" in seq.objects[0].mesh
    assert seq.objects[1].mesh.endswith("object_raw/align_ds/O01@0001@00001/O01@0001@00001.ply")
    assert seq.meta["source"]["objects"] == ["teapot", "O01@0001@00001"]
    extr = np.stack([truth["cam_extr"]["egocentric"][f] for f in ids])  # world-to-camera, per image frame
    np.testing.assert_allclose(seq.camera.R, extr[:, :3, :3], atol=1e-9)
    np.testing.assert_allclose(seq.camera.t, extr[:, :3, 3], atol=1e-9)
    assert (seq.camera.height, seq.camera.width) == truth["image_hw"]  # read, not 2 x the principal point
    frames = reader.frames(ref)
    assert frames.shape == (4, *truth["image_hw"], 3)
    with pytest.raises(SequenceError, match="frames 8..12 outside the sequence's 10 image frames"):
        reader.sequence(ClipRef("oakink2", ref.sequence, "egocentric", 8, 4))


def test_oakink2_without_images_needs_the_image_size(tmp_path, mano):
    root = tmp_path / "OakInk2"
    truth = make_oakink2(root, with_images=False)
    ref = ClipRef("oakink2", truth["token"].replace("++", "/"), "allocentric_top", 0, 4)
    with pytest.raises(FileNotFoundError, match="pass image_size"):
        make_reader("oakink2", root, num_frames=4, mano_dir=mano[0]).sequence(ref)
    seq = make_reader("oakink2", root, num_frames=4, mano_dir=mano[0], image_size=(480, 848)).sequence(ref)
    assert (seq.camera.height, seq.camera.width) == (480, 848)


def test_oakink2_refuses_code_in_the_pickle(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    (tmp_path / "anno_preview").mkdir()
    (tmp_path / "anno_preview" / "evil.pkl").write_bytes(pickle.dumps({"frame_id_list": [Exploit()]}))
    with pytest.raises(UnsafePickleError, match="posix.system|nt.system"):
        list(make_reader("oakink2", tmp_path).clips("all"))


def test_graspxl_trans_is_the_wrist_position(tmp_path, mano):
    root = tmp_path / "GraspXL"
    truth = make_graspxl(root, num_frames=12)
    reader = make_reader("graspxl", root, num_frames=5, mano_dir=mano[0])
    clips = list(reader.clips("all"))
    assert [c.start for c in clips] == [0, 5] and clips[0].sequence == f"mano_dataset_1/small/{truth['obj_id']}/mano_1"
    seq = reader.sequence(clips[1])
    hand, window = seq.hands[0], slice(5, 10)
    np.testing.assert_allclose(hand.hand_pose, truth["hand"]["pose"][window])
    np.testing.assert_allclose(hand.global_orient, truth["hand"]["rot"][window])
    # GraspXL's viewer: MANO(flat hand mean, betas 0, no translation) - wrist_bias + trans
    arrays = mano[1]["right"]
    wrist_bias = arrays["J_regressor"][0] @ arrays["v_template"]
    vertices, joints = _posed(hand, mano[0])
    rest_v, _ = _posed(dataclasses.replace(hand, transl=np.zeros((5, 3))), mano[0])
    np.testing.assert_allclose(vertices, rest_v - wrist_bias + truth["hand"]["trans"][window, None], atol=1e-6)
    np.testing.assert_allclose(joints[:, 0], truth["hand"]["trans"][window], atol=1e-6)
    np.testing.assert_allclose(seq.objects[0].translation, truth["object"]["trans"][window])
    np.testing.assert_allclose(seq.objects[0].rotation, Rotation.from_rotvec(truth["object"]["rot"][window]).as_matrix(),
                               atol=1e-12)
    assert seq.objects[0].mesh == str(root / "object_dataset" / "small" / truth["obj_id"] / f"{truth['obj_id']}.obj")
    assert reader.frames(clips[1]) is None and seq.meta["source"]["frame_ids"] == list(range(5, 10))
    np.save(truth["path"], np.zeros(3))
    with pytest.raises(UnsafePickleError, match="plain array"):
        reader.sequence(clips[0])


def test_deprecated_importers_call_the_readers(dexycb, mano):
    from pam.pose.importers import load_dexycb

    root, truth = dexycb
    with pytest.warns(DeprecationWarning, match="pam.data.make_reader"):
        seq = load_dexycb(root / truth["sequence"], SERIALS[0], start=1, mano_dir=mano[0])
    assert seq.num_frames == 4 and seq.meta["source"]["frame_ids"] == [1, 2, 3, 4]
