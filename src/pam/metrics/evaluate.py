"""Evaluate a folder of generated videos against a folder of reference videos (``pam eval``).

Videos are paired by name: the file stem of a flat video (``<root>/<id>.mp4``), or the clip id
of a clip folder (``<root>/<id>/video.mp4`` or ``<root>/clips/<id>/video.mp4``). Per pair: PSNR, SSIM, LPIPS (per frame, averaged), Motion
Fidelity and, when ground truth is given, MPJPE; over the whole set: FVD. A metric whose
pretrained file is missing is skipped with the message of :class:`MissingWeightsError` (what to
get and where to put it); it is never dropped silently or replaced by a made-up value.

Optional per-video files:

- conditions: ``<conditions_dir>/<stem>_*.<video>`` (e.g. ``clip_seg_mask.mp4``), or without a
  conditions folder the other videos of the reference's clip folder (``seg.mp4``, ...); shown in
  the report, and a condition whose name contains ``seg`` gives the first-frame foreground mask
  (non-black pixels) on which Motion Fidelity samples its points.
- MPJPE ground truth: ``<reference_dir>/<stem>.joints.npz`` with ``joints`` (T, 21, 3) metres,
  ``boxes`` (T, 4) xyxy pixels of the hand in the generated frames, and ``side`` ('right' or 'left').
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pam import __version__
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
    #: condition kind ("seg_mask", "depth", ...) -> video
    conditions: dict[str, Path] = field(default_factory=dict)


@dataclass
class EvalResult:
    """Per-video values ``per_video[name][metric]``, set-level ``summary[metric]`` (means, and FVD),
    ``skipped[metric]`` (why a metric was not computed), ``notes`` (per-video adjustments), the
    ``settings`` it ran with, ``frames[name]`` compared per video, ``short`` (videos with fewer
    frames than the clip length asked, ``settings["fvd_frames"]``) and ``unpaired`` videos
    (``{"generated": [...], "reference": [...]}``, names without a partner)."""

    metrics: list[str]
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    short: list[str] = field(default_factory=list)
    unpaired: dict[str, list[str]] = field(default_factory=lambda: {"generated": [], "reference": []})
    #: name -> {"generated"/"reference"/condition kind: (k, h, w, 3) uint8 thumbnails}, for the report.
    thumbnails: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def status(self, name: str) -> str:
        """What a table row of video ``name`` needs to say besides its values ("" when nothing)."""
        if name in self.unpaired["generated"]:
            return "no reference video"
        if name in self.unpaired["reference"]:
            return "no generated video"
        if name in self.short:
            return f"short: {self.frames[name]} of {self.settings.get('fvd_frames')} frames"
        return ""


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _clip_video(folder: Path) -> Path | None:
    """``video.<ext>`` of a clip folder, or None."""
    return next((p for p in sorted(folder.glob("video.*")) if _is_video(p)), None)


def _videos(folder: Path) -> dict[str, Path]:
    """Name -> video of a folder: flat videos by stem, clip folders (``<id>/video.mp4``, also under
    ``clips/``) by id. Two videos of one name are an error."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a directory")
    found: dict[str, Path] = {}
    for base in (folder, folder / "clips"):
        for p in sorted(base.iterdir()) if base.is_dir() else ():
            name, video = (p.stem, p) if _is_video(p) else (p.name, _clip_video(p) if p.is_dir() else None)
            if video is None:
                continue
            if name in found:
                raise ValueError(f"{folder}: two videos named {name!r}: {found[name]} and {video}")
            found[name] = video
    return found


def _clip_conditions(video: Path) -> dict[str, Path]:
    """The other videos of ``video``'s clip folder (kind = file stem)."""
    return {p.stem: p for p in sorted(video.parent.iterdir()) if _is_video(p) and p != video}


def pair_videos(generated_dir: str | os.PathLike, reference_dir: str | os.PathLike,
                conditions_dir: str | os.PathLike | None = None) -> tuple[list[VideoPair], dict[str, list[str]]]:
    """Pair videos of the same name; returns (pairs, unpaired names ``{"generated": [...], "reference": [...]}``)."""
    gen, ref = _videos(Path(generated_dir)), _videos(Path(reference_dir))
    names = sorted(gen.keys() & ref.keys())
    if conditions_dir is None:  # clip folders bring their own
        cond = {n: _clip_conditions(ref[n]) for n in names if ref[n].parent != Path(reference_dir)}
    else:
        cond = {}
        # a condition file goes to the longest paired name it starts with ("val_video_seg" -> "val_video", not "val")
        for n, path in _videos(Path(conditions_dir)).items():
            owners = [name for name in names if n.startswith(name + "_")]
            if owners:
                owner = max(owners, key=len)
                cond.setdefault(owner, {})[n[len(owner) + 1:]] = path
    pairs = [VideoPair(n, gen[n], ref[n], cond.get(n, {})) for n in names]
    return pairs, {"generated": sorted(gen.keys() - ref.keys()), "reference": sorted(ref.keys() - gen.keys())}


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


def check_options(metrics, tracker: str, mf_mode: str, fvd_frames: int = 49) -> None:
    """Raise ValueError naming the bad option: unknown metric, tracker or Motion Fidelity mode, or a
    clip length that is not a positive whole number."""
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"metrics: unknown {', '.join(unknown)}; choose from {','.join(ALL_METRICS)}")
    if tracker not in TRACKERS:
        raise ValueError(f"tracker: expected one of {', '.join(TRACKERS)}, got {tracker!r}")
    if mf_mode not in MF_MODES:
        raise ValueError(f"mf_mode: expected one of {', '.join(MF_MODES)}, got {mf_mode!r}")
    if isinstance(fvd_frames, bool) or not isinstance(fvd_frames, (int, np.integer)) or fvd_frames < 1:
        raise ValueError(f"fvd_frames: expected a whole number of frames >= 1, got {fvd_frames!r}")


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
    check_options(metrics, tracker, mf_mode, fvd_frames)
    result = EvalResult(metrics=[m for m in ALL_METRICS if m in metrics])
    result.settings = {"metrics": result.metrics, "tracker": tracker, "mf_mode": mf_mode, "fvd_frames": fvd_frames,
                       "device": device, "pam_version": __version__}
    models = _Metrics(result.metrics, result.skipped, tracker, device)
    gen_feats, ref_feats = [], []
    for i, pair in enumerate(pairs):
        if progress is not None:
            progress(i, len(pairs))
        try:
            row, frames, notes, thumbs, feats = _evaluate_pair(pair, result.metrics, models, mf_mode, fvd_frames,
                                                               thumbnails)
        except (VideoError, ValueError) as exc:
            result.notes.append(f"{pair.name}: skipped: {exc}")
            continue
        result.per_video[pair.name] = row
        result.frames[pair.name] = frames
        if frames < fvd_frames:
            result.short.append(pair.name)
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
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result.summary["fvd"] = fvd(np.concatenate(gen_feats), np.concatenate(ref_feats))
            result.notes += [f"FVD: {w.message}" for w in caught]
        else:
            result.skipped["fvd"] = f"FVD needs at least 2 pairs of at least {fvd_frames} frames, got {len(gen_feats)}"
    return result


def _evaluate_pair(pair: VideoPair, metrics: list[str], models: _Metrics, mf_mode: str, fvd_frames: int,
                   thumbnails: bool):
    """One pair's values, frames compared, notes, thumbnails and I3D features (None when left out of
    FVD); raises on unreadable or unmeasurable input, so nothing of a failed pair is kept."""
    generated, reference = read_video(pair.generated), read_video(pair.reference)
    conditions = {kind: read_video(path) for kind, path in pair.conditions.items() if thumbnails or "seg" in kind}
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
    return row, len(generated), notes, thumbs, feats


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
    """Settings, per-video values and frames, summary, short and unpaired videos, skipped metrics
    with reasons, and notes, as JSON."""
    doc = {
        "settings": result.settings,
        "metrics": result.metrics,
        "summary": {k: _plain(v) for k, v in result.summary.items()},
        "per_video": {n: {k: _plain(v) for k, v in row.items()} for n, row in result.per_video.items()},
        "frames": result.frames,
        "short": result.short,
        "unpaired": result.unpaired,
        "skipped": result.skipped,
        "notes": result.notes,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=str))


def table_rows(result: EvalResult) -> list[tuple[str, dict[str, float], int | None, str]]:
    """(name, values, frames, status) per evaluated video, then per unpaired video (no values)."""
    rows = [(n, row, result.frames.get(n), result.status(n)) for n, row in result.per_video.items()]
    rows += [(n, {}, None, result.status(n)) for side in ("generated", "reference") for n in result.unpaired[side]]
    return rows


def write_csv(result: EvalResult, path: str | os.PathLike) -> None:
    """One row per video (frames compared and a status: short clip, unpaired) plus a final ``mean``
    row (which also holds FVD); empty cells = not computed."""
    cols = result.metrics
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", *cols, "frames", "status"])
        for name, row, frames, status in table_rows(result):
            w.writerow([name, *(row.get(m, "") for m in cols), "" if frames is None else frames, status])
        w.writerow(["mean", *(result.summary.get(m, "") for m in cols), "", ""])
