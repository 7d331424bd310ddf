"""`pose_sequences` skips seeds whose grasps all drop the object, within a bound; bad input fails at once."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from pam.pose import command
from pam.pose.generate import NoGraspFound, NoGraspHeld, PoseError
from pam.pose.keyframes import hand_preset


class FakeSequence:
    def __init__(self, seed):
        self.meta = {"pose": {"seed": seed}}


def fake_generator(failing_seeds, calls, targets=None, families=None, failing_families=(), unfound_families=()):
    def generate(tasks, objects, frames, fps, seed, hand_models, table_z, request=None):
        calls.append(seed)
        family = None if request is None else request.family
        if families is not None:
            families.append(family)
        if family in failing_families:
            raise NoGraspHeld(f"seed {seed}: no {family} grasp held")
        if family in unfound_families:
            raise NoGraspFound(f"seed {seed}: no {family} grasp found")
        if targets is not None:
            targets.append(tasks[0].hT)
        if seed in failing_seeds:
            raise NoGraspHeld(f"seed {seed}: dropped")
        return FakeSequence(seed)

    return generate


@pytest.fixture
def no_quality(monkeypatch):
    report = SimpleNamespace(as_dict=lambda: {"success": True})
    monkeypatch.setattr(command, "evaluate", lambda seq, meshes, hand_models: report)


def test_failing_seeds_are_skipped_and_reported(monkeypatch, no_quality):
    calls = []
    monkeypatch.setattr(command, "generate_scene", fake_generator({11, 13}, calls))
    skipped = []
    seqs = command.pose_sequences("ball", seed=10, num=3, skipped=skipped)
    assert [s.meta["pose"]["seed"] for s in seqs] == [10, 12, 14]
    assert skipped == [11, 13]
    # each seed is tried with the trajectory's family first, then with any family
    assert calls == [10, 11, 11, 12, 13, 13, 14]


def test_several_trajectories_spread_over_the_families(monkeypatch, no_quality):
    calls, families = [], []
    monkeypatch.setattr(command, "generate_scene", fake_generator(set(), calls, families=families,
                                                                  failing_families={"hook"}))
    seqs = command.pose_sequences("mug", seed=0, num=4)
    assert len(seqs) == 4
    # trajectory k asks for family k mod 3; a seed whose hook grasps all fail falls back to any family
    assert families == ["power", "precision", "hook", None, "power"]
    assert calls == [0, 1, 2, 2, 3]
    # one trajectory, or a requested family: exactly what was asked
    families.clear()
    command.pose_sequences("mug", seed=0, num=1)
    command.pose_sequences("mug", seed=0, num=2, request=command.GraspRequest(family="precision"))
    assert families == [None, "precision", "precision"]


def test_a_family_with_no_grasp_here_falls_back_to_any(monkeypatch, no_quality):
    """``pam pose --object banana --num 4`` stopped with an error: its third trajectory asks for a hook, and
    no hook fits under a banana lying on the table. The seed is now tried with any family, as when a
    family's grasps all drop; a family the user asked for still fails."""
    calls, families = [], []
    monkeypatch.setattr(command, "generate_scene", fake_generator(set(), calls, families=families,
                                                                  unfound_families={"hook"}))
    assert len(command.pose_sequences("banana", seed=10, num=4)) == 4
    assert families == ["power", "precision", "hook", None, "power"]
    with pytest.raises(NoGraspFound, match="no hook grasp found"):
        command.pose_sequences("banana", seed=10, num=2, request=command.GraspRequest(family="hook"))


def test_gives_up_after_the_skip_bound(monkeypatch, no_quality):
    calls = []
    monkeypatch.setattr(command, "generate_scene", fake_generator(set(range(100)), calls))
    with pytest.raises(NoGraspHeld, match="5 seeds failed"):
        command.pose_sequences("ball", seed=0, num=2)
    assert len(set(calls)) == command.MAX_SKIPS_PER_TRAJECTORY * 2 + 1  # seeds (each tried twice)


def test_bad_input_is_not_retried(monkeypatch, no_quality):
    calls = []

    def bad(*args, **kwargs):
        calls.append(1)
        raise PoseError("hand starts inside the object")

    monkeypatch.setattr(command, "generate_scene", bad)
    with pytest.raises(PoseError, match="inside"):
        command.pose_sequences("ball", num=3)
    assert calls == [1]


def test_left_init_without_target_gets_a_left_target(monkeypatch, no_quality, tmp_path):
    init = tmp_path / "init.json"
    init.write_text(json.dumps({
        "hand": {"side": "left", "global_orient": [0.0, 0.0, 0.0], "transl": [0.0, -0.3, 0.12]},
        "object": {"mesh": "ball"},
    }))
    targets = []
    monkeypatch.setattr(command, "generate_scene", fake_generator(set(), [], targets))
    command.pose_sequences(init=init)
    assert targets[0].side == "left"
    np.testing.assert_array_equal(targets[0].hand_pose, hand_preset("power_grasp", "left"))
