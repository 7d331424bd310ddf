"""Motion Fidelity (MF) between a generated and a reference video, from point tracks.

Follows the motion-transfer paper's metric (Yatim et al. 2024, ``motion_fidelity_score.py``)
as used by PAM (REFERENCE.md, "Evaluation"). For tracks tau (generated) and tau~ (reference),
``corr(tau, tau~)`` is the mean over frames of the cosine between their per-frame displacement
vectors. The directional score generated -> reference is the mean over generated tracks of the
best-matching reference track's corr; the reference code reports only this direction. The
paper's Eq. 3 adds the other direction too (range [-2, 2]); its reported values fit [-1, 1],
so the default here is the *mean* of the two directions (range [-1, 1], 1 = identical motion).

Zero displacement: the reference code divides each displacement by its norm, which is
undefined for a point that does not move. Here a displacement shorter than
``min_displacement`` pixels (default 0.1, above the Lucas-Kanade tracker's noise on still
points) counts as "still": still vs still scores 1 (they agree), still vs moving scores 0 (no
direction to compare), moving vs moving is the cosine. With ``min_displacement=0`` only exact
zeros are still and the score is the reference code's wherever that one is defined.

Visibility: frames where either point is not visible are left out of that pair's mean (a pair
with no common frame scores 0), and tracks visible over less than ``min_visible`` of the
frame steps are dropped first, so that a track lost early (its few frames trivially "agreeing")
cannot be anyone's best match. The reference code has no such step: CoTracker tracks through
occlusions, so its tracks are all kept (:class:`~pam.metrics.tracking.CoTracker3Tracker`
reports every point visible).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from pam.metrics.image import check_video_pair
from pam.metrics.tracking import LucasKanadeTracker, PointTracker, motion_mask, sample_points


def track_similarity(tracks_a: np.ndarray, tracks_b: np.ndarray, visible_a: np.ndarray | None = None,
                     visible_b: np.ndarray | None = None, min_displacement: float = 0.1) -> np.ndarray:
    """corr between every track of ``a`` (T, Na, 2) and of ``b`` (T, Nb, 2): returns (Na, Nb)."""
    if tracks_a.ndim != 3 or tracks_b.ndim != 3 or tracks_a.shape[0] != tracks_b.shape[0] or tracks_a.shape[0] < 2:
        raise ValueError(f"tracks: expected (T, N, 2) arrays with equal T >= 2, got {tracks_a.shape} and {tracks_b.shape}")

    def directions(tracks, visible):
        d = np.diff(tracks.astype(np.float64), axis=0)  # (T-1, N, 2)
        norm = np.linalg.norm(d, axis=-1)
        moving = norm >= min_displacement
        unit = np.where(moving[..., None], d / np.maximum(norm, 1e-12)[..., None], 0.0)
        valid = np.ones(norm.shape, bool) if visible is None else visible[1:] & visible[:-1]
        return unit, ~moving, valid

    ua, sa, va = directions(tracks_a, visible_a)
    ub, sb, vb = directions(tracks_b, visible_b)
    per_frame = np.einsum("tac,tbc->tab", ua, ub) + (sa[:, :, None] & sb[:, None, :])  # cos, or 1 if both still
    valid = va[:, :, None] & vb[:, None, :]
    count = valid.sum(axis=0)
    return np.where(count > 0, (per_frame * valid).sum(axis=0) / np.maximum(count, 1), 0.0)


def motion_fidelity_from_tracks(generated_tracks: np.ndarray, reference_tracks: np.ndarray,
                                generated_visible: np.ndarray | None = None,
                                reference_visible: np.ndarray | None = None,
                                direction: Literal["both", "generated_to_reference"] = "both",
                                min_displacement: float = 0.1, min_visible: float = 0.5) -> float:
    """MF from tracks (T, N, 2): mean of both directions (default) or the reference's one direction."""
    kept = []
    for name, tracks, visible in (("generated", generated_tracks, generated_visible),
                                  ("reference", reference_tracks, reference_visible)):
        if visible is None:
            visible = np.ones(tracks.shape[:2], bool)
        keep = (visible[1:] & visible[:-1]).mean(axis=0) >= min_visible
        if not keep.any():
            raise ValueError(f"motion fidelity: no {name} track is visible over {min_visible:.0%} of the frames")
        kept.append((tracks[:, keep], visible[:, keep]))
    (gen_t, gen_v), (ref_t, ref_v) = kept
    sim = track_similarity(gen_t, ref_t, gen_v, ref_v, min_displacement)
    forward = float(sim.max(axis=1).mean())
    if direction == "generated_to_reference":
        return forward
    if direction != "both":
        raise ValueError(f"direction: expected 'both' or 'generated_to_reference', got {direction!r}")
    return 0.5 * (forward + float(sim.max(axis=0).mean()))


def motion_fidelity(generated: np.ndarray, reference: np.ndarray, tracker: PointTracker | None = None,
                    num_points: int = 100, mask: np.ndarray | None = None,
                    direction: Literal["both", "generated_to_reference"] = "both",
                    min_displacement: float = 0.1) -> float:
    """MF between two uint8 videos (T, H, W, 3) of equal shape.

    ``num_points`` query points are sampled on the reference's first frame inside ``mask``
    (H, W) bool, the first-frame hand/object foreground; without one, inside the reference's
    :func:`motion_mask` (what moves, for a still camera), or on texture if nothing moves. They are
    tracked from the same positions in both videos, in two threads, with ``tracker`` (default:
    :class:`LucasKanadeTracker`).
    """
    check_video_pair(generated, reference)
    tracker = tracker or LucasKanadeTracker()
    points = sample_points(reference[0], num_points, motion_mask(reference) if mask is None else mask)
    with ThreadPoolExecutor(max_workers=2) as pool:  # OpenCV and torch release the GIL
        (gen_tracks, gen_vis), (ref_tracks, ref_vis) = pool.map(lambda v: tracker.track(v, points), (generated, reference))
    return motion_fidelity_from_tracks(gen_tracks, ref_tracks, gen_vis, ref_vis, direction, min_displacement)
