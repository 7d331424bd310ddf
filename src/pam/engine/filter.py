"""``pam filter``: score every finished clip, record the scores in the manifest, mark the worst fraction ``filtered``.

Scorers map a clip folder to named scores; the first name is the ranking key (higher is better):

- ``motion`` (default, offline, no learned weights): the generated video should move exactly as the 3D
  sequence says. Hand and object surface points visible in frame 0 (mesh vertices that the rendered
  instance ids and depth show, so they are on the visible surface) are tracked through the video with
  pam's Lucas-Kanade tracker and compared with their exact image trajectories, projected from the
  posed meshes and the camera, over the frames where each point stays visible. ``motion_px`` is the
  mean pixel error, ``motion`` = exp(-error / (0.05 x image diagonal)) in [0, 1].
- ``keypoints``: the paper's filter: a hand-pose estimator on every frame against the annotated joints.
  The estimator is pluggable (any object with ``estimate_2d``, see ``pam.metrics.hand_estimator``);
  ``make_scorer`` builds HaMeR (from ``$PAM_HOME/hamer/...`` or ``--hamer``; without its weights,
  ``MissingWeightsError``). Each hand is cropped by the box of its annotated 2D joints, and the predicted
  joints are projected into the image with the clip's intrinsics (``pam.metrics.hand_estimator``'s
  convention). ``keypoints_mpjpe_px`` is the 2D MPJPE in pixels, the mean distance over every joint of
  every hand in every frame where the hand is in view (at least one annotated joint inside the image);
  ``keypoints`` = exp(-MPJPE / (0.05 x image diagonal)) in [0, 1] (1 for a perfect estimate, 1/e at 5 %
  of the diagonal, 43 px at 480 x 720), so it ranks clips of one run exactly as the MPJPE does.

Filtering never deletes a folder; ``--keep`` can be changed and the filter rerun (scores are reused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from pam.engine.manifest import CLIPS, ClipResult, RunLock, append, read_rows

if TYPE_CHECKING:
    from pam.metrics.hand_estimator import HandKeypointEstimator

#: Frame-to-frame tolerance between a vertex's camera depth and the rendered depth for it to count as visible.
DEPTH_TOLERANCE_M = 0.01
#: Pixel error scale of the motion score, as a fraction of the image diagonal.
MOTION_SCALE = 0.05
#: Pixel MPJPE scale of the keypoint score, as a fraction of the image diagonal.
KEYPOINT_SCALE = 0.05


def pixel_score(error: float, height: int, width: int, scale: float) -> float:
    """A pixel error as a score in [0, 1]: exp(-error / (scale x image diagonal))."""
    return math.exp(-error / (scale * math.hypot(height, width)))


class Scorer(Protocol):
    names: tuple[str, ...]  # the first is the ranking key

    def __call__(self, clip: Path) -> dict[str, float]:
        """Scores of the clip folder ``clip``."""


def visible_surface_tracks(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Exact image trajectories of every hand and object vertex: uv (T, V, 2) pixels and visible (T, V) bool.

    A vertex is visible in a frame when it projects inside the image onto a pixel of its own mesh
    (``annotations.npz`` instance ids) whose rendered depth matches its own within ``DEPTH_TOLERANCE_M``.
    """
    from pam.fileio import load_arrays
    from pam.scene import build_scene
    from pam.sequence import HOISequence

    seq = HOISequence.load(folder / "sequence.npz")
    annotations = load_arrays(folder / "annotations.npz")
    depth, ids = annotations["depth"], annotations["instance_ids"]
    T, H, W = depth.shape
    cam = seq.camera
    uv, visible = [], []
    for mesh in build_scene(seq).meshes:
        points = np.stack([cam.world_to_camera(mesh.vertices[t], t) for t in range(T)])  # (T, V, 3)
        proj = points @ cam.K.T
        xy = proj[..., :2] / proj[..., 2:3]
        px = np.clip(np.rint(xy[..., 0]).astype(int), 0, W - 1)
        py = np.clip(np.rint(xy[..., 1]).astype(int), 0, H - 1)
        frames = np.arange(T)[:, None]
        inside = (points[..., 2] > 0) & (xy[..., 0] >= 0) & (xy[..., 0] <= W - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= H - 1)
        seen = (ids[frames, py, px] == mesh.instance_id) & (np.abs(depth[frames, py, px] - points[..., 2]) < DEPTH_TOLERANCE_M)
        uv.append(xy)
        visible.append(inside & seen)
    return np.concatenate(uv, axis=1), np.concatenate(visible, axis=1)


@dataclass
class MotionScorer:
    """Track visible surface points on the generated video and compare with their exact trajectories."""

    num_points: int = 64
    names: tuple[str, ...] = ("motion", "motion_px")

    def __call__(self, clip: Path) -> dict[str, float]:
        from pam.metrics.tracking import LucasKanadeTracker
        from pam.render.video import read_video

        uv, visible = visible_surface_tracks(clip)
        video = read_video(clip / "video.mp4", max_frames=len(uv))
        T, H, W = video.shape[:3]
        if T != len(uv):
            raise ValueError(f"{clip / 'video.mp4'}: {T} frames, but the sequence has {len(uv)}")
        start = np.flatnonzero(visible[0])
        if len(start) == 0:
            raise ValueError(f"{clip}: no hand or object surface is visible in frame 0")
        chosen = start[np.linspace(0, len(start) - 1, min(self.num_points, len(start))).round().astype(int)]
        tracks, tracked = LucasKanadeTracker().track(video, uv[0, chosen].astype(np.float32))
        valid = visible[:, chosen] & tracked
        valid[0] = False  # frame 0 is the query itself
        if not valid.any():
            raise ValueError(f"{clip}: the tracker kept no point beyond frame 0")
        error = float(np.linalg.norm(tracks - uv[:, chosen], axis=-1)[valid].mean())
        return {"motion": pixel_score(error, H, W, MOTION_SCALE), "motion_px": error}


class KeypointScorer:
    """The paper's filter: an estimator's 2D joints on every frame against the annotated ``joints_2d``."""

    names = ("keypoints", "keypoints_mpjpe_px")

    def __init__(self, estimator: HandKeypointEstimator):
        self.estimator = estimator

    def __call__(self, clip: Path) -> dict[str, float]:
        from pam.fileio import load_arrays
        from pam.metrics.hand_estimator import boxes_from_keypoints
        from pam.render.video import read_video

        annotations = load_arrays(clip / "annotations.npz")
        truth_all, K = annotations["joints_2d"], annotations["intrinsics"]  # (T, NH, 21, 2), (3, 3)
        video = read_video(clip / "video.mp4", max_frames=len(truth_all))
        T, H, W = video.shape[:3]
        if T != len(truth_all):
            raise ValueError(f"{clip / 'video.mp4'}: {T} frames, but the annotations have {len(truth_all)}")
        errors = []
        for h, side in enumerate(annotations["hand_sides"]):
            truth = truth_all[:, h]
            inside = (truth >= 0) & (truth <= np.array([W - 1, H - 1]))
            shown = inside.all(axis=-1).any(axis=-1)  # (T,) frames with a joint of this hand in the image
            if not shown.any():
                continue
            predicted = self.estimator.estimate_2d(video[shown], boxes_from_keypoints(truth[shown]), str(side), K)
            errors.append(np.linalg.norm(predicted - truth[shown], axis=-1))  # (n, 21)
        if not errors:
            raise ValueError(f"{clip}: no annotated hand is in view")
        error = float(np.concatenate(errors).mean())
        return {"keypoints": pixel_score(error, H, W, KEYPOINT_SCALE), "keypoints_mpjpe_px": error}


def make_scorer(name: str, hamer: str | None = None, device: str = "cpu") -> Scorer:
    if name == "motion":
        return MotionScorer()
    if name == "keypoints":
        from pam.metrics.hand_estimator import HaMeREstimator

        return KeypointScorer(HaMeREstimator(hamer, device=device))
    raise ValueError(f"--scorer: expected motion or keypoints, got {name!r}")


def select(rows: list[ClipResult], key: str, keep: float) -> tuple[list[ClipResult], list[ClipResult]]:
    """Split scored rows into (kept, dropped): the ``ceil(keep * n)`` best by ``scores[key]`` are kept
    (ties broken by clip id, so the split is deterministic)."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"--keep: expected a fraction in (0, 1], got {keep}")
    ranked = sorted(rows, key=lambda r: (-r.scores[key], r.clip_id))
    n_keep = math.ceil(keep * len(ranked) - 1e-9)
    return ranked[:n_keep], ranked[n_keep:]


@dataclass
class FilterReport:
    scored: int = 0
    kept: list[ClipResult] = field(default_factory=list)
    dropped: list[ClipResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # clip id -> why it was not scored


def filter_clips(out_root: str | Path, keep: float = 0.75, scorer: Scorer | None = None, rescore: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> FilterReport:
    """Score the finished clips of ``out_root`` (reusing recorded scores unless ``rescore``), append their
    rows with the scores and the new status, and rewrite the gallery."""
    from pam.engine.gallery import write_gallery

    out_root = Path(out_root)
    scorer = scorer or MotionScorer()
    key = scorer.names[0]
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"--keep: expected a fraction in (0, 1], got {keep}")
    if not (out_root / "manifest.jsonl").is_file():
        raise FileNotFoundError(f"{out_root}: no manifest.jsonl (not a pam generate output folder)")
    report = FilterReport()
    with RunLock(out_root):
        rows = [r for r in read_rows(out_root).values() if r.status in ("done", "filtered")]
        scored = []
        for i, row in enumerate(rows):
            if row.stage != "motion":
                report.skipped[row.clip_id] = f"stops at {row.stage} (no video)"
            elif key in row.scores and not rescore:
                scored.append(row)
            else:
                try:
                    scores = scorer(out_root / CLIPS / row.clip_id)
                except (OSError, ValueError) as err:
                    report.skipped[row.clip_id] = str(err)
                else:
                    scored.append(row.replace(scores={**row.scores, **scores}))
            if progress is not None:
                progress(i + 1, len(rows))
        report.scored = len(scored)
        kept, dropped = select(scored, key, keep)
        report.kept = [r.replace(status="done") for r in kept]
        report.dropped = [r.replace(status="filtered") for r in dropped]
        append(out_root, report.kept + report.dropped)
        write_gallery(out_root)
    return report
