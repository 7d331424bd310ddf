"""Motion Fidelity (MF) between a generated and a reference video, from point tracks.

The metric of the motion-transfer paper (Yatim et al. 2024, ``motion_fidelity_score.py``) as used
by PAM (REFERENCE.md, "Evaluation"), in three modes (docs/metrics.md explains them):

- ``published``: the published script's formula exactly. Displacements are divided by their
  norm; ``corr(tau, tau~)`` is the mean over frames of the cosine between the two tracks'
  displacements; the identity is subtracted from the (generated x reference) ``corr`` matrix
  (the two track sets come from the same query points); MF is the mean over generated tracks of
  the row maximum. No still threshold, no visibility filter. Where the published code divides
  0 by 0 (a displacement of length exactly 0, which makes its score NaN), the cosine is 0.
- ``both`` (default) and ``generated_to_reference``: the same cosines, made robust to still
  points, so that a frozen video cannot score well:

  * a displacement shorter than ``min_displacement`` pixels (default 0.5, above the trackers'
    noise on still points of a re-encoded video, whose random directions would otherwise count)
    is *still*; moving vs moving scores the cosine, still vs moving 0 (no agreement), and frames
    where both are still carry no direction and are left out: ``corr(a, b)`` is the mean over
    the frames where ``a`` or ``b`` moves;
  * each track's best-match ``corr`` is weighted by the number of frames it moves (a track that
    never moves has nothing to match); the directional score X -> Y is the weighted mean over X's
    tracks, ``both`` pools the tracks of both videos (the weighted mean of both directions).
    Two videos where nothing moves agree (1); a still one against a moving one scores 0;
  * frames where either point is not visible are left out, and tracks visible over less than
    ``min_visible`` of the frame steps are dropped first, so that a track lost early cannot be
    anyone's best match.

Scores lie in [-1, 1]; identical videos score 1 in the two robust modes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from pam.metrics.image import check_video_pair
from pam.metrics.tracking import (LucasKanadeTracker, PointTracker, motion_mask, published_query_points,
                                  sample_points)

MF_MODES = ("both", "generated_to_reference", "published")
MFMode = Literal["both", "generated_to_reference", "published"]


def _displacements(tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame displacements of tracks (T, N, 2): unit vectors (T-1, N, 2) (0 where the length
    is 0) and lengths (T-1, N), float64."""
    d = np.diff(tracks.astype(np.float64), axis=0)
    norm = np.linalg.norm(d, axis=-1)
    unit = np.divide(d, norm[..., None], out=np.zeros_like(d), where=norm[..., None] > 0)
    return unit, norm


def _check_tracks(tracks_a: np.ndarray, tracks_b: np.ndarray) -> None:
    if (tracks_a.ndim != 3 or tracks_b.ndim != 3 or tracks_a.shape[-1] != 2 or tracks_b.shape[-1] != 2
            or tracks_a.shape[0] != tracks_b.shape[0] or tracks_a.shape[0] < 2):
        raise ValueError(f"tracks: expected (T, N, 2) arrays with equal T >= 2, got {tracks_a.shape} and {tracks_b.shape}")


def published_motion_fidelity(generated_tracks: np.ndarray, reference_tracks: np.ndarray) -> float:
    """The published script's MF of tracks (T, N, 2) from the same N query points in both videos."""
    _check_tracks(generated_tracks, reference_tracks)
    if generated_tracks.shape[1] != reference_tracks.shape[1]:
        raise ValueError(f"tracks: the published formula needs the same points in both videos, got "
                         f"{generated_tracks.shape[1]} and {reference_tracks.shape[1]}")
    ug, _ = _displacements(generated_tracks)
    ur, _ = _displacements(reference_tracks)
    sim = np.einsum("tnc,tmc->nm", ug, ur) / ug.shape[0]
    return float((sim - np.eye(len(sim))).max(axis=1).mean())


def track_similarity(tracks_a: np.ndarray, tracks_b: np.ndarray, visible_a: np.ndarray | None = None,
                     visible_b: np.ndarray | None = None, min_displacement: float = 0.5) -> np.ndarray:
    """corr between every track of ``a`` (T, Na, 2) and of ``b`` (T, Nb, 2): returns (Na, Nb).

    The mean cosine over the frames where both points are visible and at least one moves; NaN for
    a pair without such a frame.
    """
    _check_tracks(tracks_a, tracks_b)
    ua, na = _displacements(tracks_a)
    ub, nb = _displacements(tracks_b)
    va, vb = _valid(visible_a, na.shape), _valid(visible_b, nb.shape)
    ma, mb = na >= min_displacement, nb >= min_displacement
    # cosines where both are visible and move (a still displacement has no direction: cosine 0)
    total = np.einsum("tac,tbc->ab", ua * (ma & va)[..., None], ub * (mb & vb)[..., None])
    # frames where both are visible, less those where both are still
    count = va.T.astype(np.float64) @ vb - (va & ~ma).T.astype(np.float64) @ (vb & ~mb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _valid(visible: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Frame steps (T-1, N) where the point is visible at both ends."""
    return np.ones(shape, bool) if visible is None else visible[1:] & visible[:-1]


def _best(sim: np.ndarray, axis: int) -> np.ndarray:
    """Best-match corr of each track along ``axis`` of ``sim``, ignoring NaN (0 when all are NaN)."""
    best = np.nan_to_num(sim, nan=-np.inf).max(axis=axis)
    return np.where(np.isfinite(best), best, 0.0)


def motion_fidelity_from_tracks(generated_tracks: np.ndarray, reference_tracks: np.ndarray,
                                generated_visible: np.ndarray | None = None,
                                reference_visible: np.ndarray | None = None, mode: MFMode = "both",
                                min_displacement: float = 0.5, min_visible: float = 0.5) -> float:
    """MF from tracks (T, N, 2) and visibility (T, N) in ``mode`` (see the module docstring)."""
    if mode == "published":
        return published_motion_fidelity(generated_tracks, reference_tracks)
    if mode not in MF_MODES:
        raise ValueError(f"mode: expected one of {', '.join(MF_MODES)}, got {mode!r}")
    _check_tracks(generated_tracks, reference_tracks)
    kept = []
    for name, tracks, visible in (("generated", generated_tracks, generated_visible),
                                  ("reference", reference_tracks, reference_visible)):
        valid = _valid(visible, (tracks.shape[0] - 1, tracks.shape[1]))
        keep = valid.mean(axis=0) >= min_visible
        if not keep.any():
            raise ValueError(f"motion fidelity: no {name} track is visible over {min_visible:.0%} of the frames")
        tracks, valid = tracks[:, keep], valid[:, keep]
        moving = _displacements(tracks)[1] >= min_displacement
        weight = (moving & valid).sum(axis=0)  # frames each track moves: its motion evidence
        kept.append((tracks, None if visible is None else visible[:, keep], weight))
    (gen_t, gen_v, gen_w), (ref_t, ref_v, ref_w) = kept
    sim = track_similarity(gen_t, ref_t, gen_v, ref_v, min_displacement)
    scored = [(gen_w, _best(sim, axis=1))]  # generated -> reference
    if mode == "both":
        scored.append((ref_w, _best(sim, axis=0)))
    weight = sum(w.sum() for w, _ in scored)
    if weight == 0:  # nothing moves on the scored side: agreement only if nothing moves in the reference either
        return 1.0 if ref_w.sum() == 0 else 0.0
    weighted = sum(w @ b for w, b in scored)
    return float(weighted / weight)


def motion_fidelity(generated: np.ndarray, reference: np.ndarray, tracker: PointTracker | None = None,
                    num_points: int = 100, mask: np.ndarray | None = None, mode: MFMode = "both",
                    min_displacement: float = 0.5) -> float:
    """MF between two uint8 videos (T, H, W, 3) of equal shape.

    ``mask`` (H, W) bool is the first-frame hand/object foreground. Query points on the
    reference's first frame: in ``published`` mode, the script's 55 x 55 grid inside the bounding
    box of ``mask`` (the whole frame without one, see :func:`published_query_points`); otherwise
    ``num_points`` points inside ``mask``, or without one inside the reference's
    :func:`motion_mask` (what moves, for a still camera), or on texture if nothing moves. They are
    tracked from the same positions in both videos, in two threads, with ``tracker`` (default:
    :class:`LucasKanadeTracker`).
    """
    check_video_pair(generated, reference)
    if mode not in MF_MODES:
        raise ValueError(f"mode: expected one of {', '.join(MF_MODES)}, got {mode!r}")
    tracker = tracker or LucasKanadeTracker()
    if mode == "published":
        points = published_query_points(reference.shape[1:3], mask)
    else:
        points = sample_points(reference[0], num_points, motion_mask(reference) if mask is None else mask)
    with ThreadPoolExecutor(max_workers=2) as pool:  # OpenCV and torch release the GIL
        (gen_tracks, gen_vis), (ref_tracks, ref_vis) = pool.map(lambda v: tracker.track(v, points), (generated, reference))
    return motion_fidelity_from_tracks(gen_tracks, ref_tracks, gen_vis, ref_vis, mode, min_displacement)
