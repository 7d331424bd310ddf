import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metrics_fixtures import moving_video, textured_frame
from pam.metrics.motion_fidelity import (motion_fidelity, motion_fidelity_from_tracks, published_motion_fidelity,
                                         track_similarity)
from pam.metrics.tracking import LucasKanadeTracker, motion_mask, published_query_points, sample_points


def _tracks(*displacements):
    """Tracks (T, N, 2) starting at the origin from per-track displacement lists."""
    d = np.array(displacements, dtype=float).transpose(1, 0, 2)  # (T-1, N, 2)
    return np.concatenate([np.zeros((1,) + d.shape[1:]), np.cumsum(d, axis=0)])


def test_formula_matches_hand_computation():
    gen = _tracks([(1, 0), (0, 1)])                       # A
    ref = _tracks([(1, 0), (1, 0)], [(-1, 0), (0, 2)])    # B, C
    # corr(A, B) = mean(cos 0, cos 90deg) = 0.5; corr(A, C) = mean(-1, 1) = 0
    np.testing.assert_allclose(track_similarity(gen, ref), [[0.5, 0.0]])
    assert motion_fidelity_from_tracks(gen, ref, mode="generated_to_reference") == pytest.approx(0.5)
    # reference -> generated: B -> 0.5, C -> 0; every track moves in both frames (weight 2):
    # generated -> reference 0.5 (weight 2), reference -> generated 0.5 and 0 (weights 2, 2)
    assert motion_fidelity_from_tracks(gen, ref) == pytest.approx((2 * 0.5 + 2 * 0.5 + 2 * 0.0) / 6)


def test_still_frames_carry_no_agreement():
    gen = _tracks([(0, 0), (1, 0), (0, 0)], [(0, 0), (0, 0), (0, 0)])
    ref = _tracks([(0, 0), (1, 0), (1, 0)], [(0, 0), (0, 0), (0, 0)])
    # A/A': still/still left out, parallel 1, still/moving 0 -> 0.5; A/B': moving frame only -> 0;
    # B/A': frames 2, 3 (moving in A') -> 0; B/B': no frame moves -> undefined
    np.testing.assert_allclose(track_similarity(gen, ref), [[0.5, 0.0], [0.0, np.nan]])
    below = _tracks([(0.3, 0), (1, 0)])
    assert track_similarity(below, _tracks([(0, 0), (1, 0)]))[0, 0] == pytest.approx(1.0)  # 0.3 px is still
    # weights: A 1 frame, B 0; A' 2, B' 0 -> (1 * 0.5 + 2 * 0.5) / 3
    assert motion_fidelity_from_tracks(gen, ref) == pytest.approx(0.5)


def test_a_frozen_video_scores_zero_and_still_videos_agree():
    moving = _tracks([(1, 0), (0, 1), (0, 0)], [(0, 0), (0, 0), (0, 0)])
    frozen = _tracks([(0, 0)] * 3, [(0, 0)] * 3)
    for mode in ("both", "generated_to_reference"):
        assert motion_fidelity_from_tracks(frozen, moving, mode=mode) == 0.0
        assert motion_fidelity_from_tracks(frozen, frozen, mode=mode) == 1.0
    assert motion_fidelity_from_tracks(moving, frozen) == 0.0


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
    assert motion_fidelity(right, right, mode="generated_to_reference") == pytest.approx(1.0)
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
    ref = _tracks([(-1, 0)] * 4, [(1, 0)] * 4)  # a track moving the other way, and a parallel one lost after 1 step
    ref_visible = np.ones((5, 2), bool)
    ref_visible[2:, 1] = False
    # kept, the lost track would be a perfect match over its one frame
    assert motion_fidelity_from_tracks(gen, ref, reference_visible=ref_visible, min_visible=0.0,
                                       mode="generated_to_reference") == pytest.approx(1.0)
    assert motion_fidelity_from_tracks(gen, ref, reference_visible=ref_visible,
                                       mode="generated_to_reference") == pytest.approx(-1.0)
    assert motion_fidelity_from_tracks(gen, ref, reference_visible=ref_visible) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="no reference track"):
        motion_fidelity_from_tracks(gen, ref, reference_visible=np.zeros((5, 2), bool))


def _published_reference(generated: np.ndarray, reference: np.ndarray) -> float:
    """The published formula, written independently in torch: (N, T, 2) tracklets, normalised
    displacements, einsum over frames, identity subtracted, row max, mean."""
    a, b = torch.from_numpy(generated).permute(1, 0, 2), torch.from_numpy(reference).permute(1, 0, 2)
    da, db = a[:, 1:] - a[:, :-1], b[:, 1:] - b[:, :-1]
    da, db = da / da.norm(dim=-1, keepdim=True), db / db.norm(dim=-1, keepdim=True)
    sim = torch.einsum("ntc,mtc->nmt", da, db).mean(dim=-1)
    return (sim - torch.eye(sim.shape[0], dtype=sim.dtype)).max(dim=1).values.mean().item()


def test_published_mode_equals_the_published_formula_on_random_tracks():
    rng = np.random.default_rng(7)
    for t, n in ((49, 60), (8, 5), (2, 3)):
        gen = rng.normal(scale=3.0, size=(t, n, 2)).cumsum(axis=0)
        ref = rng.normal(scale=3.0, size=(t, n, 2)).cumsum(axis=0)
        expected = _published_reference(gen, ref)
        assert published_motion_fidelity(gen, ref) == pytest.approx(expected, abs=1e-9)
        visible = rng.random((t, n)) > 0.5  # ignored: the published code has no visibility
        assert motion_fidelity_from_tracks(gen, ref, visible, visible, mode="published") == pytest.approx(expected, abs=1e-9)
    assert published_motion_fidelity(gen, gen) < 1.0  # the identity is subtracted: a track is not its own match
    with pytest.raises(ValueError, match="same points"):
        published_motion_fidelity(gen, ref[:, :2])


def test_published_query_points_follow_cotracker_grid_and_box():
    h, w = 480, 640
    mask = np.zeros((h, w), bool)
    mask[100:300:3, 200:451:5] = True  # sparse foreground: the box spans rows 100..297, columns 200..450
    points = published_query_points((h, w), mask)
    # independently: CoTracker's grid at 384 x 512 (margin 8), the box mask resized by torch, rounded lookup
    ys, xs = torch.meshgrid(torch.linspace(8, 376, 55), torch.linspace(8, 504, 55), indexing="ij")
    box = torch.zeros(1, 1, h, w)
    box[..., 100:297, 200:450] = 1
    small = F.interpolate(box, (384, 512), mode="nearest")[0, 0]
    keep = small[ys.flatten().round().long(), xs.flatten().round().long()].bool()
    expected = torch.stack([xs.flatten()[keep] * (w - 1) / 511, ys.flatten()[keep] * (h - 1) / 383], 1).double()
    np.testing.assert_allclose(points, expected.numpy(), atol=1e-4)
    assert 200 <= points[:, 0].min() and points[:, 0].max() < 450 and 100 <= points[:, 1].min() and points[:, 1].max() < 297
    assert len(published_query_points((h, w))) == 55 * 55
