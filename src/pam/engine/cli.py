"""The work behind ``pam generate``, ``pam filter`` and ``pam export`` (``pam.cli`` only wires them).

All printing lives here; the library modules return reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pam.engine.job import STAGES


@dataclass(frozen=True)
class GenerateOptions:
    spec: Path
    out: Path
    until: str = "motion"
    smoke: bool = False
    ray: str | None = None  # None: in-process; "auto": local Ray; else a cluster address
    ray_cpus: int | None = None
    appearance_workers: int | None = None
    motion_workers: int | None = None
    max_attempts: int = 3
    overrides: tuple[str, ...] = field(default_factory=tuple)
    device: str | None = None


def plan_jobs(options: GenerateOptions):
    """(spec, jobs) of ``options``: the spec loaded with its overrides, expanded (smoke sizes in smoke mode)."""
    from pam.engine.job import expand, load_job

    if options.until not in STAGES:
        raise ValueError(f"--until: expected one of {', '.join(STAGES)}, got {options.until!r}")
    spec = load_job(options.spec, options.overrides)
    smoke_size = None
    if options.smoke:
        from pam.smoke import HEIGHT, WIDTH

        smoke_size = (HEIGHT, WIDTH)
    return spec, expand(spec, smoke=options.smoke, smoke_size=smoke_size)


def run_generate(options: GenerateOptions) -> int:
    """Run the job; returns the exit status (1 when a clip failed in this run)."""
    from pam.engine.batch import run_batch
    from pam.engine.runners import make_runner
    from pam.progress import console, progress_bar

    spec, jobs = plan_jobs(options)
    out = options.out
    kind = "local" if options.ray is None else "ray"
    runner = make_runner(kind, out, options.until, address=options.ray or "auto", num_cpus=options.ray_cpus,
                         appearance_workers=options.appearance_workers, motion_workers=options.motion_workers,
                         device=options.device)
    where = "in-process" if kind == "local" else f"on Ray ({options.ray})"
    smoke = " [bold yellow]SMOKE RUN (tiny random-weight models)[/]" if options.smoke else ""
    console.print(f"{len(jobs)} clips, through {options.until}, {where}{smoke}")
    with progress_bar("clips") as update:
        report = run_batch(jobs, out, runner, options.until, options.max_attempts, progress=update, spec=spec)
    console.print(f"{report.done} done, {len(report.failed)} failed, {report.skipped} already done"
                  + (f", {len(report.exhausted)} failed {options.max_attempts} times (left alone)" if report.exhausted else ""))
    for row in report.failed:
        console.print(f"  [red]failed[/] {row.clip_id}: {row.error}")
    console.print(f"manifest: {out / 'manifest.jsonl'}; gallery: [bold]{out / 'index.html'}[/]")
    return 1 if report.failed else 0


@dataclass(frozen=True)
class FilterOptions:
    out: Path
    keep: float = 0.75
    scorer: str = "motion"
    hamer: str | None = None
    device: str = "cpu"
    rescore: bool = False


def run_filter(options: FilterOptions) -> None:
    from pam.engine.filter import filter_clips, make_scorer
    from pam.progress import console, progress_bar

    scorer = make_scorer(options.scorer, options.hamer, options.device)
    with progress_bar(f"scoring ({options.scorer})") as update:
        report = filter_clips(options.out, options.keep, scorer, options.rescore, progress=update)
    console.print(f"scored {report.scored} clips: kept {len(report.kept)}, marked {len(report.dropped)} filtered "
                  f"(--keep {options.keep}, by {scorer.names[0]})")
    for clip_id, why in report.skipped.items():
        console.print(f"  not scored {clip_id}: {why}")


@dataclass(frozen=True)
class ExportOptions:
    out: Path
    format: str
    dest: Path
    include_filtered: bool = False
    shard_size: int = 1000
    mano_dir: str | None = None


def run_export(options: ExportOptions) -> None:
    from pam.engine.export import export
    from pam.progress import console, progress_bar

    with progress_bar(f"exporting ({options.format})") as update:
        report = export(options.out, options.dest, options.format, options.include_filtered,
                        shard_size=options.shard_size, mano_dir=options.mano_dir, progress=update)
    console.print(f"exported {report.clips} clips ({report.frames} frames, {report.hands} hand tracks) "
                  f"to [bold]{options.dest}[/]")
    for clip_id, why in report.skipped.items():
        console.print(f"  skipped {clip_id}: {why}")
