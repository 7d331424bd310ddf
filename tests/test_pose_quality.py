"""The independent quality check on sequences built by hand (never through the generator).

Scene: a right OpenHand, palm down, above a UV sphere (radius 3 cm, a vertex at its top pole)
resting on the table. The sphere sits right under the hand's lowest vertex, so the hand-object
gap is known in closed form (``GAP``). Motions use minimum-jerk profiles.
"""

import dataclasses

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from pam.hand import OpenHand
from pam.pose.quality import THRESHOLDS, evaluate, hand_jerk, penetration_depths
from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack

HAND = OpenHand("right")
T, FPS = 49, 15.0
RADIUS, GAP = 0.03, 0.001
PALM_DOWN = np.array([np.pi / 2, 0.0, 0.0])  # the right hand's palm faces -y at zero orient
BALL = trimesh.creation.uv_sphere(radius=RADIUS, count=[32, 32])


def min_jerk(start: int, end: int, distance: float) -> np.ndarray:
    """(T,) positions of a minimum-jerk move of ``distance`` between frames start and end."""
    s = np.clip((np.arange(T) - start) / (end - start), 0.0, 1.0)
    return distance * (10 * s**3 - 15 * s**4 + 6 * s**5)


def lowest_vertex(model=HAND) -> np.ndarray:
    with torch.no_grad():
        v = model(torch.tensor(PALM_DOWN[None], dtype=torch.float32), torch.zeros(1, 45)).vertices[0].double().numpy()
    return v[np.argmin(v[:, 2])]


def scene(hand_offset, object_offset, object_rotation=None, gap=GAP, meta=None, model=HAND) -> HOISequence:
    """Hand and ball paths as per-frame offsets (T, 3) from the touching pose (ball ``gap`` under the hand)."""
    centre = lowest_vertex(model) - [0.0, 0.0, RADIUS + gap]
    hand = HandTrack(global_orient=np.tile(PALM_DOWN, (T, 1)), hand_pose=np.zeros((T, 45)), transl=hand_offset,
                     side=model.side)
    rot = np.tile(np.eye(3), (T, 1, 1)) if object_rotation is None else object_rotation
    ball = ObjectTrack(mesh="ball", rotation=rot, translation=centre + object_offset)
    return HOISequence(hands=[hand], objects=[ball], camera=Camera.from_fov(), fps=FPS, meta={"pose": meta or {}})


def up(z: np.ndarray) -> np.ndarray:
    return np.outer(z, [0.0, 0.0, 1.0])


#: the hand comes down 5 cm onto the ball (frames 0-10), then both rise 10 cm (frames 15-35)
APPROACH = up(0.05 - min_jerk(0, 10, 0.05))
LIFT = up(min_jerk(15, 35, 0.10))


def grade(seq, **kw):
    return evaluate(seq, meshes=[BALL], hand_models=[HAND], **kw)


def test_a_rigid_hold_in_contact_passes_with_closed_form_measures():
    q = grade(scene(APPROACH + LIFT, LIFT))
    assert q.success and q.failed == ()
    lifted = (LIFT[:, 2] > THRESHOLDS.lift_mm / 1000).sum()
    assert q.hold_frames == lifted and q.hold_s == pytest.approx(lifted / FPS)
    assert q.contact_fraction == 1.0 and q.carry_start == int(np.argmax(LIFT[:, 2] > 0.005))
    assert q.grip_frame == int(np.argmax(APPROACH[:, 2] + GAP <= 0.002))  # the hand arrives and stays
    assert q.below_table_mm == 0.0 and q.disturbance_mm == pytest.approx(0.0, abs=1e-9)
    assert q.max_penetration_mm == 0.0 and q.slip_mm == pytest.approx(0.0, abs=1e-4)
    assert q.in_hand_rotation_deg == pytest.approx(0.0, abs=1e-4)
    assert q.carried_gap_mm == pytest.approx(GAP * 1000, abs=1e-3)  # the hand's lowest vertex, GAP over the pole
    # the peak jerk of a minimum-jerk move is 60 d / D^3 at its ends; third differences average it
    assert 0.0 < q.jerk_max <= 60 * 0.05 / (10 / FPS) ** 3
    as_dict = q.as_dict()
    assert as_dict["success"] is True and as_dict["failed"] == [] and set(as_dict) >= {"slip_mm", "hold_s", "jerk_max"}


def test_a_palm_30_mm_under_the_table_is_reported_30_mm_below():
    # the table top is the ball's lowest point in frame 0; drop the hand 30 mm past it at frame 20
    sink = up(-min_jerk(10, 20, 2 * RADIUS + GAP + 0.030))
    q = grade(scene(sink, np.zeros((T, 3))))
    assert q.below_table_mm == pytest.approx(30.0, abs=1e-3)
    assert "below_table" in q.failed and not q.success
    # a table height from the generator's meta wins over the object's lowest point
    q = grade(scene(np.zeros((T, 3)), np.zeros((T, 3)), meta={"table_z": float(lowest_vertex()[2] + 0.012)}))
    assert q.below_table_mm == pytest.approx(12.0, abs=1e-3)


def test_an_object_pushed_40_mm_before_the_grip_fails_disturbance():
    push = np.outer(min_jerk(10, 14, 0.04), [1.0, 0.0, 0.0])  # the touching hand shoves the ball along x
    q = grade(scene(APPROACH + push + LIFT, push + LIFT))
    assert q.disturbance_mm == pytest.approx(40.0, abs=1e-4)
    assert q.failed == ("disturbance",)
    # the same with the grip frame given by the generator
    q = grade(scene(APPROACH + push + LIFT, push + LIFT, meta={"grip_frame": 14}))
    assert q.grip_frame == 14 and q.disturbance_mm == pytest.approx(40.0, abs=1e-4)


def test_an_object_tipped_before_the_grip_fails_disturbance_in_degrees():
    tip = Rotation.from_rotvec(np.outer(min_jerk(0, 8, np.radians(30)), [1.0, 0.0, 0.0])).as_matrix()
    q = grade(scene(APPROACH + LIFT, LIFT, object_rotation=tip))
    assert q.disturbance_deg == pytest.approx(30.0, abs=1e-4) and "disturbance" in q.failed


def test_an_object_turning_20_degrees_in_the_hand_fails_in_hand_rotation():
    # the ball spins about the vertical through its top pole, which the hand touches: no slip, no gap change
    spin = Rotation.from_rotvec(np.outer(min_jerk(25, 40, np.radians(20)), [0.0, 0.0, 1.0])).as_matrix()
    q = grade(scene(APPROACH + LIFT, LIFT, object_rotation=spin))
    assert q.in_hand_rotation_deg == pytest.approx(20.0, abs=1e-4)
    assert q.slip_mm == pytest.approx(0.0, abs=1e-3) and q.contact_fraction == 1.0
    assert q.failed == ("in_hand_rotation",)
    # every threshold is a field: a looser limit passes the same sequence
    loose = dataclasses.replace(THRESHOLDS, in_hand_rotation_deg=25.0)
    assert grade(scene(APPROACH + LIFT, LIFT, object_rotation=spin), thresholds=loose).success


def test_a_hand_10_mm_away_while_carried_fails_contact():
    q = grade(scene(APPROACH + LIFT, LIFT, gap=0.010))
    assert q.contact_fraction == 0.0 and q.grip_frame is None and q.carried_gap_mm == pytest.approx(10.0, abs=1e-3)
    assert q.failed == ("contact",)


def test_an_object_sliding_down_in_the_hand_fails_slip_and_contact():
    slide = up(-min_jerk(25, 35, 0.008))  # 8 mm down the palm while carried
    q = grade(scene(APPROACH + LIFT, LIFT + slide))
    assert q.slip_mm == pytest.approx(8.0, abs=1e-4)
    assert set(q.failed) == {"slip", "contact"}


def test_the_generators_carry_frames_win_per_object():
    meta = {"carry_start": 40, "carry_end": 44, "hands": [{"object": 0, "carry_start": 20, "carry_end": 30}]}
    q = grade(scene(APPROACH + LIFT, LIFT, meta=meta))
    assert q.carry_start == 20 and q.hold_frames == 10
    q = grade(scene(APPROACH + LIFT, LIFT, meta={"carry_start": 40, "carry_end": None}))
    assert q.carry_start == 40 and q.hold_frames == T - 40


def test_an_object_never_lifted_fails_hold_only():
    q = grade(scene(APPROACH, np.zeros((T, 3))))
    assert q.hold_frames == 0 and q.carry_start is None and q.slip_mm is None
    assert q.failed == ("hold",)


def test_penetration_matches_the_analytic_sphere_distance():
    sink = up(-min_jerk(10, 20, GAP + 0.004))  # the palm presses 4 mm into the ball
    seq = scene(APPROACH + sink, np.zeros((T, 3)))
    q = grade(seq)
    with torch.no_grad():
        h = seq.hands[0]
        verts = HAND(torch.tensor(h.global_orient, dtype=torch.float32), torch.tensor(h.hand_pose, dtype=torch.float32),
                     transl=torch.tensor(h.transl, dtype=torch.float32)).vertices.double().numpy()
    gap = (np.linalg.norm(verts - seq.objects[0].translation[:, None], axis=-1) - RADIUS).min(axis=1)  # exact sphere
    depth, contact = np.maximum(-gap, 0.0), gap <= THRESHOLDS.contact_gap_mm / 1000
    assert q.max_penetration_mm == pytest.approx(depth.max() * 1000, abs=0.1)
    assert q.max_penetration_mm == pytest.approx(4.0, abs=0.1)
    assert q.mean_penetration_mm == pytest.approx(depth[contact].mean() * 1000, abs=0.1)


def test_penetration_depth_of_points_in_a_box_is_independent_of_the_object_pose():
    box = trimesh.creation.box([0.1, 0.1, 0.1])
    local = np.array([[[0.0, 0.0, 0.049], [0.0, 0.0, 0.06], [0.3, 0.0, 0.0]],  # 1 mm inside
                      [[0.0, 0.0, 0.06], [0.0, 0.07, 0.0], [0.2, 0.0, 0.0]]])  # all outside, nearest 10 mm
    R = Rotation.from_rotvec([[0.3, 0.2, 0.1], [-1.0, 0.5, 0.0]]).as_matrix()
    t = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, 0.1]])
    world = np.einsum("tij,tvj->tvi", R, local) + t[:, None]
    depth, nearest = penetration_depths(world, box, R, t)
    np.testing.assert_allclose(depth, [0.001, 0.0], atol=1e-9)
    np.testing.assert_allclose(nearest, [-0.001, 0.01], atol=1e-9)


def test_hand_jerk_of_a_cubic_path_is_its_constant_third_derivative():
    t = np.arange(30) / FPS
    path = np.stack([2.0 * t**3, -t**3, 0.5 * t**2], axis=1)  # jerk (12, -6, 0)
    np.testing.assert_allclose(hand_jerk(path, FPS), np.sqrt(12**2 + 6**2), rtol=1e-9)
    assert hand_jerk(path[:3], FPS).size == 0


def test_thresholds_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        THRESHOLDS.slip_mm = 50.0


def test_two_hands_each_graded_with_its_own_object_and_the_worst_reported():
    left = OpenHand("left")
    held = scene(APPROACH + LIFT, LIFT)
    far = np.array([0.3, 0.0, 0.0])  # a left hand and ball 30 cm away: the hand comes down but never lifts
    idle = scene(APPROACH + far, np.tile(far, (T, 1)), model=left)
    seq = HOISequence(hands=[held.hands[0], idle.hands[0]], objects=[idle.objects[0], held.objects[0]],
                      camera=held.camera, fps=FPS)
    q = evaluate(seq, meshes=[BALL, BALL], hand_models=[HAND, left])
    assert [p["hand"] for p in q.pairs] == [1, 0]  # each ball goes to the hand that touches it
    assert q.pairs[1]["hold_frames"] > 0 and q.pairs[0]["hold_frames"] == 0
    assert q.hold_frames == 0 and q.failed == ("hold",)


def test_a_second_hand_said_to_hold_the_object_is_graded_too():
    """Both hands on one object (``meta["pose"]["hands"]`` names the object for each): a second hand
    that moves along 30 cm away while the first lifts the ball fails contact; left unnamed, it is not graded."""
    left = OpenHand("left")
    held = scene(APPROACH + LIFT, LIFT)
    away = scene(APPROACH + LIFT + [0.3, 0.0, 0.0], LIFT, model=left).hands[0]
    both = {"hands": [{"object": 0}, {"object": 0}]}
    for meta, ok in ((both, False), ({}, True)):
        seq = HOISequence(hands=[held.hands[0], away], objects=held.objects, camera=held.camera, fps=FPS,
                          meta={"pose": meta})
        q = evaluate(seq, meshes=[BALL], hand_models=[HAND, left])
        assert q.success is ok
        if not ok:
            assert [p["hand"] for p in q.pairs] == [0, 1] and q.pairs[1]["contact_fraction"] == 0.0
            assert q.failed == ("contact",) and q.contact_fraction == 0.0
