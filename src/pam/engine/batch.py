"""The batch driver behind ``pam generate``: lock ``OUT``, skip finished clips, bound retries, stream
each runner result into the manifest, write the gallery.

A clip is skipped when its latest manifest row (or its finished folder, see ``manifest.reconcile``)
covers the requested ``--until``; a failed clip is tried again while it has fewer than ``max_attempts``
attempts, counted over all runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from pam.engine.job import ClipJob, JobSpec
from pam.engine.manifest import CLIPS, ClipResult, RunLock, append, is_finished, reconcile
from pam.engine.runners import Runner

#: The gallery is rewritten at most this often during a run (and at its end).
GALLERY_EVERY_S = 60.0


@dataclass
class BatchReport:
    """What one run did: ``results`` of the clips it ran, ``skipped`` finished clips, ``exhausted`` failed clips
    left alone because they reached the attempt bound."""

    out_root: Path
    total: int
    skipped: int = 0
    results: list[ClipResult] = field(default_factory=list)
    exhausted: list[ClipResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ClipResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def done(self) -> int:
        return sum(r.status == "done" for r in self.results)


def remove_stale_temporaries(out_root: Path) -> None:
    """Delete the temporary folders a killed run left beside the clip folders (``.<id>.tmp-*`` / ``.old-*``);
    called under the run lock, so no writer owns them."""
    import shutil

    for pattern in (".*.tmp-*", ".*.old-*"):
        for path in (out_root / CLIPS).glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def run_batch(jobs: Sequence[ClipJob], out_root: str | Path, runner: Runner, until: str = "motion",
              max_attempts: int = 3, progress: Callable[[int, int], None] | None = None,
              spec: JobSpec | None = None) -> BatchReport:
    """Generate every unfinished clip of ``jobs`` into ``out_root`` with ``runner`` (saving the resolved
    ``spec`` as ``OUT/job.yaml`` once the run holds the folder).

    Raises ``RunLockedError`` when another run holds ``out_root``.
    """
    from pam.engine.gallery import write_gallery

    out_root = Path(out_root)
    if max_attempts < 1:
        raise ValueError(f"max_attempts: must be at least 1, got {max_attempts}")
    report = BatchReport(out_root, total=len(jobs))
    with RunLock(out_root):
        if spec is not None:
            from pam.config import save_config

            save_config(spec, out_root / "job.yaml")
        remove_stale_temporaries(out_root)
        rows = reconcile(out_root)
        todo, attempts = [], {}
        for job in jobs:
            row = rows.get(job.clip_id)
            if is_finished(row, until):
                report.skipped += 1
                continue
            prior = row.attempts if row is not None else 0  # a partial (earlier --until) run counts too
            if row is not None and row.status == "failed" and prior >= max_attempts:
                report.exhausted.append(row)
                continue
            todo.append(job)
            attempts[job.clip_id] = prior + 1
        if progress is not None:
            progress(0, len(todo))
        written = time.monotonic()
        for result in runner.run(todo, attempts):
            append(out_root, [result])
            report.results.append(result)
            if progress is not None:
                progress(len(report.results), len(todo))
            if time.monotonic() - written > GALLERY_EVERY_S:
                write_gallery(out_root)
                written = time.monotonic()
        write_gallery(out_root)
    return report
