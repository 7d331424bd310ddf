import json

import numpy as np
import pytest

from pam import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError
from pam.rotations import axis_angle_to_matrix_np


def make_sequence(T=5, seed=0, two_hands=False, moving_camera=False):
    rng = np.random.default_rng(seed)
    hands = [
        HandTrack(
            global_orient=rng.normal(size=(T, 3)),
            hand_pose=rng.normal(scale=0.3, size=(T, 45)),
            transl=rng.normal(size=(T, 3)),
            betas=rng.normal(size=10),
            side=side,
        )
        for side in (["right", "left"] if two_hands else ["right"])
    ]
    obj = ObjectTrack(
        mesh="mug", rotation=axis_angle_to_matrix_np(rng.normal(size=(T, 3))), translation=rng.normal(size=(T, 3)),
        seg_id=14,
    )
    if moving_camera:
        cam = Camera.from_fov(50, R=axis_angle_to_matrix_np(rng.normal(size=(T, 3))), t=rng.normal(size=(T, 3)))
    else:
        cam = Camera.from_fov(50)
    return HOISequence(hands=hands, objects=[obj], camera=cam, fps=15.0, meta={"source": "test"})


@pytest.mark.parametrize("two_hands,moving", [(False, False), (True, True)])
def test_round_trip_is_exact(tmp_path, two_hands, moving):
    seq = make_sequence(two_hands=two_hands, moving_camera=moving)
    path = seq.save(tmp_path / "seq.npz")
    back = HOISequence.load(path)
    assert back.num_frames == seq.num_frames and back.fps == seq.fps and back.meta == seq.meta
    for a, b in zip(seq._arrays().items(), back._arrays().items()):
        assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert [h.side for h in back.hands] == [h.side for h in seq.hands]
    assert (back.objects[0].mesh, back.objects[0].seg_id) == ("mug", 14)
    sidecar = json.loads((tmp_path / "seq.json").read_text())
    assert sidecar["num_frames"] == 5 and len(sidecar["arrays"]["hands/0/hand_pose"]) == 5


def test_projection_matches_pinhole_formula():
    rng = np.random.default_rng(1)
    R = axis_angle_to_matrix_np(rng.normal(size=3))
    cam = Camera(K=[[600, 0, 360], [0, 610, 240], [0, 0, 1]], R=R, t=[0.0, 0.0, 2.0])
    X = rng.normal(scale=0.2, size=(7, 3))
    x = (cam.K @ (R @ X.T + cam.t[:, None])).T
    np.testing.assert_allclose(cam.project(X), x[:, :2] / x[:, 2:], rtol=1e-12)


def test_look_at_centres_target_and_keeps_up_up():
    cam = Camera.look_at(eye=[0.5, -0.6, 0.4], target=[0.0, 0.0, 0.1])
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 0.1])), [360.0, 240.0], atol=1e-9)
    above, below = cam.project(np.array([[0.0, 0.0, 0.2], [0.0, 0.0, 0.0]]))
    assert above[1] < below[1]  # image y grows downwards
    assert cam.world_to_camera(np.array([0.0, 0.0, 0.1]))[2] == pytest.approx(np.linalg.norm([0.5, -0.6, 0.3]))
    with pytest.raises(SequenceError, match="parallel"):
        Camera.look_at(eye=[0, 0, 1], target=[0, 0, 0])


def test_from_fov_focal_length():
    cam = Camera.from_fov(90.0, height=480, width=720)
    assert cam.K[1, 1] == pytest.approx(240.0) and cam.K[0, 2] == 360.0


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda k: k.update(hand_pose=np.full((5, 45), np.nan)), "NaN"),
        (lambda k: k.update(hand_pose=np.zeros((5, 48))), "expected shape"),
        (lambda k: k.update(transl=np.zeros((4, 3))), "frame counts differ"),
        (lambda k: k.update(side="middle"), "hand.side"),
        (lambda k: k.update(betas=np.zeros(16)), "betas"),
    ],
)
def test_bad_hand_input(mutate, message):
    kwargs = dict(global_orient=np.zeros((5, 3)), hand_pose=np.zeros((5, 45)), transl=np.zeros((5, 3)))
    mutate(kwargs)
    with pytest.raises(SequenceError, match=message):
        HandTrack(**kwargs)


def test_bad_object_and_camera_input():
    rot = np.tile(np.eye(3), (5, 1, 1))
    with pytest.raises(SequenceError, match="not a rotation"):
        ObjectTrack(mesh="mug", rotation=rot * 2.0, translation=np.zeros((5, 3)))
    reflect = rot.copy()
    reflect[:, 0, 0] = -1
    with pytest.raises(SequenceError, match="not a rotation"):
        ObjectTrack(mesh="mug", rotation=reflect, translation=np.zeros((5, 3)))
    with pytest.raises(SequenceError, match="inf"):
        ObjectTrack(mesh="mug", rotation=rot, translation=np.full((5, 3), np.inf))
    with pytest.raises(SequenceError, match="focal"):
        Camera(K=np.diag([0.0, 1.0, 1.0]))


def test_frame_count_mismatch_between_tracks():
    seq = make_sequence(T=5)
    short = ObjectTrack(mesh="ball", rotation=np.tile(np.eye(3), (4, 1, 1)), translation=np.zeros((4, 3)))
    with pytest.raises(SequenceError, match="frame counts differ"):
        HOISequence(hands=seq.hands, objects=[short], camera=seq.camera)


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    seq = make_sequence()
    seq.hands[0].hand_pose[2, 3] = np.nan  # corrupted after construction
    with pytest.raises(SequenceError, match="NaN"):
        seq.save(tmp_path / "seq.npz")
    assert list(tmp_path.iterdir()) == []

    good = make_sequence()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        good.save(tmp_path / "seq.npz")
    assert list(tmp_path.iterdir()) == []


def test_objects_with_the_same_name_are_checked_separately():
    seq = make_sequence(T=5)
    rot = np.tile(np.eye(3), (3, 1, 1))
    with pytest.raises(SequenceError, match="frame counts differ"):
        # the short one first: keyed by name, the 5-frame one would hide it
        short = ObjectTrack(mesh="mug", rotation=rot, translation=np.zeros((3, 3)))
        HOISequence(hands=seq.hands, objects=[short, seq.objects[0]], camera=seq.camera)


def test_sidecar_failure_leaves_neither_file(tmp_path, monkeypatch):
    from pathlib import Path

    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OSError, match="disk full"):
        make_sequence().save(tmp_path / "seq.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_rejects_foreign_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(SequenceError, match="not a pam sequence"):
        HOISequence.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(SequenceError, match="not a readable"):
        HOISequence.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        HOISequence.load(tmp_path / "missing.npz")
