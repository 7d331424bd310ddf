"""`pose_sequences` skips seeds whose grasps all drop the object, within a bound; bad input fails at once."""

import pytest

from pam.pose import command
from pam.pose.generate import NoGraspHeld, PoseError


class FakeSequence:
    def __init__(self, seed):
        self.meta = {"pose": {"seed": seed}}


def fake_generator(failing_seeds, calls):
    def generate(h0, mesh, o0, hT, frames, fps, seed, scale, hand_model):
        calls.append(seed)
        if seed in failing_seeds:
            raise NoGraspHeld(f"seed {seed}: dropped")
        return FakeSequence(seed)

    return generate


@pytest.fixture
def no_quality(monkeypatch):
    monkeypatch.setattr(command, "evaluate", lambda seq, hand_model: {"success": True})


def test_failing_seeds_are_skipped_and_reported(monkeypatch, no_quality):
    calls = []
    monkeypatch.setattr(command, "generate_trajectory", fake_generator({11, 13}, calls))
    skipped = []
    seqs = command.pose_sequences("ball", seed=10, num=3, skipped=skipped)
    assert [s.meta["pose"]["seed"] for s in seqs] == [10, 12, 14]
    assert skipped == [11, 13] and calls == [10, 11, 12, 13, 14]


def test_gives_up_after_the_skip_bound(monkeypatch, no_quality):
    calls = []
    monkeypatch.setattr(command, "generate_trajectory", fake_generator(set(range(100)), calls))
    with pytest.raises(NoGraspHeld, match="5 seeds failed"):
        command.pose_sequences("ball", seed=0, num=2)
    assert len(calls) == command.MAX_SKIPS_PER_TRAJECTORY * 2 + 1


def test_bad_input_is_not_retried(monkeypatch, no_quality):
    calls = []

    def bad(*args, **kwargs):
        calls.append(1)
        raise PoseError("hand starts inside the object")

    monkeypatch.setattr(command, "generate_trajectory", bad)
    with pytest.raises(PoseError, match="inside"):
        command.pose_sequences("ball", num=3)
    assert calls == [1]
