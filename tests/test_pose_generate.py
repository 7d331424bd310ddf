"""Stage I end to end: the simulated hand, the solid table, goals (lift, place, tilt), two hands,
determinism, bad input, the CLI. Checks are geometric (the sequence's own hand surface and object
poses), never the generator's acceptance or ``pam.pose.quality``."""

import json
import warnings

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from pam.cli import app
from pam.hand import OpenHand
from pam.objects import load_object
from pam.pose.generate import PLACE_LIFT, PoseError, generate_trajectory
from pam.pose.hand_geometry import PosedHand
from pam.pose.keyframes import HandKeyframe, ObjectGoal, default_keyframes, hand_preset
from pam.pose.cli import REPORT_ROWS
from pam.pose.quality import THRESHOLDS, evaluate
from pam.sequence import HOISequence

HAND = OpenHand("right")


def _run(name="soup_can", seed=0, **kw):
    h0, _, hT = default_keyframes(name)
    return generate_trajectory(h0, name, np.eye(4), hT, seed=seed, hand_model=HAND, **kw)


@pytest.fixture(scope="module")
def can_seq():
    return _run("soup_can", seed=0)


def _arrays(seq):
    h, o = seq.hands[0], seq.objects[0]
    return [h.global_orient, h.hand_pose, h.transl, o.rotation, o.translation]


def _lowest_hand_point(seq, h=0):
    hand = seq.hands[h]
    verts, _ = PosedHand(HAND if hand.side == "right" else OpenHand("left"), hand.betas)(
        hand.global_orient, hand.hand_pose, hand.transl)
    return verts[..., 2].min(axis=1)


def test_trajectory_starts_at_h0_lifts_the_object_and_stays_above_the_table(can_seq):
    seq = can_seq
    h0, _, hT = default_keyframes("soup_can")
    hand, meta = seq.hands[0], seq.meta["pose"]
    assert seq.num_frames == 49 and seq.fps == 15.0
    np.testing.assert_allclose(hand.global_orient[0], h0.global_orient, atol=1e-6)
    np.testing.assert_allclose(hand.transl[0], h0.transl, atol=1e-6)
    np.testing.assert_allclose(hand.hand_pose[0], h0.hand_pose, atol=1e-6)
    grip = meta["grip_frame"]
    assert meta["carry_start"] == grip and meta["table_z"] == pytest.approx(0.0, abs=1e-9)
    # the simulated wrist (force-limited) ends within 1 cm of 15 cm above where it gripped
    np.testing.assert_allclose(hand.transl[-1] - hand.transl[grip], hT.offset_from_grasp, atol=0.01)
    # the object rests at o0 before the grip and is carried up with the hand
    np.testing.assert_allclose(seq.objects[0].translation[0], 0.0, atol=2e-3)
    lift = seq.objects[0].translation[-1] - seq.objects[0].translation[grip]
    assert lift[2] == pytest.approx(0.15, abs=0.02)
    # no point of the shown hand surface below the table top in any frame
    assert _lowest_hand_point(seq).min() > -0.002
    q = evaluate(seq, hand_models=[HAND])
    assert q.hold_s >= THRESHOLDS.min_hold_s and q.below_table_mm <= THRESHOLDS.below_table_mm


def test_a_disc_lying_flat_is_picked_up_by_its_rim():
    """A 9 cm disc 8 mm thick lying flat (36 g at the default density): its rim is the only place to hold it. The disc
    rises with the hand (14 cm of the wrist's 15) and does not move in the hand while carried
    (its centre within 5 mm of where it was in the wrist's frame at the grip); no shown skin under
    the table. Before fingertips pinched it at the table, every grasp pressed on the top face and
    left the disc on the table."""
    disc = trimesh.creation.cylinder(radius=0.045, height=0.008, sections=48)
    disc.apply_translation([0.0, 0.0, 0.004])
    h0, _, hT = default_keyframes("soup_can")
    seq = generate_trajectory(h0, disc, np.eye(4), hT, seed=0, hand_model=HAND)
    hand, obj, grip = seq.hands[0], seq.objects[0], seq.meta["pose"]["grip_frame"]
    assert obj.translation[-1, 2] - obj.translation[grip, 2] > 0.14
    wrist = Rotation.from_rotvec(hand.global_orient)
    in_hand = wrist.inv().apply(obj.translation - hand.transl)
    assert np.linalg.norm(in_hand[grip:] - in_hand[grip], axis=1).max() < 0.005
    assert _lowest_hand_point(seq).min() > -0.002


@pytest.mark.slow
def test_the_shown_hand_touches_the_mug_it_carries():
    """The demo's lift (built-in mug scene, seed 0): the shown skin, not only the simulated
    colliders, is in contact (``pam.pose.quality``: gap <= 2 mm) in the carried frames."""
    h0, obj, hT = default_keyframes("mug")
    o0 = np.eye(4)
    o0[:3, :3], o0[:3, 3] = obj.rotation, obj.translation
    seq = generate_trajectory(h0, "mug", o0, hT, seed=0, hand_model=HAND)
    q = evaluate(seq, hand_models=[HAND])
    assert q.hold_s >= THRESHOLDS.min_hold_s
    assert q.contact_fraction >= THRESHOLDS.contact_fraction, q
    assert q.max_penetration_mm <= THRESHOLDS.max_penetration_mm


@pytest.mark.slow
def test_same_seed_is_bit_identical_and_seeds_differ(can_seq):
    again = _run("soup_can", seed=0)
    for a, b in zip(_arrays(can_seq), _arrays(again)):
        np.testing.assert_array_equal(a, b)
    other = _run("soup_can", seed=1)
    assert not np.allclose(other.hands[0].transl, can_seq.hands[0].transl)


def test_hand_starting_inside_the_object_is_refused():
    h0, _, hT = default_keyframes("soup_can")
    h0.transl = np.array([0.0, 0.0, 0.09]) - PosedHand(HAND).wrist  # the wrist on the can's axis, 9 cm up
    with pytest.raises(PoseError, match="h0: the hand starts inside soup_can"):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND)


def test_start_pose_under_the_table_is_an_error():
    h0, _, hT = default_keyframes("soup_can")
    h0.transl = h0.transl + np.array([0.0, 0.0, -0.3])  # 20 cm under the table top
    with pytest.raises(PoseError, match=r"h0: the initial hand is \d+ mm below the table top"):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND)


def test_absolute_target_under_the_table_is_an_error():
    h0, _, _ = default_keyframes("soup_can")
    hT = HandKeyframe(hand_pose=hand_preset("power_grasp"), global_orient=h0.global_orient.copy(),
                      transl=np.array([0.0, 0.0, -0.2]))
    with pytest.raises(PoseError, match="h0 target: the target hand is .* below the table top"):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND)


def test_place_goal_below_the_table_names_the_goal():
    h0, _, hT = default_keyframes("soup_can")
    goal = ObjectGoal("place", rotation=np.eye(3), translation=np.array([0.1, 0.0, -0.05]))
    with pytest.raises(PoseError, match="h0 goal: the placed object reaches 50 mm below the table top"):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND, goal=goal)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(frames=8), "frames: need at least"),
        (dict(target_offset=[5.0, 0.0, 0.0]), "unreachable"),
        (dict(target_offset=[0.0, 0.0, -0.3]), "unreachable target: .* into the table"),
        (dict(style="open"), "describes no grasp"),
    ],
)
def test_bad_targets_name_the_reason(change, match):
    h0, _, hT = default_keyframes("soup_can")
    if "target_offset" in change:
        hT.offset_from_grasp = np.array(change["target_offset"])
    if "style" in change:
        hT.hand_pose = hand_preset(change["style"])
    with pytest.raises(PoseError, match=match):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, frames=change.get("frames", 49), hand_model=HAND)


def test_inverted_normals_are_fixed_not_reported_as_inside():
    box = trimesh.creation.box([0.05, 0.07, 0.05])
    box.apply_translation([0, 0, 0.025])
    box.invert()
    h0, _, hT = default_keyframes()
    seq = generate_trajectory(h0, box, np.eye(4), hT, hand_model=HAND)
    assert seq.objects[0].translation[-1][2] > 0.1


def test_an_object_lower_than_the_fingertips_reach_fails_with_the_reason_not_try_another_seed():
    """A 3 mm card: the thumb's table capsule keeps its axis 9.7 mm above the table, so its skin meets the card's
    edge from 63 degrees above (a 6 mm plate, met from 31 degrees, is held: ``tests/test_pose_benchmark.py``) and no
    seed gets a finger under it; the error says so instead of sending the user through seeds."""
    from pam.pose.generate import NoGraspHeld

    card = trimesh.creation.box([0.12, 0.08, 0.003])
    card.apply_translation([0, 0, 0.0015])
    h0, _, hT = default_keyframes()
    with pytest.raises(NoGraspHeld, match=r"stands 3 mm tall, less than the 9\.7 mm .* pam does not slide or tip") as err:
        generate_trajectory(h0, card, np.eye(4), hT, hand_model=HAND, max_attempts=2)
    assert "try another seed" not in str(err.value)


@pytest.mark.slow
def test_left_hand_grasps_too():
    h0, _, hT = default_keyframes("soup_can", side="left")
    seq = generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=OpenHand("left"))
    assert seq.hands[0].side == "left" and seq.objects[0].translation[-1][2] > 0.1


@pytest.mark.slow
def test_mesh_with_holes_proceeds_with_a_warning():
    box = trimesh.creation.box([0.05, 0.07, 0.05])
    box.apply_translation([0, 0, 0.025])
    holed = trimesh.Trimesh(box.vertices, box.faces[:-1])
    h0, _, hT = default_keyframes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seq = generate_trajectory(h0, holed, np.eye(4), hT, hand_model=HAND)
    assert any("not watertight" in str(w.message) for w in caught)
    assert seq.objects[0].translation[-1][2] > 0.1


@pytest.mark.slow
def test_place_goal_puts_the_object_down_and_lets_go():
    h0, _, hT = default_keyframes("soup_can")
    goal = ObjectGoal("place", rotation=Rotation.from_rotvec([0, 0, 0.5]).as_matrix(), translation=np.array([0.1, 0.05, 0.0]))
    seq = generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND, goal=goal)
    obj = seq.objects[0]
    np.testing.assert_allclose(obj.translation[-1], goal.translation, atol=0.02)
    # carried over the table, not pushed along it: its lowest point rises most of PLACE_LIFT on the way
    mesh = load_object("soup_can")
    lowest = np.einsum("tij,vj->tvi", obj.rotation, mesh.vertices)[..., 2].min(axis=1) + obj.translation[:, 2]
    assert lowest.max() - seq.meta["pose"]["table_z"] > 0.8 * PLACE_LIFT
    # released: the object does not move during the withdrawal, and the hand ends away from it
    end = seq.meta["pose"]["carry_end"]
    # (it may settle by the contacts' softness, under the table tolerance of 2 mm)
    assert np.linalg.norm(obj.translation[-1] - obj.translation[-4]) < 2e-3 and end < 45
    assert _lowest_hand_point(seq).min() > -0.002


@pytest.mark.slow
def test_tilt_goal_turns_the_object_about_the_horizontal_axis():
    h0, _, hT = default_keyframes("bottle")
    hT.offset_from_grasp = np.array([0.0, 0.0, 0.12])
    goal = ObjectGoal("tilt", axis=np.array([1.0, 0.0, 0.0]), angle=np.radians(60))
    seq = generate_trajectory(h0, "bottle", np.eye(4), hT, hand_model=HAND, goal=goal)
    obj = seq.objects[0]
    turn = Rotation.from_matrix(obj.rotation[-1] @ obj.rotation[0].T)
    assert np.degrees(turn.magnitude()) == pytest.approx(60, abs=6)  # the held bottle's torque is fed forward
    assert abs(turn.as_rotvec() @ [1.0, 0.0, 0.0]) / turn.magnitude() > 0.9  # about x


@pytest.mark.slow
def test_two_hands_each_carry_their_own_object(tmp_path):
    from pam.pose.command import pose_sequences

    init, target = tmp_path / "init.json", tmp_path / "target.json"
    init.write_text(json.dumps({
        "hands": [
            {"side": "right", "global_orient": [[0, 0, -1], [-1, 0, 0], [0, 1, 0]], "transl": [0.15, -0.3, 0.12]},
            {"side": "left", "global_orient": [[0, 0, 1], [1, 0, 0], [0, 1, 0]], "transl": [-0.15, -0.3, 0.12]},
        ],
        "objects": [{"mesh": "soup_can", "translation": [0.15, 0, 0]}, {"mesh": "foam_brick", "translation": [-0.15, 0, 0]}],
    }))
    target.write_text(json.dumps({"hands": [{"offset_from_grasp": [0, 0, 0.15]}, {"offset_from_grasp": [0, 0, 0.12]}]}))
    seq = pose_sequences(init=init, target=target)[0]
    assert [h.side for h in seq.hands] == ["right", "left"] and len(seq.objects) == 2
    assert seq.objects[0].translation[-1][2] > 0.1 and seq.objects[1].translation[-1][2] > 0.08
    assert [h["object"] for h in seq.meta["pose"]["hands"]] == [0, 1]
    for h in range(2):
        assert _lowest_hand_point(seq, h).min() > -0.002


def _yawed(rotation, yaw):
    """A 3x3 rotation turned by ``yaw`` about the vertical."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.asarray(rotation, dtype=float)


def _bar_for_both_hands(tmp_path):
    """A 30 cm bar on the table and keyframe files: the hands start on either side of it, the right
    hand's target lifts it 15 cm, the left hand (no wrist target) carries it along. (bar, init, target)"""
    bar = trimesh.creation.box([0.30, 0.05, 0.05])
    bar.export(tmp_path / "bar.obj")
    front_right, front_left = [[0, 0, -1], [-1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    start = [0.0, -0.3, 0.0]
    init, target = tmp_path / "init.json", tmp_path / "target.json"
    init.write_text(json.dumps({
        "hands": [
            {"side": "right", "global_orient": _yawed(front_right, 1.2).tolist(),
             "transl": (_yawed(np.eye(3), 1.2) @ start + [0, 0, 0.14]).tolist()},
            {"side": "left", "global_orient": _yawed(front_left, -1.2).tolist(),
             "transl": (_yawed(np.eye(3), -1.2) @ start + [0, 0, 0.14]).tolist()},
        ],
        "object": {"mesh": str(tmp_path / "bar.obj"), "translation": [0, 0, 0.025]},
    }))
    target.write_text(json.dumps({"hands": [{"offset_from_grasp": [0, 0, 0.15], "object": 0},
                                            {"hand_pose": "power_grasp", "object": 0}]}))
    return bar, init, target


def test_both_hands_carry_one_bar_together(tmp_path):
    """The independent check grades both hands: each is in contact in every carried frame and the bar
    does not slip in either. Both hands record the pair's rank as their attempt (the second hand's grasp
    is its first hand's partner, not a candidate of its own tried in turn)."""
    from pam.pose.command import pose_sequences

    bar, init, target = _bar_for_both_hands(tmp_path)
    seq = pose_sequences(init=init, target=target)[0]
    assert [h["object"] for h in seq.meta["pose"]["hands"]] == [0, 0] and len(seq.objects) == 1
    assert seq.meta["pose"]["hands"][0]["attempt"] == seq.meta["pose"]["hands"][1]["attempt"]
    rise = seq.objects[0].translation[-1, 2] - seq.objects[0].translation[0, 2]
    assert rise == pytest.approx(0.15, abs=0.01)
    q = evaluate(seq, meshes=[bar], hand_models=[HAND, OpenHand("left")])
    assert q.success, q.failed
    assert [p["hand"] for p in q.pairs] == [0, 1]
    assert all(p["contact_fraction"] == 1.0 and p["slip_mm"] <= THRESHOLDS.slip_mm for p in q.pairs)


def test_the_second_hand_tries_a_bounded_number_of_grasps_beside_each_first(tmp_path, monkeypatch):
    """When no grasp of the second hand fits beside the first hand's (forced here), the search plans at
    most ``PAIR_PARTNERS`` of them per first grasp, not every one, and says so."""
    from pam.pose import generate
    from pam.pose.command import pose_sequences

    _, init, target = _bar_for_both_hands(tmp_path)
    monkeypatch.setattr(generate, "PAIR_GRASP_SETTINGS", dict(generate.PAIR_GRASP_SETTINGS, num_keep=8))
    monkeypatch.setattr(generate, "_hands_apart", lambda *args: False)
    plan, planned = generate._plan, []

    def counting(hand, task, g, i, *args, **kwargs):
        planned.append("second" if len(args) > 5 and args[5] is not None else "first")
        return plan(hand, task, g, i, *args, **kwargs)

    monkeypatch.setattr(generate, "_plan", counting)
    with pytest.raises(PoseError, match=f"{generate.PAIR_PARTNERS} best-holding grasps fits beside it"):
        pose_sequences(init=init, target=target)
    runs = "".join("|" if p == "first" else "s" for p in planned).split("|")[1:]  # second-hand plans per first grasp
    assert runs and max(map(len, runs)) == generate.PAIR_PARTNERS  # 8 candidates, fewer tried beside each


@pytest.mark.parametrize("second_goal, hands, match", [
    (ObjectGoal(kind="tilt", axis=np.array([1.0, 0.0, 0.0]), angle=1.0), 2,
     "give the second hand the same goal or none"),
    (ObjectGoal(), 3, "at most two hands may hold one object"),
])
def test_both_hands_on_one_object_bad_input_is_an_error(second_goal, hands, match):
    from pam.pose.generate import HandTask, SceneObject, generate_scene

    h0, _, hT = default_keyframes("bowl")
    tasks = [HandTask(h0, hT, 0)] + [HandTask(h0, hT, 0, second_goal) for _ in range(hands - 1)]
    with pytest.raises(PoseError, match=match):
        generate_scene(tasks, [SceneObject("bowl", load_object("bowl"), np.eye(4))])


def test_cli_writes_sequence_and_report(tmp_path):
    out = tmp_path / "seq.npz"
    res = CliRunner().invoke(app, ["pose", "--object", "soup_can", "-o", str(out), "--report"])
    assert res.exit_code == 0, res.output
    seq = HOISequence.load(out)
    assert seq.num_frames == 49 and seq.objects[0].mesh == "soup_can"
    quality = seq.meta["pose"]["quality"]
    assert set(quality) >= set(REPORT_ROWS) and isinstance(quality["success"], bool)
    assert "Stage I quality" in res.output and "in-hand rotation deg" in res.output


def test_cli_report_of_several_trajectories_fits_the_terminal_and_counts_families(tmp_path):
    """Three trajectories at 64 columns: every file's column and values are printed whole (in as many tables as
    the width needs), and the grasp families are counted."""
    out = tmp_path / "can.npz"
    res = CliRunner().invoke(app, ["pose", "--object", "soup_can", "-o", str(out), "--num", "3", "--report"],
                             env={"COLUMNS": "64"})
    assert res.exit_code == 0, res.output
    tables = [line for line in res.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert len(tables) > 2 * len(REPORT_ROWS) and max(len(line) for line in tables) <= 64  # two tables, each fits
    families = [HOISequence.load(tmp_path / f"can_{i:03d}.npz").meta["pose"]["family"] for i in range(3)]
    assert all(f"can_{i:03d}.npz" in res.output for i in range(3))
    counted = res.output.split("grasp families: ")[1].splitlines()[0]
    assert sorted(counted.split(", ")) == sorted(f"{families.count(f)} {f}" for f in set(families))
    slips = [line for line in res.output.splitlines() if line.startswith("│ slip mm")]
    assert sum(line.count("│") - 2 for line in slips) == 3  # one value per trajectory, none cut off


@pytest.mark.parametrize(
    "args, match",
    [
        (["--object", "soup_can", "--frames", "5", "--num", "2"], "frames"),
        (["--seed", "-1"], "--seed: must be a non-negative integer"),
        (["--object", "EMPTY"], "mesh is empty"),
        (["--object", "GARBAGE"], "GARBAGE"),
        (["--object", "NAN"], "mesh"),
        (["--object", "MM"], "pass --scale 0.001"),
    ],
)
def test_cli_bad_input_is_an_error_line_and_leaves_no_file(tmp_path, args, match):
    files = {"EMPTY": tmp_path / "empty.obj", "GARBAGE": tmp_path / "garbage.obj", "NAN": tmp_path / "nan.obj",
             "MM": tmp_path / "box_mm.stl"}
    files["EMPTY"].write_text("")
    files["GARBAGE"].write_bytes(np.random.default_rng(0).bytes(3000))
    files["NAN"].write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 3 4\nf 1 2 4\nf 2 3 4\n")
    trimesh.creation.box([50.0, 50.0, 80.0]).export(files["MM"])
    args = [str(files.get(a, a)) for a in args]
    out = tmp_path / "out" / "seq.npz"
    out.parent.mkdir()
    res = CliRunner().invoke(app, ["pose", *args, "-o", str(out)])
    assert res.exit_code == 1 and "error:" in res.output and "Traceback" not in res.output
    assert match.replace("GARBAGE", str(files["GARBAGE"])) in res.output or match in res.output
    assert list(out.parent.iterdir()) == []


@pytest.mark.slow
def test_cli_scale_reads_a_millimetre_mesh(tmp_path):
    mesh = tmp_path / "box_mm.stl"
    box = trimesh.creation.box([50.0, 70.0, 50.0])
    box.apply_translation([0, 0, 25.0])
    box.export(mesh)
    out = tmp_path / "seq.npz"
    res = CliRunner().invoke(app, ["pose", "--object", str(mesh), "--scale", "0.001", "-o", str(out)])
    assert res.exit_code == 0, res.output
    seq = HOISequence.load(out)
    assert seq.objects[0].scale == 0.001 and seq.objects[0].translation[-1][2] > 0.1


@pytest.mark.slow
def test_objects_are_held_without_deep_penetration():
    names = ["mug", "bottle", "foam_brick", "soup_can", "ball"]
    qualities = [evaluate(_run(name, seed=0), hand_models=[HAND]) for name in names]
    assert all(q.hold_s >= THRESHOLDS.min_hold_s for q in qualities)
    deepest = [q.max_penetration_mm for q in qualities]
    assert np.median(deepest) <= 2.0 and max(deepest) <= 6.0, deepest
    assert max(q.mean_penetration_mm for q in qualities) <= THRESHOLDS.mean_penetration_mm


def test_a_request_no_grasp_can_meet_says_so(monkeypatch):
    """The soup can's bottom face rests on the table: no finger reaches a region there, and the error
    names the request instead of leaving the user to guess, after one draw of candidates (a region's
    draw is already twice the size; a second, larger one found nothing either)."""
    from pam.pose import generate
    from pam.pose.grasp import GraspRequest

    synthesize, draws = generate.grasp_mod.synthesize_grasps, []
    monkeypatch.setattr(generate.grasp_mod, "synthesize_grasps", lambda *a, **k: draws.append(1) or synthesize(*a, **k))
    h0, _, hT = default_keyframes("soup_can")
    with pytest.raises(PoseError, match=r"no grasp found .* meets the request \(region \(0, 0, 0\)\).*table"):
        generate_trajectory(h0, "soup_can", np.eye(4), hT, hand_model=HAND, request=GraspRequest(region=(0.0, 0.0, 0.0)))
    assert len(draws) == 1


def test_one_hand_with_an_object_it_leaves_alone():
    """One hand lifts the soup can; a ball 40 cm away is in the scene too: the sequence holds both
    objects, simulated together, and the ball stays where it is."""
    from pam.objects import load_object
    from pam.pose.generate import HandTask, SceneObject, generate_scene

    h0, _, hT = default_keyframes("soup_can")
    far = np.eye(4)
    far[:3, 3] = [0.3, 0.3, 0.0]
    seq = generate_scene([HandTask(h0, hT, 0)], [SceneObject("soup_can", load_object("soup_can"), np.eye(4)),
                                                 SceneObject("ball", load_object("ball"), far)], hand_models=[HAND])
    assert len(seq.objects) == 2
    assert seq.objects[0].translation[-1, 2] - seq.objects[0].translation[0, 2] > 0.1  # lifted
    assert np.abs(seq.objects[1].translation - seq.objects[1].translation[0]).max() < 0.002


@pytest.mark.parametrize("size, match", [((0.2, 0.2, 0.2), "too large for one hand .smallest extent 20 cm"),
                                         ((0.2, 0.05, 0.2), "^(?!.*too large)")])
def test_size_check_uses_the_objects_own_extents_at_any_yaw(size, match):
    # turned by 45 degrees about the vertical, a 20 x 5 x 20 cm board's axis-aligned bounds are 18 cm
    # wide at the least; it is 5 cm thick and must pass the size check
    with pytest.raises(PoseError, match=match):
        _lift_box_on_its_bottom(size, yaw_deg=45.0)


def _lift_box_on_its_bottom(size, yaw_deg):
    """One hand asked to lift a box of ``size`` (m) resting on the table, turned by ``yaw_deg``, by a
    region on the face it stands on: a run that passes the input checks ends in grasp synthesis,
    before any simulation."""
    from pam.pose.grasp import GraspRequest

    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("z", yaw_deg, degrees=True).as_matrix()
    pose[2, 3] = size[2] / 2
    h0, _, hT = default_keyframes("soup_can")
    generate_trajectory(h0, trimesh.creation.box(size), pose, hT, hand_model=HAND,
                        request=GraspRequest(region=(0.0, 0.0, -size[2] / 2)))


@pytest.mark.parametrize("size, match", [((0.158, 0.21, 0.06), r"15\.8 cm across at its narrowest, wider than the open hand's span \(14\.6 cm"),
                                         ((0.06, 0.21, 0.158), "^(?!.*span)")])
def test_a_box_lying_wider_than_the_hand_can_span_is_refused_for_one_hand(size, match):
    """A cracker box lying flat (15.8 x 21 cm across, 6 cm tall) can only be held across its width,
    and that is wider than the open hand's span (thumb tip to little fingertip, 14.6 cm): one hand
    is refused at once, with the reason. Standing on its long side (6 cm across) it is not."""
    with pytest.raises(PoseError, match=match):
        _lift_box_on_its_bottom(size, yaw_deg=30.0)


def test_narrowest_width_equals_closed_forms():
    """The least width of points in the plane, and of a convex body's horizontal sections: a box
    lying flat is as wide all the way up; a cone 30 cm across its base is 3 cm across at 90 % of its
    height (a hand may hold it there), and a 48-sided section is twice its apothem across."""
    from pam.pose.generate import _narrowest_section, _narrowest_width

    turn = Rotation.from_euler("z", 0.7).as_matrix()[:2, :2]
    rectangle = np.array([[0.0, 0.0], [0.158, 0.0], [0.158, 0.21], [0.0, 0.21], [0.05, 0.1]])
    assert _narrowest_width(rectangle @ turn.T) == pytest.approx(0.158)
    angles = np.arange(12) * np.pi / 6  # a regular dodecagon of circumradius 5 cm: twice its apothem
    assert _narrowest_width(0.05 * np.stack([np.cos(angles), np.sin(angles)], 1)) == pytest.approx(0.1 * np.cos(np.pi / 12))
    box = trimesh.creation.box((0.158, 0.21, 0.06))
    assert _narrowest_section(box) == pytest.approx(0.158)
    cone = trimesh.creation.cone(radius=0.15, height=0.3, sections=48)
    assert _narrowest_section(cone) == pytest.approx(0.03 * np.cos(np.pi / 48), rel=1e-6)


def test_the_reach_goes_round_a_tall_object_to_a_grasp_behind_it():
    """A 16 cm cylinder, the hand starting beside it as high as its top, asked to grasp it from behind: the
    straight reach, and the reach arcing over the cylinder, passed through it for six of its ten grasps (the
    first four among them; dropped unsimulated). The reach now goes round the cylinder: every grasp's planned skin keeps
    ``REACH_CLEARANCE`` from it (closed-form distance) while the reach is fast."""
    from pam.pose import generate
    from pam.pose.grasp import GraspRequest
    from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

    cylinder = trimesh.creation.cylinder(radius=0.024, height=0.16, sections=48)
    o0 = np.eye(4)
    o0[2, 3] = 0.08
    h0, _, hT = default_keyframes("soup_can")
    turn = axis_angle_to_matrix_np(np.array([0.0, 0.0, 1.18]))  # round from the front towards +x
    h0.global_orient = matrix_to_axis_angle_np(turn @ axis_angle_to_matrix_np(h0.global_orient))
    hand = PosedHand(HAND)
    h0.transl = turn @ [0.0, -0.30, 0.0] + [0.0, 0.0, 0.17] - hand.wrist
    task = generate.HandTask(h0, hT)
    prep = generate._prepare(generate.SceneObject("cylinder", cylinder, o0))
    grasps = generate._grasps(hand, task, prep, 0.0, np.random.default_rng(53), "h0", None,
                              GraspRequest(approach=(0.0, 1.0, 0.4)))
    assert len(grasps) == 10
    for i, g in enumerate(grasps):
        cand, reason = generate._plan(hand, task, g, i, prep, 0.0, 49, 15.0, "h0")
        assert reason is None
        fast = np.arange(int(generate.REACH_FAST * cand.phases[0] * generate.SUBSTEPS) + 1)
        skin, _ = hand(*generate._plan_params(hand, cand, fast))
        radial = np.linalg.norm(skin[..., :2], axis=-1) - 0.024
        height = np.abs(skin[..., 2] - 0.08) - 0.08
        outside = np.hypot(np.maximum(radial, 0.0), np.maximum(height, 0.0))
        distance = np.where((radial > 0) | (height > 0), outside, np.maximum(radial, height))
        assert distance.min() >= generate.REACH_CLEARANCE - 1e-3


def test_a_hook_through_the_mug_handle_lifts_the_mug():
    """Asked to hook the built-in mug's handle: hooks whose fingers lay on the handle's top, or wrapped it
    from outside where it faces sideways or up, counted as hooks and slid off as the hand rose (2 of seeds
    0-11 passed, not seed 0). A hooking finger must now touch the object where it faces down or sideways,
    under the part it carries (8 of 12 pass). Graded by the independent check: lifted 15 cm, held."""
    from pam.objects import load_object
    from pam.pose.grasp import GraspRequest

    h0, _, hT = default_keyframes("mug")
    seq = generate_trajectory(h0, "mug", np.eye(4), hT, seed=0, hand_model=HAND,
                              request=GraspRequest(region="handle", family="hook"))
    assert seq.meta["pose"]["family"] == "hook"
    q = evaluate(seq, meshes=[load_object("mug")], hand_models=[HAND])
    assert q.success, q.failed
    rise = seq.objects[0].translation[-1, 2] - seq.objects[0].translation[0, 2]
    assert rise == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize("name", ["drill", "mug", "bowl", "bottle", "banana", "soup_can"])
def test_only_an_object_with_a_dominant_convex_part_has_a_main_body(name):
    from pam.objects import load_object
    from pam.pose.collision import convex_parts
    from pam.pose.generate import main_body

    body = main_body(convex_parts(load_object(name), name=name))
    if name == "drill":  # the motor housing: a 150 x 57 x 59 mm box (pam.objects.catalogue)
        np.testing.assert_allclose(sorted(body.extents), [0.057, 0.059, 0.150], atol=1e-6)
    else:  # convex, no part over 28 % of the volume, or one part nearly all of it
        assert body is None


def test_a_request_for_a_part_the_object_rests_on_is_refused_with_the_reason():
    """The mug lying on its side on its handle (a stable pose: its handle touches the table): no grasp can put
    its contacts on the handle; the generator says so rather than holding the mug elsewhere."""
    from pam.objects import load_object
    from pam.pose.generate import NoGraspFound
    from pam.pose.grasp import GraspRequest

    mesh = load_object("mug")
    handle = mesh.vertices[np.asarray(mesh.metadata["parts"]["handle"])]
    poses, _ = trimesh.poses.compute_stable_poses(mesh, n_samples=1)
    lowest = [trimesh.transform_points(mesh.vertices, t)[:, 2].min() for t in poses]
    o0 = next(t for t, low in zip(poses, lowest) if trimesh.transform_points(handle, t)[:, 2].min() - low < 1e-6)
    o0[2, 3] -= trimesh.transform_points(mesh.vertices, o0)[:, 2].min()  # on the table
    h0, _, hT = default_keyframes("mug")
    with pytest.raises(NoGraspFound, match="region handle.*requested part may face or touch the table"):
        generate_trajectory(h0, "mug", o0, hT, seed=0, hand_model=HAND, request=GraspRequest(region="handle"))


def test_the_sequence_says_how_many_candidates_were_simulated(monkeypatch):
    """``meta["pose"]["hands"][h]["simulations"]``: the simulator runs the search made, counted at the
    simulator itself (one hand, one object: the kept run is the saved sequence, no further run)."""
    from pam.pose import generate

    simulate, runs = generate.physics.simulate, []
    monkeypatch.setattr(generate.physics, "simulate", lambda *a, **k: runs.append(1) or simulate(*a, **k))
    assess, judged = generate._assess, []

    def failing_twice(*args):  # the generator's acceptance turns down the first two candidates it simulates
        judged.append(1)
        return "dropped by the test" if len(judged) <= 2 else assess(*args)

    monkeypatch.setattr(generate, "_assess", failing_twice)
    seq = _run("soup_can", seed=0)
    hand = seq.meta["pose"]["hands"][0]
    assert hand["simulations"] == len(runs) == 3
    assert hand["attempt"] >= 2


def test_the_fingers_close_along_the_path_grasp_synthesis_checked():
    """Grasp synthesis closes all of a finger's joints together from the pre-shape until a segment touches;
    the plan commands that same path onto the surface: at every sample of the closing, every joint is the
    same fraction of its way from the pre-shape to the contact pose, rising from 0 to 1 by the time the
    fingers reach the surface. Closing the proximal joints first, off that path, turned light objects
    more before the grip closed (benchmark: 284 vs 289 of 390 cases passed with their first candidate)."""
    from pam.objects import load_object
    from pam.pose import generate

    h0, _, hT = default_keyframes("foam_brick")
    hand = PosedHand(HAND)
    task = generate.HandTask(h0, hT)
    prep = generate._prepare(generate.SceneObject("foam_brick", load_object("foam_brick"), np.eye(4)))
    g = generate._grasps(hand, task, prep, 0.0, np.random.default_rng(0), "h0", None)[0]
    cand, _ = generate._plan(hand, task, g, 0, prep, 0.0, 49, 15.0, "h0")
    times = np.arange(48 * generate.SUBSTEPS + 1) / generate.SUBSTEPS
    reach, approach, close = cand.phases[:3]
    onto = approach + generate.SURFACE * (close - approach)
    after = times > reach  # from the pre-shape (reached with the wrist) to the grip
    way = g.hand_pose - g.preshape  # (45,)
    moved = cand.nominal[after & (times <= close)] - g.preshape  # (K, 45)
    fraction = moved @ way / (way @ way)  # (K,) least-squares fraction per sample
    np.testing.assert_allclose(moved, fraction[:, None] * way[None], atol=1e-9)
    t = times[after & (times <= close)]
    np.testing.assert_allclose(fraction[t <= approach], 0.0, atol=1e-12)
    np.testing.assert_allclose(fraction[t >= onto], 1.0)
    assert np.all(np.diff(fraction) >= -1e-12) and ((t > approach) & (t < onto)).sum() >= 10
