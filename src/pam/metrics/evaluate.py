"""Evaluate a folder of generated videos against a folder of reference videos (``pam eval``).

Videos are paired by file name. Per pair: PSNR, SSIM, LPIPS (per frame, averaged), Motion
Fidelity and, when ground truth is given, MPJPE; over the whole set: FVD. A metric whose
pretrained file is missing is skipped with the message of :class:`MissingWeightsError` (what to
get and where to put it); it is never dropped silently or replaced by a made-up value.

Optional per-video files:

- conditions: ``<conditions_dir>/<stem>_*.<video>`` (e.g. ``clip_seg_mask.mp4``); shown in the
  report, and a condition whose name contains ``seg`` gives the first-frame foreground mask
  (non-black pixels) on which Motion Fidelity samples its points.
- MPJPE ground truth: ``<reference_dir>/<stem>.joints.npz`` with ``joints`` (T, 21, 3) metres,
  ``boxes`` (T, 4) xyxy pixels of the hand in the generated frames, and ``side`` ('right' or 'left').
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pam.fileio import atomic_path
from pam.metrics.fvd import fvd, i3d_features, load_i3d
from pam.metrics.hand_estimator import HaMeREstimator
from pam.metrics.hand_pose import mpjpe
from pam.metrics.image import psnr, ssim
from pam.metrics.lpips import LPIPS, lpips
from pam.metrics.motion_fidelity import MF_MODES, motion_fidelity
from pam.metrics.tracking import CoTracker3Tracker, LucasKanadeTracker
from pam.metrics.weights import MissingWeightsError
from pam.fileio import load_arrays
from pam.render.video import VideoError, read_video

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
ALL_METRICS = ("psnr", "ssim", "lpips", "mf", "fvd", "mpjpe")
DEFAULT_METRICS = ("psnr", "ssim", "lpips", "mf", "fvd")
TRACKERS = ("lk", "cotracker3")
#: Direction of "better" per metric, shown in tables.
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "mf": True, "fvd": False, "mpjpe": False}
THUMB_HEIGHT = 120
THUMB_FRAMES = 4


@dataclass
class VideoPair:
    name: str
    generated: Path
    reference: Path
    conditions: list[Path] = field(default_factory=list)


@dataclass
class EvalResult:
    """Per-video values ``per_video[name][metric]``, set-level ``summary[metric]`` (means, and FVD),
    ``skipped[metric]`` (why a metric was not computed) and ``notes`` (per-video adjustments)."""

    metrics: list[str]
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: name -> {"generated"/"reference"/condition stem: (k, h, w, 3) uint8 thumbnails}, for the report.
    thumbnails: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _videos(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a directory")
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()}


def pair_videos(generated_dir: str | os.PathLike, reference_dir: str | os.PathLike,
                conditions_dir: str | os.PathLike | None = None) -> tuple[list[VideoPair], list[str]]:
    """Pair videos with the same file name; returns (pairs, messages about unpaired files)."""
    gen, ref = _videos(Path(generated_dir)), _videos(Path(reference_dir))
    cond = _videos(Path(conditions_dir)) if conditions_dir is not None else {}
    stems = sorted(Path(name).stem for name in gen.keys() & ref.keys())
    owner = {}  # condition file -> the longest paired stem it starts with ("val_video_seg" -> "val_video", not "val")
    for n in cond:
        matches = [stem for stem in stems if n.startswith(stem + "_")]
        if matches:
            owner[n] = max(matches, key=len)
    pairs = []
    for name in sorted(gen.keys() & ref.keys()):
        stem = Path(name).stem
        conditions = [cond[n] for n, o in owner.items() if o == stem]
        pairs.append(VideoPair(stem, gen[name], ref[name], conditions))
    messages = [f"generated video without a reference: {n}" for n in sorted(gen.keys() - ref.keys())]
    messages += [f"reference video without a generated one: {n}" for n in sorted(ref.keys() - gen.keys())]
    return pairs, messages


def _thumbs(video: np.ndarray) -> np.ndarray:
    idx = np.linspace(0, len(video) - 1, min(THUMB_FRAMES, len(video))).round().astype(int)
    h, w = video.shape[1:3]
    size = (max(1, round(w * THUMB_HEIGHT / h)), THUMB_HEIGHT)
    return np.stack([cv2.resize(video[i], size, interpolation=cv2.INTER_AREA) for i in idx])


def _conform(name: str, generated: np.ndarray, reference: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Same length (the shorter) and same frame size (the reference resized to the generated)."""
    t = min(len(generated), len(reference))
    if len(generated) != len(reference):
        notes.append(f"{name}: {len(generated)} generated vs {len(reference)} reference frames; compared the first {t}")
    generated, reference = generated[:t], reference[:t]
    if generated.shape[1:3] != reference.shape[1:3]:
        h, w = generated.shape[1:3]
        notes.append(f"{name}: reference {reference.shape[2]}x{reference.shape[1]} resized to the generated {w}x{h}")
        reference = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in reference])
    return generated, reference


def _foreground_mask(conditions: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray | None:
    """Non-black pixels of the first frame of the segmentation condition, resized to ``shape`` (H, W)."""
    seg = next((video for kind, video in conditions.items() if "seg" in kind), None)
    if seg is None:
        return None
    first = cv2.resize(seg[0], (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    mask = first.max(axis=-1) > 32
    return mask if mask.any() else None


def check_options(metrics, tracker: str, mf_mode: str) -> None:
    """Raise ValueError naming the bad option: unknown metric, tracker or Motion Fidelity direction."""
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"metrics: unknown {', '.join(unknown)}; choose from {','.join(ALL_METRICS)}")
    if tracker not in TRACKERS:
        raise ValueError(f"tracker: expected one of {', '.join(TRACKERS)}, got {tracker!r}")
    if mf_mode not in MF_MODES:
        raise ValueError(f"mf_mode: expected one of {', '.join(MF_MODES)}, got {mf_mode!r}")


class _Metrics:
    """The loaded models of the requested metrics; those that cannot load go to ``skipped``."""

    def __init__(self, metrics: list[str], skipped: dict[str, str], tracker: str, device: str):
        self.lpips = self.i3d = self.tracker = self.hamer = None
        if "lpips" in metrics:
            self.lpips = self._load("lpips", skipped, lambda: LPIPS.from_pretrained().to(device))
        if "fvd" in metrics:
            self.i3d = self._load("fvd", skipped, lambda: load_i3d(device=device))
        if "mf" in metrics:
            make = LucasKanadeTracker if tracker == "lk" else lambda: CoTracker3Tracker(device=device)
            self.tracker = self._load("mf", skipped, make)
        if "mpjpe" in metrics:
            self.hamer = self._load("mpjpe", skipped, lambda: HaMeREstimator(device=device))

    @staticmethod
    def _load(metric: str, skipped: dict[str, str], make: Callable):
        try:
            return make()
        except (MissingWeightsError, ImportError) as exc:
            skipped[metric] = str(exc)
            return None


def evaluate(pairs: list[VideoPair], metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS, tracker: str = "lk",
             mf_mode: str = "both", fvd_frames: int = 49, device: str = "cpu",
             progress: Callable[[int, int], None] | None = None, thumbnails: bool = True) -> EvalResult:
    """Compute ``metrics`` over ``pairs``; ``progress(done, total)`` is called before and after each pair.

    A pair that cannot be read or measured is left out of every value (per video, means and FVD) and
    named in ``notes``. ``thumbnails`` keeps small frames of each video for the HTML report.
    """
    check_options(metrics, tracker, mf_mode)
    result = EvalResult(metrics=[m for m in ALL_METRICS if m in metrics])
    models = _Metrics(result.metrics, result.skipped, tracker, device)
    gen_feats, ref_feats = [], []
    for i, pair in enumerate(pairs):
        if progress is not None:
            progress(i, len(pairs))
        try:
            row, notes, thumbs, feats = _evaluate_pair(pair, result.metrics, models, mf_mode, fvd_frames, thumbnails)
        except (VideoError, ValueError) as exc:
            result.notes.append(f"{pair.name}: skipped: {exc}")
            continue
        result.per_video[pair.name] = row
        result.notes.extend(notes)
        if thumbs:
            result.thumbnails[pair.name] = thumbs
        if feats is not None:
            gen_feats.append(feats[0])
            ref_feats.append(feats[1])
    if progress is not None:
        progress(len(pairs), len(pairs))
    for m in result.metrics:
        values = [row[m] for row in result.per_video.values() if m in row]
        if values:
            result.summary[m] = float(np.mean(values))
    if models.i3d is not None:
        if len(gen_feats) >= 2:
            result.summary["fvd"] = fvd(np.concatenate(gen_feats), np.concatenate(ref_feats))
        else:
            result.skipped["fvd"] = f"FVD needs at least 2 pairs of at least {fvd_frames} frames, got {len(gen_feats)}"
    return result


def _evaluate_pair(pair: VideoPair, metrics: list[str], models: _Metrics, mf_mode: str, fvd_frames: int,
                   thumbnails: bool):
    """One pair's values, notes, thumbnails and I3D features (None when left out of FVD); raises on
    unreadable or unmeasurable input, so nothing of a failed pair is kept."""
    generated, reference = read_video(pair.generated), read_video(pair.reference)
    kinds = {cond.stem[len(pair.name) + 1:]: cond for cond in pair.conditions}
    conditions = {kind: read_video(path) for kind, path in kinds.items() if thumbnails or "seg" in kind}
    thumbs = {}
    if thumbnails:
        thumbs = {"generated": _thumbs(generated), "reference": _thumbs(reference)}
        thumbs.update({kind: _thumbs(video) for kind, video in conditions.items()})
    notes, feats = [], None
    if models.i3d is not None:
        g, short_g = i3d_features([generated], models.i3d, fvd_frames)
        r, short_r = i3d_features([reference], models.i3d, fvd_frames)
        if short_g or short_r:
            notes.append(f"{pair.name}: left out of FVD, fewer than {fvd_frames} frames")
        else:
            feats = (g, r)
    generated, reference = _conform(pair.name, generated, reference, notes)
    row = {}
    if "psnr" in metrics:
        row["psnr"] = float(np.mean(psnr(generated, reference)))
    if "ssim" in metrics:
        row["ssim"] = float(np.mean(ssim(generated, reference)))
    if models.lpips is not None:
        row["lpips"] = float(np.mean(lpips(generated, reference, models.lpips)))
    if models.tracker is not None:
        mask = _foreground_mask(conditions, generated.shape[1:3])
        row["mf"] = motion_fidelity(generated, reference, models.tracker, mask=mask, mode=mf_mode)
    if models.hamer is not None:
        _mpjpe(pair, generated, models.hamer, row, notes)
    return row, notes, thumbs, feats


def _mpjpe(pair: VideoPair, generated: np.ndarray, estimator, row: dict, notes: list[str]) -> None:
    gt_file = pair.reference.with_name(pair.name + ".joints.npz")
    if not gt_file.is_file():
        notes.append(f"{pair.name}: no MPJPE ground truth ({gt_file} with joints, boxes, side)")
        return
    gt = load_arrays(gt_file)
    missing = {"joints", "boxes", "side"} - gt.keys()
    if missing:
        raise ValueError(f"{gt_file}: MPJPE ground truth lacks {sorted(missing)} (needs joints, boxes, side)")
    joints, boxes, side = gt["joints"], gt["boxes"], str(gt["side"])
    t = min(len(generated), len(joints), len(boxes))
    row["mpjpe"] = mpjpe(estimator.estimate(generated[:t], boxes[:t], side), joints[:t])


def _plain(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # JSON has no inf/nan: "inf", "nan"


def write_json(result: EvalResult, path: str | os.PathLike) -> None:
    """Per-video values, summary, skipped metrics with reasons, and notes, as JSON."""
    doc = {
        "metrics": result.metrics,
        "summary": {k: _plain(v) for k, v in result.summary.items()},
        "per_video": {n: {k: _plain(v) for k, v in row.items()} for n, row in result.per_video.items()},
        "skipped": result.skipped,
        "notes": result.notes,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def write_csv(result: EvalResult, path: str | os.PathLike) -> None:
    """One row per video plus a final ``mean`` row (which also holds FVD); empty cells = not computed."""
    cols = result.metrics
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", *cols])
        for name, row in result.per_video.items():
            w.writerow([name, *(row.get(m, "") for m in cols)])
        w.writerow(["mean", *(result.summary.get(m, "") for m in cols)])
