"""``OUT/manifest.jsonl``: the state of every clip of a run, one JSON row per line, append-only.

Only the driver writes it (workers return ``ClipResult``s). A clip's state is its *latest* row, so a
retry, a filter pass or a resume appends rather than rewrites, and a kill at any moment loses at most
the line being written (a torn last line is ignored on reading). ``rebuild(out_root)`` recovers the rows
of finished clips from their ``meta.json`` (e.g. a clip folder that was renamed into place just before a
kill, or a lost manifest). ``RunLock`` keeps a second run off the same ``OUT``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

MANIFEST = "manifest.jsonl"
LOCK = ".lock"
CLIPS = "clips"
Status = Literal["done", "failed", "filtered"]


@dataclass(frozen=True)
class ClipResult:
    """One manifest row.

    Attributes:
        clip_id: the job's content hash (``ClipJob.clip_id``).
        status: ``done`` (its folder is complete up to ``stage``), ``failed`` (``error`` says why) or
            ``filtered`` (done, but dropped by ``pam filter``).
        stage: the last stage the clip folder holds (pose, conditions, appearance, motion).
        attempts: generation attempts so far (failed ones included).
        seconds: wall seconds per stage (stages resumed from an earlier attempt keep their first time).
        scores: filter scores by scorer name (e.g. ``motion``, ``motion_px``).
        smoke: made with the tiny random-weight models.
    """

    clip_id: str
    status: Status
    stage: str | None = None
    error: str | None = None
    attempts: int = 1
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    object: str | None = None
    prompt: str | None = None
    smoke: bool = False
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "ClipResult":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})

    def replace(self, **changes) -> "ClipResult":
        return dataclasses.replace(self, **changes, time=time.time())


def read_rows(out_root: str | os.PathLike) -> dict[str, ClipResult]:
    """clip_id -> its latest row, in first-seen order; a torn (unparseable) line is skipped."""
    path = Path(out_root) / MANIFEST
    rows: dict[str, ClipResult] = {}
    if not path.is_file():
        return rows
    with path.open() as f:
        for line in f:
            try:
                row = ClipResult.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # the line a kill cut short
            rows[row.clip_id] = row
    return rows


def append(out_root: str | os.PathLike, results: Iterable[ClipResult]) -> None:
    """Append rows (one ``write`` each, flushed and fsynced, so a kill tears at most the last line)."""
    path = Path(out_root) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as f:
        if f.tell() and not _ends_with_newline(path):
            f.write(b"\n")  # finish a line torn by an earlier kill, so it stays one bad line
        for result in results:
            f.write((json.dumps(result.as_dict(), sort_keys=True) + "\n").encode())
            f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def row_from_meta(meta: dict) -> ClipResult:
    """The manifest row a finished clip folder stands for (its ``meta.json``)."""
    engine = meta["engine"]
    return ClipResult(
        clip_id=meta["clip_id"], status="done", stage=engine["stage"], attempts=engine.get("attempts", 1),
        seconds=engine.get("seconds", {}), object=meta["job"]["object"]["name"] or meta["job"]["object"]["mesh"],
        prompt=meta.get("prompt"), smoke=bool(engine.get("smoke")),
    )


def rebuild(out_root: str | os.PathLike) -> dict[str, ClipResult]:
    """Rows of every finished clip folder under ``OUT/clips`` (from ``meta.json``), by clip id."""
    from pam.data.clip_folder import ClipFolder, ClipFolderError

    rows = {}
    clips = Path(out_root) / CLIPS
    for folder in sorted(clips.iterdir()) if clips.is_dir() else []:
        if folder.name.startswith("."):
            continue  # a temporary folder of an interrupted write
        try:
            meta = ClipFolder(folder).validate(require_video=False).meta
            row = row_from_meta(meta)
        except (ClipFolderError, KeyError, OSError):
            continue
        rows[row.clip_id] = row
    return rows


def reconcile(out_root: str | os.PathLike) -> dict[str, ClipResult]:
    """The manifest's rows, with finished clip folders it does not record as done appended (and returned)."""
    rows = read_rows(out_root)
    missing = [row for clip_id, row in rebuild(out_root).items() if _newer(row, rows.get(clip_id))]
    if missing:
        append(out_root, missing)
        rows.update({row.clip_id: row for row in missing})
    return rows


def _newer(folder: ClipResult, row: ClipResult | None) -> bool:
    """Whether a clip folder's row supersedes the manifest's: no row, a row of an earlier stage, or a failure
    of an attempt no later than the one that wrote the folder (a failure after it, e.g. in Stage III after
    an earlier ``--until conditions`` run, stands)."""
    if row is None:
        return True
    if row.status == "failed":
        return folder.attempts >= row.attempts
    return _stage_index(row.stage) < _stage_index(folder.stage)


def _stage_index(stage: str | None) -> int:
    from pam.engine.job import STAGES

    return STAGES.index(stage) if stage in STAGES else -1


def is_finished(row: ClipResult | None, until: str) -> bool:
    """Whether ``row`` already covers a run that stops after ``until``."""
    return row is not None and row.status in ("done", "filtered") and _stage_index(row.stage) >= _stage_index(until)


class RunLockedError(OSError):
    """Another run holds ``OUT/.lock``."""


class RunLock:
    """An exclusive ``fcntl`` lock on ``OUT/.lock`` for the whole run; the kernel drops it if the process dies."""

    def __init__(self, out_root: str | os.PathLike):
        self.path = Path(out_root) / LOCK
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent}: another pam run (pid {holder}) is writing this folder (lock {self.path}); "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
