"""``pam dataset build``: dataset clips -> clip folders (RGB video, conditions, sequence, prompt, meta).

For each ``ClipRef`` of a split: the reader's poses and RGB frames are resized to the clip size,
pam's renderer draws the conditions from the annotations (exact depth, segmentation, keypoints and
normals), and everything lands in one clip folder, the layout ``pam generate`` writes, so real and
synthetic clips train the same way.

Resize policy (as the PAM release): frames are **stretched** to ``height x width`` (DexYCB's
640 x 480 to 720 x 480: x scaled by 9/8, y unchanged), never cropped or padded, and the
intrinsics follow with the same pixel-centre mapping as the image resize:
``fx' = fx * sx``, ``cx' = (cx + 0.5) * sx - 0.5`` (likewise y), ``sx = width / W``,
``sy = height / H`` (plain ``cx * sx`` would be 0.06 px off at 9/8). Frames where the dataset
has no hand (``meta["hand_valid"]`` False) are rendered without it: the hand is parked 1 m
behind the camera, so no condition shows it, and ``hand_valid`` goes into ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pam.data.readers import DatasetError, DatasetReader, make_reader
from pam.data.refs import ClipRef
from pam.sequence import Camera, HOISequence

#: The prompt of a clip without a caption or a dataset description.
PROMPT_TEMPLATE = "a hand grasps {object}"
#: Hand-keypoint limb widths per dataset (REFERENCE.md).
KEYPOINT_STYLE = {"dexycb": "dexycb", "oakink2": "oakink2"}
#: Distance (m) behind the camera where a frame's missing hand is parked.
PARK_DISTANCE = 1.0


@dataclass(frozen=True)
class BuildOptions:
    """What ``pam dataset build`` does; see ``docs/data.md``."""

    source: str
    root: Path
    split: str
    out: Path
    captions: Path | None = None
    limit: int | None = None
    num_frames: int = 49
    height: int = 480
    width: int = 720
    mano_dir: Path | None = None
    backend: str | None = None
    #: (k, n): build only clips k, k + n, k + 2n, ... of the split, so n processes share a split.
    shard: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        k, n = self.shard
        if not 0 <= k < n:
            raise DatasetError(f"shard {k}/{n}: need 0 <= k < n")
        if self.height < 2 or self.width < 2 or self.num_frames < 1:
            raise DatasetError(f"clip size must be at least 1 frame of 2 x 2 px, got {self.num_frames} x "
                               f"{self.height} x {self.width}")
        if self.limit is not None and self.limit < 1:
            raise DatasetError(f"--limit must be at least 1, got {self.limit}")


@dataclass
class BuildReport:
    """Clip ids built, skipped (already complete) and failed (with the error), and the wall time."""

    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def resize_camera(camera: Camera, height: int, width: int) -> Camera:
    """The camera of the image stretched to ``height x width`` (pixel centres mapped as the resize maps them)."""
    sx, sy = width / camera.width, height / camera.height
    K = camera.K.copy()
    K[0, :] *= sx
    K[1, :] *= sy
    K[0, 2] = (camera.K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (camera.K[1, 2] + 0.5) * sy - 0.5
    return Camera(K=K, R=camera.R, t=camera.t, height=height, width=width)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, height, width, 3), stretched (area filter when shrinking, else bilinear)."""
    import cv2

    T, H, W, _ = frames.shape
    if (H, W) == (height, width):
        return frames
    interpolation = cv2.INTER_AREA if height <= H and width <= W else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def park_missing_hands(seq: HOISequence) -> HOISequence:
    """A copy of ``seq`` whose hands sit ``PARK_DISTANCE`` behind the camera in frames where
    ``meta["hand_valid"]`` is False (so no condition draws them)."""
    valid = seq.meta.get("hand_valid", {})
    hands = []
    for hand in seq.hands:
        missing = ~np.asarray(valid.get(hand.side, [True] * seq.num_frames), dtype=bool)
        transl = hand.transl.copy()
        for t in np.flatnonzero(missing):
            R, tr = seq.camera.extrinsics(t)
            centre, forward = -R.T @ tr, R[2]
            transl[t] = centre - PARK_DISTANCE * forward
        hands.append(dataclasses.replace(hand, transl=transl))
    return dataclasses.replace(seq, hands=hands)


def load_captions(path: Path) -> dict[str, str]:
    """Captions: a JSON object ``{clip_id or sequence: text}``, or lines ``<clip_id or sequence><TAB><text>``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such captions file")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            captions = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(captions, dict) or not all(isinstance(v, str) for v in captions.values()):
            raise DatasetError(f"{path}: expected a JSON object of clip id or sequence -> text")
        return captions
    captions = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, caption = line.partition("\t")
        if not sep or not caption.strip():
            raise DatasetError(f"{path}:{number}: expected '<clip id or sequence><TAB><text>'")
        captions[key.strip()] = caption.strip()
    return captions


def _article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def clip_prompt(ref: ClipRef, seq: HOISequence, captions: dict[str, str]) -> str:
    """The caption of the clip id, else of its sequence, else the dataset's description, else
    ``PROMPT_TEMPLATE`` over the objects the reader names (``meta["source"]["objects"]``)."""
    for key in (ref.clip_id, ref.sequence):
        if key in captions:
            return captions[key]
    if ref.prompt:
        return ref.prompt
    objects = seq.meta.get("source", {}).get("objects") or [o.name for o in seq.objects]
    return PROMPT_TEMPLATE.format(object=" and ".join(_article(name) for name in objects))


def build_clip(reader: DatasetReader, ref: ClipRef, options: BuildOptions, captions: dict[str, str]):
    """Write the clip folder ``options.out / ref.clip_id`` (replacing an incomplete one); returns it."""
    from pam.conditions import write_condition_set
    from pam.data.clip_folder import write_clip_folder
    from pam.render.video import write_video

    started = time.perf_counter()
    seq = reader.sequence(ref)
    frames = reader.frames(ref)
    if frames is None:
        raise DatasetError(f"{ref.dataset} has no video; `pam dataset build` needs RGB frames")
    native = (seq.camera.height, seq.camera.width)
    if frames.shape[:3] != (seq.num_frames, *native):
        raise DatasetError(f"{ref.clip_id}: {frames.shape[0]} frames of {frames.shape[2]} x {frames.shape[1]} px, "
                           f"but the annotations describe {seq.num_frames} of {native[1]} x {native[0]}")
    seq = park_missing_hands(dataclasses.replace(seq, camera=resize_camera(seq.camera, options.height, options.width)))
    with tempfile.TemporaryDirectory(dir=options.out, prefix=f".build-{ref.clip_id}-") as tmp:
        tmp = Path(tmp)
        written = write_condition_set(seq, tmp, style=KEYPOINT_STYLE.get(ref.dataset, "dexycb"),
                                      backend=options.backend, mano_dir=options.mano_dir)
        files = {path.name: path for path in written.values()}
        rgb = resize_frames(frames, options.height, options.width)
        files["video.mp4"] = write_video(tmp / "video.mp4", rgb, fps=seq.fps)
        files["sequence.npz"] = seq.save(tmp / "sequence.npz")
        meta = {
            "source": seq.meta["source"],
            "hand_valid": seq.meta["hand_valid"],
            "build": {"height": options.height, "width": options.width, "num_frames": seq.num_frames, "fps": seq.fps,
                      "native_size": list(native), "resize": "stretch", "seconds": round(time.perf_counter() - started, 3)},
        }
        target = options.out / ref.clip_id
        return write_clip_folder(options.out, ref.clip_id, files, meta, clip_prompt(ref, seq, captions),
                                 replace=target.exists())


def build_dataset(
    options: BuildOptions,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
) -> BuildReport:
    """Build every clip of ``options.split`` (the first ``limit``, then this process's ``shard``)
    into ``options.out``.

    Folders that already validate are skipped (a rerun resumes); a clip that fails is reported
    through ``on_failure(clip_id, error)`` and left out, and the build goes on. Missing MANO files
    (``MissingWeightsError``) stop the build: every clip needs them.
    """
    from pam.data.clip_folder import is_complete
    from pam.home import MissingWeightsError

    started = time.perf_counter()
    reader = make_reader(options.source, options.root, num_frames=options.num_frames, mano_dir=options.mano_dir)
    refs = list(itertools.islice(reader.clips(options.split), options.limit))
    if not refs:
        raise DatasetError(f"{options.root}: split {options.split!r} has no clips of {options.num_frames} frames")
    k, n = options.shard
    refs = refs[k::n]
    captions = load_captions(options.captions) if options.captions is not None else {}
    options.out.mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    for done, ref in enumerate(refs, 1):
        if is_complete(options.out / ref.clip_id):
            report.skipped.append(ref.clip_id)
        else:
            try:
                build_clip(reader, ref, options, captions)
                report.built.append(ref.clip_id)
            except MissingWeightsError:
                raise  # no MANO files: every clip would fail alike
            except Exception as exc:  # one bad clip must not stop a long build: report it and go on
                error = f"{type(exc).__name__}: {exc}"
                report.failed.append((ref.clip_id, error))
                if on_failure is not None:
                    on_failure(ref.clip_id, error)
        if progress is not None:
            progress(done, len(refs))
    report.seconds = time.perf_counter() - started
    return report
