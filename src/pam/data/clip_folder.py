"""The clip folder: one on-disk format for real clips (``pam dataset build``) and generated clips
(``pam generate``), read by training, evaluation, filtering and export.

```
<clip_id>/
  video.mp4                                            RGB frames
  depth.mp4 seg.mp4 hand_keypoints.mp4 normal.mp4       conditions, as `pam render` writes them
  sequence.npz (+ sequence.json)                        the HOISequence
  annotations.npz                                       per-frame annotations, as `pam render` writes them
  prompt.txt                                            the text prompt
  meta.json                                             provenance: {"format": "pam-clip", "format_version",
                                                        "source": {"kind": ...}, ...}
  first_frame.png                                       generated clips only
```
A folder is written under a temporary name and renamed when complete (:func:`write_clip_folder`),
so a folder that exists is whole; :meth:`ClipFolder.validate` checks it anyway.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pam.fileio import atomic_dir, load_arrays

FORMAT = "pam-clip"
FORMAT_VERSION = 1
VIDEO = "video.mp4"
SEQUENCE = "sequence.npz"
SEQUENCE_SIDECAR = "sequence.json"
ANNOTATIONS = "annotations.npz"
PROMPT = "prompt.txt"
META = "meta.json"
FIRST_FRAME = "first_frame.png"
#: Cue name (as the ControlNets name them) -> condition video file name.
CONDITIONS = {"depth": "depth.mp4", "seg": "seg.mp4", "hand": "hand_keypoints.mp4", "normal": "normal.mp4"}
#: Files every clip folder holds (the video only where ``require_video``).
REQUIRED = (SEQUENCE, SEQUENCE_SIDECAR, ANNOTATIONS, PROMPT, META, *CONDITIONS.values())


class ClipFolderError(ValueError):
    """A clip folder is missing files or holds malformed ones; the message names the folder and file."""


@dataclass(frozen=True)
class ClipFolder:
    """A clip folder on disk. Reading is lazy: nothing is opened until asked for."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def open(cls, path: str | os.PathLike, require_video: bool = True) -> "ClipFolder":
        """The folder at ``path``, validated."""
        return cls(Path(path)).validate(require_video=require_video)

    @property
    def clip_id(self) -> str:
        return self.path.name

    @property
    def meta(self) -> dict[str, Any]:
        """The parsed ``meta.json``."""
        file = self.path / META
        try:
            meta = json.loads(file.read_text())
        except FileNotFoundError:
            raise ClipFolderError(f"{self.path}: no {META}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ClipFolderError(f"{file}: not valid JSON ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ClipFolderError(f"{file}: not a pam clip folder's meta (format must be {FORMAT!r})")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ClipFolderError(f"{file}: format version {meta['format_version']} is newer than this pam reads "
                                  f"({FORMAT_VERSION}); upgrade pam")
        return meta

    @property
    def prompt(self) -> str:
        try:
            return (self.path / PROMPT).read_text().strip()
        except FileNotFoundError:
            raise ClipFolderError(f"{self.path}: no {PROMPT}") from None

    @property
    def video_path(self) -> Path:
        return self.path / VIDEO

    @property
    def first_frame_path(self) -> Path | None:
        path = self.path / FIRST_FRAME
        return path if path.is_file() else None

    def condition_path(self, cue: str) -> Path:
        """The condition video of ``cue`` (one of :data:`CONDITIONS`: depth, seg, hand, normal)."""
        if cue not in CONDITIONS:
            raise ClipFolderError(f"unknown cue {cue!r}: expected one of {', '.join(CONDITIONS)}")
        return self.path / CONDITIONS[cue]

    def sequence(self):
        """The clip's :class:`pam.sequence.HOISequence`."""
        from pam.sequence import HOISequence

        return HOISequence.load(self.path / SEQUENCE)

    def annotations(self) -> dict[str, np.ndarray]:
        """The arrays of ``annotations.npz`` (keys in docs/render.md)."""
        return load_arrays(self.path / ANNOTATIONS)

    def validate(self, require_video: bool = True) -> "ClipFolder":
        """Check the folder holds every file of the format and a readable ``meta.json``; returns self."""
        if not self.path.is_dir():
            raise ClipFolderError(f"{self.path}: not a folder")
        required = (*REQUIRED, VIDEO) if require_video else REQUIRED
        missing = [name for name in required if not (self.path / name).is_file()]
        if missing:
            raise ClipFolderError(f"{self.path}: incomplete clip folder, missing {', '.join(missing)}")
        empty = [name for name in required if (self.path / name).stat().st_size == 0 and name != PROMPT]
        if empty:
            raise ClipFolderError(f"{self.path}: empty file(s) {', '.join(empty)}")
        self.meta  # noqa: B018  (parses and checks the format)
        return self


def is_complete(path: str | os.PathLike, require_video: bool = True) -> bool:
    """True when ``path`` is a clip folder that validates."""
    try:
        ClipFolder(Path(path)).validate(require_video=require_video)
    except ClipFolderError:
        return False
    return True


def write_clip_folder(
    out_root: str | os.PathLike,
    clip_id: str,
    files: Mapping[str, str | os.PathLike],
    meta: Mapping[str, Any],
    prompt: str,
    replace: bool = False,
    move: bool = True,
) -> ClipFolder:
    """Write ``out_root/clip_id`` atomically from already written files and return it validated.

    Args:
        files: destination name inside the folder -> existing file, e.g. ``{"video.mp4": tmp / "v.mp4"}``.
            A ``sequence.npz`` brings its ``sequence.json`` sidecar along.
        meta: provenance; must hold ``"source"`` (a mapping with ``"kind"``: e.g. "dexycb", "generated").
            ``format`` and ``format_version`` are added.
        move: move the files (same file system: a rename) instead of copying them.
    Raises:
        ClipFolderError: bad id, missing source, a missing input file or an incomplete result;
        FileExistsError: the folder exists and not ``replace``.
    """
    if not clip_id or "/" in clip_id or clip_id.startswith("."):
        raise ClipFolderError(f"clip id {clip_id!r}: must be a plain, non-hidden folder name")
    source = meta.get("source")
    if not isinstance(source, Mapping) or "kind" not in source:
        raise ClipFolderError(f"{clip_id}: meta['source'] must be a mapping with a 'kind'")
    sources = {name: Path(src) for name, src in files.items()}
    if SEQUENCE in sources:
        sources.setdefault(SEQUENCE_SIDECAR, sources[SEQUENCE].with_suffix(".json"))
    missing = [str(src) for src in sources.values() if not src.is_file()]
    if missing:
        raise ClipFolderError(f"{clip_id}: input file(s) not found: {', '.join(missing)}")
    target = Path(out_root) / clip_id
    if target.exists() and not replace:
        raise FileExistsError(f"{target}: already exists")
    with atomic_dir(target, replace=replace) as tmp:
        for name, src in sources.items():
            (shutil.move if move else shutil.copy2)(src, tmp / name)
        (tmp / PROMPT).write_text(prompt.strip() + "\n")
        full_meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
        (tmp / META).write_text(json.dumps(full_meta, indent=2, default=_json_default) + "\n")
        ClipFolder(tmp).validate(require_video=VIDEO in sources)
    return ClipFolder(target)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"meta value of type {type(value).__name__} is not JSON-serialisable")
