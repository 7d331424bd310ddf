"""benchmarks/pose.py: its cases cover what issue 9 asks, rest on the table, and its summary counts honestly."""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from pam.pose.hand_geometry import PosedHand

spec = importlib.util.spec_from_file_location("pose_bench", Path(__file__).parents[1] / "benchmarks" / "pose.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["pose_bench"] = bench  # dataclasses look their module up
spec.loader.exec_module(bench)


def test_cases_cover_objects_shapes_features_and_are_deterministic():
    from pam.objects import BUILTIN_OBJECTS

    cases = bench.make_cases()
    assert len(cases) >= 100 and len({c.name for c in cases}) == len(cases)
    assert [c.name for c in cases] == [c.name for c in bench.make_cases()]
    objects = {c.object for c in cases}
    assert set(BUILTIN_OBJECTS) <= objects and len(objects - set(BUILTIN_OBJECTS)) >= 10
    assert {c.group for c in cases} == {"lift", "request", "goal", "two_hands", "both_hands"}
    assert {c.target for c in cases} == {"lift", "aside", "absolute"}
    assert {c.goal["kind"] for c in cases if c.goal} == {"place", "tilt"}
    assert len({c.yaw for c in cases}) == len(cases)  # random placements
    held_out = bench.make_cases(draw=bench.DRAW + 1)  # the same design, other placements
    assert sorted(c.name for c in held_out) == sorted(c.name for c in cases)
    assert not {c.yaw for c in held_out} & {c.yaw for c in cases}


@pytest.mark.parametrize("name", ["torus", "plate_thin", "convex_b", "mug"])
def test_made_and_built_in_objects_rest_on_the_table_in_every_placement(name):
    mesh = bench.object_mesh(name)
    assert mesh.is_watertight and 0.003 <= mesh.bounding_box_oriented.extents.min() <= 0.16
    for pose in range(3):
        case = bench.Case(name="c", group="lift", object=name, seed=0, pose=pose, yaw=1.0, xy=(0.02, -0.03))
        world = trimesh.transform_points(mesh.vertices, bench.object_pose(case))
        assert world[:, 2].min() == pytest.approx(0.0, abs=1e-9)
        # resting: the centre of mass lies over the points touching the table (their bounding box)
        support = world[world[:, 2] < 1e-6, :2]
        com = trimesh.transform_points(mesh.center_mass[None], bench.object_pose(case))[0, :2]
        lo, hi = support.min(axis=0), support.max(axis=0)
        assert np.all(com >= lo - 1e-6) and np.all(com <= hi + 1e-6)


def test_a_requested_part_never_rests_on_the_table():
    # the mug's likeliest resting poses lay it on its side, on its handle: a handle request there must be refused,
    # so the benchmark draws it among the other poses (the upright mug: handle 8.5 mm up)
    mesh = bench.object_mesh("mug")
    handle = mesh.vertices[np.asarray(mesh.metadata["parts"]["handle"])]
    lowest = [trimesh.transform_points(handle, pose)[:, 2].min() for pose in bench.resting_poses("mug")]
    assert min(lowest) < 1e-6 < max(lowest)  # some poses rest on it, some do not
    for pose in range(3):
        case = bench.Case(name="c", group="request", object="mug", seed=0, pose=pose, yaw=1.0, xy=(0.0, 0.0),
                          request={"region": "handle"})
        assert trimesh.transform_points(handle, bench.object_pose(case))[:, 2].min() > 0.005
        lift = bench.Case(name="c", group="lift", object="mug", seed=0, pose=pose, yaw=1.0, xy=(0.0, 0.0))
        assert np.allclose(bench.object_pose(lift)[:3, :3], bench.object_pose(case)[:3, :3]) == (lowest[pose] > 1e-6)


def test_a_case_without_an_installed_api_is_unsupported_not_failed(monkeypatch):
    from pam.pose import generate

    monkeypatch.delattr(generate, "generate_scene", raising=False)  # as in a build without two-hand scenes
    case = next(c for c in bench.make_cases() if c.group == "two_hands")
    record = bench.run_case(case)
    assert record["status"] == "unsupported" and record["first_candidate"] is None and record["quality"] is None


def _record(status, first=False, **q):
    quality = None
    if status in ("success", "fail"):
        quality = {"below_table_mm": 0.0, "disturbance_mm": 1.0, "disturbance_deg": 1.0, "contact_fraction": 1.0,
                   "max_penetration_mm": 1.0, "mean_penetration_mm": 0.5, "slip_mm": 1.0, "in_hand_rotation_deg": 1.0,
                   "hold_s": 1.0, "hold_frames": 15, "jerk_max": 10.0, "carried_gap_mm": 0.5, **q}
    return {"name": "x", "group": "lift", "object": "ball", "status": status, "reason": "", "first_candidate": first,
            "attempt": 0, "seconds": 1.0, "cpu_seconds": 1.0, "quality_seconds": 0.1, "quality": quality}


def test_first_rollout_success_counts_cases_whose_first_simulated_candidate_was_kept():
    """Reported beside first-candidate success: a case whose plan dropped its first candidates unsimulated
    and kept the first one it simulated counts; one that simulated two does not; an API that does not
    say how many it simulated gives no figure rather than a wrong one."""
    records = [{**_record("success"), "first_rollout": True}, {**_record("success"), "first_rollout": False},
               {**_record("no_sequence"), "first_rollout": False}, {**_record("unsupported"), "first_rollout": None}]
    assert bench.summarize(records)["first_rollout_success"] == pytest.approx(1 / 3)
    records[0]["first_rollout"] = None
    assert bench.summarize(records)["first_rollout_success"] is None


def test_summary_rates_leave_unsupported_cases_out_and_count_missing_sequences_as_failures():
    records = [_record("success", first=True), _record("success"), _record("fail", contact_fraction=0.5),
               _record("no_sequence"), _record("unsupported")]
    s = bench.summarize(records)
    assert s["supported"] == 4 and s["with_sequence"] == 3
    assert s["final_success"] == 0.5 and s["first_candidate_success"] == 0.25
    assert s["final_success_se"] == pytest.approx(0.25) and s["first_candidate_success_se"] == pytest.approx(0.75**0.5 / 4)
    assert s["carried_frames_in_contact"] == pytest.approx((15 + 15 + 7.5) / 45)
    assert s["measures"]["contact_fraction"]["within"] == pytest.approx(2 / 3)
    # a measure without a threshold is summarised, never graded
    assert s["measures"]["carried_gap_mm"] == {"n": 3, "median": 0.5, "worst_5pct": 0.5}
    targets = {t["target"]: t["pass"] for t in s["targets"]}
    assert not targets["final success >= 95 %"] and targets["hand below table <= 2 mm in every case"]
    assert targets["median <= 2 s per trajectory (CPU)"]


def test_rates_are_also_given_per_draw_of_cases():
    """Cases named case@draw (several --draw seeds) get their rates per draw, in the summary and the table;
    one draw's cases (no suffix) give none."""
    records = [{**_record("success", first=True), "name": "a@1"}, {**_record("fail"), "name": "b@1"},
               {**_record("success"), "name": "a@2"}, {**_record("unsupported"), "name": "c@2"}]
    s = bench.summarize(records)
    assert s["per_draw"] == {"1": {"cases": 2, "final_success": 0.5, "first_candidate_success": 0.5},
                             "2": {"cases": 1, "final_success": 1.0, "first_candidate_success": 0.0}}
    assert "Per draw (final / first candidate): 1 50.0 / 50.0 % of 2, 2 100.0 / 0.0 % of 1." in bench.markdown(records, s, [])
    assert bench.summarize([_record("success")])["per_draw"] == {}


def test_failures_are_counted_by_object_hands_and_resting_height():
    """A bowl standing (5.3 cm) and a disc lying (0.8 cm) are different rows, as are one hand and two
    hands on the same object; rows come most failures first, each with its commonest reason."""
    def rec(obj, height, status, group="lift", reason=""):
        return {**_record(status), "object": obj, "height_mm": height, "group": group, "reason": reason}

    slipped = "bowl: no grasp passed in simulation (candidate 0: the object slipped 13 mm"
    records = [rec("bowl", 53.0, "no_sequence", reason=slipped), rec("bowl", 53.0, "no_sequence", reason=slipped),
               rec("bowl", 53.0, "success"), rec("bowl", 53.0, "no_sequence", "two_hands"),
               rec("disc", 8.0, "fail", reason="slip"), rec("disc", 8.0, "success"), rec("ball", 65.0, "success")]
    rows = bench.failures_by_object(records)
    assert [(r["object"], r["hands"], r["height_cm"], r["failed"], r["cases"]) for r in rows] == [
        ("bowl", "one", 5.3, 2, 3), ("bowl", "two", 5.3, 1, 1), ("disc", "one", 0.8, 1, 2), ("ball", "one", 6.5, 0, 1)]
    assert rows[0]["reason"] == "the object slipped N mm" and rows[2]["reason"] == "slip"
    assert "| bowl | one | 5.3 | 2 / 3 |" in bench.markdown(records, bench.summarize(records), [])


def test_results_name_the_numeric_libraries_they_were_measured_with(monkeypatch):
    """The same code and seeds give other outcomes with another MuJoCo or NumPy: the summary and the
    table name the installed releases (checked against the modules' own ``__version__``)."""
    import mujoco
    import scipy

    versions = bench.library_versions()
    assert versions["numpy"] == np.__version__ and versions["scipy"] == scipy.__version__
    assert versions["mujoco"] == mujoco.__version__ and versions["trimesh"] == trimesh.__version__
    records = [_record("success")]
    summary = {**bench.summarize(records), "versions": versions}
    assert f"mujoco {mujoco.__version__}" in bench.markdown(records, summary, [])
    if os.path.exists("/proc/cpuinfo"):  # the processor: two machines with the same libraries differ too
        with open("/proc/cpuinfo") as f:
            assert f"model name\t: {versions['cpu']}\n" in f.read()
    monkeypatch.setattr(bench, "NUMERIC_LIBRARIES", ("numpy", "no-such-library"))
    assert bench.library_versions()["no-such-library"] is None


def test_a_place_with_a_long_reach_round_a_tall_bottle_stays_under_the_jerk_threshold():
    """bottle/place106 of draw 3002 reaches 55 cm round the bottle: in 26 % of the clip the arm's peak jerk was
    103 m/s^3 (threshold 100; 4 of 6 draws failed so); in 30 % it is about 70. Graded by ``pam.pose.quality``."""
    from pam.pose.quality import THRESHOLDS

    record = bench.run_case(next(c for c in bench.make_cases(3002) if c.name == "bottle/place106"))
    assert record["quality"]["jerk_max"] <= 0.8 * THRESHOLDS.max_jerk
    assert record["status"] == "success"


def test_a_reach_no_usual_detour_clears_arcs_higher_and_keeps_the_first_grasp():
    """A tall box lying on its side, the hand starting across it from its first grasp: the straight reach, the arcs
    6 cm over it and the detours round its side all pass within 25 mm of it, and the first two grasps were dropped
    unsimulated (the third was kept). A reach arcing 12 cm over it clears it: the first grasp is kept and carries
    the box, graded by ``pam.pose.quality``."""
    record = bench.run_case(next(c for c in bench.make_cases(3002) if c.name == "box_tall/lift3"))
    assert record["attempt"] == 0 and record["status"] == "success"


@pytest.mark.slow
def test_a_request_no_grasp_can_meet_is_named_in_the_error_not_the_seed():
    """A 6 cm cube approached from the side with the wrist rolled 45 degrees: every grasp that meets the request
    leaves its weight unbalanced, and all ten simulated slip (all six draws of the case fail). The error tells
    the user to change the request, not to try another seed."""
    from pam.pose.generate import NoGraspHeld

    case = next(c for c in bench.make_cases(3001) if c.name == "box_cube/request98")
    gen, _, _ = bench.prepare(case)
    with pytest.raises(NoGraspHeld, match=r"request \(approach side, roll -45 deg\).*change or drop its approach, roll$"):
        gen()


@pytest.mark.parametrize("name", ["box_tall/lift3", "mug/place105"])
def test_cases_once_lost_to_a_missing_palm_contact_now_pass_the_quality_check(name):
    """A 45 x 65 x 150 mm box lying on its side, and a mug put down elsewhere: the curled fingers
    stopped the sliding hand before the palm touched, and every power grasp was dropped for want of
    a palm contact (``grasp.DEFAULTS["power_palm"]``). Both are carried now, judged by
    ``pam.pose.quality`` alone."""
    record = bench.run_case(next(c for c in bench.make_cases() if c.name == name))
    assert record["status"] == "success" and record["quality"]["success"]


def test_a_drill_lying_on_its_side_is_held_by_its_motor_housing_with_the_first_grasp():
    """Lying on its side, the drill's long axis runs through the empty corner between grip and housing, and grasps
    aimed along it landed on the housing's end or across the grip's top (its first candidate slipped; the
    eighth passed). Aimed along its main body (``generate.main_body``), the first candidate holds it, and the
    hand squeezes the motor housing (the catalogue's ``body`` part) across its 59 mm."""
    case = next(c for c in bench.make_cases() if c.name == "drill/lift0")
    gen, meshes, hands = bench.prepare(case)
    seq = gen()
    hand = seq.meta["pose"]["hands"][0]
    assert hand["attempt"] == 0
    from pam.pose.quality import evaluate

    assert evaluate(seq, meshes=meshes, hand_models=hands).success
    grip, h, obj = hand["grip_frame"], seq.hands[0], seq.objects[0]
    skin = PosedHand(hands[0], h.betas)(h.global_orient[grip : grip + 1], h.hand_pose[grip : grip + 1],
                                        h.transl[grip : grip + 1])[0][0]
    local = (skin - obj.translation[grip]) @ obj.rotation[grip]  # into the drill's own frame
    mesh = bench.object_mesh("drill")
    near, distance, _ = trimesh.proximity.closest_point(mesh, local)
    touching = near[np.abs(distance) <= 0.002]
    on_housing = (touching[:, 0] <= 0.0981 + 0.002) & (touching[:, 2] >= 0.127 - 0.002)  # catalogue: the body box
    assert len(touching) >= 10 and on_housing.mean() >= 0.75
    # squeezed across it: skin on its top face (z 187 mm standing) and on its underside (128 mm), 59 mm apart
    assert touching[:, 2].max() >= 0.185 and touching[on_housing, 2].min() <= 0.130


@pytest.mark.slow
def test_a_box_too_wide_for_one_hand_is_carried_by_two():
    """The cracker box lying flat is 158 mm across, wider than the hand spans: no single-hand case
    of it passes. With both hands on it, each holds an end, and ``pam.pose.quality`` grades both."""
    record = bench.run_case(next(c for c in bench.make_cases() if c.name == "cracker_box/both125"))
    assert record["status"] == "success" and record["quality"]["success"]
    assert [p["hand"] for p in record["quality"]["pairs"]] == [0, 1]
    assert all(p["contact_fraction"] >= 0.95 for p in record["quality"]["pairs"])


def test_a_drawn_start_inside_the_object_is_moved_back_until_clear():
    # draw 3001 puts this start's fingers 11 mm into the cracker box; the case must start clear of it
    case = next(c for c in bench.make_cases(draw=3001) if c.name == "cracker_box/aside1")
    mesh = bench.object_mesh(case.object).copy().apply_transform(bench.object_pose(case))
    centre = mesh.bounding_box.centroid
    hand = bench._hand_model("right")
    drawn = bench.start_hand(case, centre, hand)
    moved = bench.start_hand(case, centre, hand, clear_of=[mesh])
    skin = [PosedHand(hand)(h.global_orient[None], h.hand_pose[None], h.transl[None])[0][0] for h in (drawn, moved)]
    assert trimesh.proximity.signed_distance(mesh, skin[0]).max() > 0.005
    assert trimesh.proximity.signed_distance(mesh, skin[1]).max() <= 0.002
    np.testing.assert_allclose(moved.global_orient, drawn.global_orient)
    np.testing.assert_allclose(moved.transl[2], drawn.transl[2])


def test_the_simulated_hand_reaching_round_a_bottle_does_not_touch_it(monkeypatch):
    """Draw 2024's ``bottle/aside1``: the first candidate's reach bends round the standing bottle to a grasp on its far
    side. Planned 15 mm clear of it, the simulated hand (its arm's controller cuts the bend's corner) touched it at full
    speed and rocked it 13 mm and 7 degrees. Measured on the saved sequence of that candidate alone: while the reach is
    fast, the skin keeps clear of the bottle and the bottle does not move."""
    import functools

    from pam.pose import generate

    monkeypatch.setattr(generate, "generate_trajectory", functools.partial(generate.generate_trajectory, max_attempts=1))
    seq, _, _, gap = _fast_reach_gaps(2024, "bottle/aside1")
    assert gap.min() > 0.002
    obj = seq.objects[0]
    assert np.abs(obj.translation[: len(gap)] - obj.translation[0]).max() < 1e-4


def _fast_reach_gaps(draw: int, name: str):
    """Generate the benchmark case ``name`` of ``draw``: (sequence, meshes, hand models, (F,) least gap (m) of
    the saved hand's skin to the object at each frame while the reach is fast)."""
    from pam.pose import generate
    from pam.pose.quality import hand_object_distances

    run, meshes, hands = bench.prepare(next(c for c in bench.make_cases(draw) if c.name == name))
    seq = run()
    fast = int(generate.REACH_FAST * seq.meta["pose"]["phases"]["reach_end"]) + 1
    hand, obj = seq.hands[0], seq.objects[0]
    skin, _ = PosedHand(hands[0])(hand.global_orient[:fast], hand.hand_pose[:fast], hand.transl[:fast])
    gap, _ = hand_object_distances(skin, meshes[0], obj.rotation[:fast], obj.translation[:fast])
    return seq, meshes, hands, gap.min(axis=1)


@pytest.mark.slow
def test_a_hand_starting_beside_the_object_moves_away_before_it_speeds_up():
    """Draw 3001's ``cracker_box/aside1`` starts the hand 6.6 mm from the standing box. A fast reach keeps 25 mm
    from the object, which this start cannot; the clearance asked grows from the starting gap as the reach speeds
    up, and such a start used to be refused ("the reach passes through the object"). Measured on the saved
    sequence: the skin comes at most 2 mm nearer the box than it started while the reach is fast, is over 20 mm
    clear of it from the reach's fastest point (the plan's 25 mm, less what the simulated hand strays), and the
    box moves at most 2 mm and 2 degrees before the grip."""
    from pam.pose.quality import evaluate

    seq, meshes, hands, gap = _fast_reach_gaps(3001, "cracker_box/aside1")
    reach = seq.meta["pose"]["phases"]["reach_end"]
    assert 0.004 < gap[0] < 0.01
    assert gap.min() >= gap[0] - 0.002
    assert gap[int(np.ceil(reach / 2)):].min() >= 0.02
    q = evaluate(seq, meshes=meshes, hand_models=hands)
    assert q.disturbance_mm <= 2.0 and q.disturbance_deg <= 2.0 and q.success


@pytest.mark.slow
def test_a_thin_plate_lying_flat_is_lifted_by_a_fingertip_pinch_on_its_edges():
    """The 120 x 80 x 6 mm plate lying flat: every grasp used to close onto its top face and no case of it
    passed. Pinched at the table, the finger's tip (its table capsule 1.3 mm slimmer than the thumb's) now runs
    lower than the thumb's, meeting the edge more squarely, and a thumb-middle pinch keeps the index straight
    instead of curling it onto the plate between them. Measured on the saved sequence: at the grip, the skin
    touches the plate only within 2 mm of its rim, on two opposite edges at least 6 cm apart; the plate is then
    carried 10 cm up, and ``pam.pose.quality`` passes it."""
    from pam.pose.quality import evaluate, hand_object_distances

    run, meshes, hands = bench.prepare(next(c for c in bench.make_cases() if c.name == "plate_thin/lift0"))
    seq = run()
    assert evaluate(seq, meshes=meshes, hand_models=hands).success
    meta, hand, obj = seq.meta["pose"], seq.hands[0], seq.objects[0]
    grip = meta["grip_frame"]
    skin = PosedHand(hands[0])(hand.global_orient[grip : grip + 1], hand.hand_pose[grip : grip + 1],
                               hand.transl[grip : grip + 1])[0]
    gap, _ = hand_object_distances(skin, meshes[0], obj.rotation[grip : grip + 1], obj.translation[grip : grip + 1])
    local = (skin[0] - obj.translation[grip]) @ obj.rotation[grip]  # the plate's own frame: a centred box
    near, _, _ = trimesh.proximity.closest_point(meshes[0], local[gap[0] <= 0.0015])
    half = meshes[0].extents / 2.0
    flat = np.argsort(half)[1:]  # the plate's two long axes
    assert len(near) >= 2
    assert (np.abs(near[:, flat]) >= half[flat] - 0.002).any(axis=1).all(), "a finger touches the top face"
    assert np.ptp(near[:, flat], axis=0).max() >= 0.06
    assert obj.translation[meta["carry_end"], 2] - obj.translation[0, 2] >= 0.10


@pytest.mark.slow
def test_two_hands_on_a_long_box_are_carried_by_the_first_pair_tried():
    """Draw 3002's tall box with both hands: its first hand's best grasps by their own score paired badly, and the
    fourth pair tried was the first to hold. Tried in the order of the least force their best pair needs
    (``generate.PAIR_RANKED``), the first pair holds, judged by ``pam.pose.quality`` for both hands."""
    record = bench.run_case(next(c for c in bench.make_cases(3002) if c.name == "box_tall/both127"))
    assert record["status"] == "success" and record["first_candidate"]
    assert all(p["contact_fraction"] >= 0.95 for p in record["quality"]["pairs"])
