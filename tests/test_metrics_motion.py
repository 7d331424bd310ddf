import numpy as np
import pytest

from metrics_fixtures import moving_video, textured_frame
from pam.metrics.motion_fidelity import motion_fidelity, motion_fidelity_from_tracks, track_similarity
from pam.metrics.tracking import LucasKanadeTracker, motion_mask, sample_points


def _tracks(*displacements):
    """Tracks (T, N, 2) starting at the origin from per-track displacement lists."""
    d = np.array(displacements, dtype=float).transpose(1, 0, 2)  # (T-1, N, 2)
    return np.concatenate([np.zeros((1,) + d.shape[1:]), np.cumsum(d, axis=0)])


def test_formula_matches_hand_computation():
    gen = _tracks([(1, 0), (0, 1)])                       # A
    ref = _tracks([(1, 0), (1, 0)], [(-1, 0), (0, 2)])    # B, C
    # corr(A, B) = mean(cos 0, cos 90deg) = 0.5; corr(A, C) = mean(-1, 1) = 0
    np.testing.assert_allclose(track_similarity(gen, ref), [[0.5, 0.0]])
    assert motion_fidelity_from_tracks(gen, ref, direction="generated_to_reference") == pytest.approx(0.5)
    # reference -> generated: B -> 0.5, C -> 0; mean 0.25. Default: (0.5 + 0.25) / 2
    assert motion_fidelity_from_tracks(gen, ref) == pytest.approx(0.375)


def test_zero_displacement_rule():
    gen = _tracks([(0, 0), (1, 0)], [(0, 0), (1, 0)])
    ref = _tracks([(0, 0), (0, 1)], [(1, 0), (1, 0)])
    # still/still -> 1, then orthogonal -> 0: 0.5;   still/moving -> 0, then parallel -> 1: 0.5
    np.testing.assert_allclose(track_similarity(gen, ref), [[0.5, 0.5], [0.5, 0.5]])
    below = _tracks([(0.05, 0), (1, 0)])
    assert track_similarity(below, _tracks([(0, 0), (1, 0)]))[0, 0] == pytest.approx(1.0)


def test_invisible_frames_are_left_out():
    gen = _tracks([(1, 0), (1, 0), (0, 1)])
    ref = _tracks([(1, 0), (1, 0), (1, 0)])
    visible = np.array([[True], [True], [True], [False]])
    assert track_similarity(gen, ref)[0, 0] == pytest.approx(2 / 3)
    assert track_similarity(gen, ref, visible_a=visible)[0, 0] == pytest.approx(1.0)


def test_lucas_kanade_follows_a_shift():
    video = moving_video(textured_frame(96, 128), 6, (1.5, -0.5))
    points = sample_points(video[0], 30)
    points = points[(points[:, 0] > 20) & (points[:, 0] < 100) & (points[:, 1] > 20) & (points[:, 1] < 76)]
    tracks, visible = LucasKanadeTracker().track(video, points)
    assert visible.all()
    expected = points[None] + np.arange(6)[:, None, None] * np.array([1.5, -0.5])
    assert np.abs(tracks - expected).max() < 0.1


def test_points_stay_in_the_mask():
    frame = textured_frame(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[10:30, 20:40] = True
    pts = sample_points(frame, 100, mask)
    assert len(pts) == 100
    assert mask[pts[:, 1].round().astype(int), pts[:, 0].round().astype(int)].all()
    with pytest.raises(ValueError, match="empty"):
        sample_points(frame, 10, np.zeros((64, 64), bool))


def test_identical_videos_score_one_and_reversed_motion_negative():
    frame = textured_frame(96, 128, seed=4)
    right = moving_video(frame, 8, (1.0, 0.3))
    left = moving_video(frame, 8, (-1.0, -0.3))
    assert motion_fidelity(right, right) == pytest.approx(1.0)
    assert motion_fidelity(right, right, direction="generated_to_reference") == pytest.approx(1.0)
    assert motion_fidelity(left, right) < -0.9


def test_motion_mask_finds_the_moving_part():
    frame = textured_frame(64, 96)
    video = np.repeat(frame[None], 5, axis=0)
    assert motion_mask(video) is None  # nothing moves
    patch = textured_frame(16, 16, seed=9)
    for t in range(5):
        video[t, 20:36, 10 + 8 * t:26 + 8 * t] = patch
    mask = motion_mask(video)
    assert mask[20:36, 10:58].mean() > 0.5
    assert not mask[:, 70:].any() and not mask[45:].any()


def test_tracks_lost_early_are_dropped():
    gen = _tracks([(1, 0)] * 4)
    ref = _tracks([(-1, 0)] * 4, [(0, 0)] * 4)  # a track moving the other way, and a still one lost after 1 step
    ref_visible = np.ones((5, 2), bool)
    ref_visible[2:, 1] = False
    gen_still = _tracks([(0, 0)] * 4)
    # kept, the lost track would be a perfect match for a still generated track over its one frame
    assert motion_fidelity_from_tracks(gen_still, ref, reference_visible=ref_visible, min_visible=0.0,
                                       direction="generated_to_reference") == pytest.approx(1.0)
    assert motion_fidelity_from_tracks(gen_still, ref, reference_visible=ref_visible,
                                       direction="generated_to_reference") == pytest.approx(0.0)
    assert motion_fidelity_from_tracks(gen, ref, reference_visible=ref_visible) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="no reference track"):
        motion_fidelity_from_tracks(gen, ref, reference_visible=np.zeros((5, 2), bool))
