"""The body of ``pam eval``: pair the folders, evaluate with a progress bar, print and write results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.metrics.evaluate import (DEFAULT_METRICS, HIGHER_IS_BETTER, EvalResult, check_options, evaluate,
                                  pair_videos, table_rows, write_csv, write_json)
from pam.metrics.report import format_value, write_report
from pam.progress import console, progress_bar


@dataclass(frozen=True)
class EvalOptions:
    """What ``pam eval`` compares, how, and where it writes; checked on creation (ValueError)."""

    generated: Path
    reference: Path
    metrics: tuple[str, ...] = DEFAULT_METRICS
    conditions: Path | None = None
    json_path: Path | None = None
    csv_path: Path | None = None
    report: Path | None = None
    tracker: str = "lk"
    mf_mode: str = "both"
    fvd_frames: int = 49
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_options(self.metrics, self.tracker, self.mf_mode, self.fvd_frames)


def results_table(result: EvalResult) -> Table:
    """A Rich table: one row per video (unpaired ones too) and a final mean row (which holds FVD)."""
    table = Table(title="pam eval")
    table.add_column("video")
    for m in result.metrics:
        table.add_column(f"{m.upper()} {'↑' if HIGHER_IS_BETTER[m] else '↓'}", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("status")
    for name, row, frames, status in table_rows(result):
        table.add_row(name, *(format_value(row.get(m)) for m in result.metrics), "–" if frames is None else str(frames),
                      status, style="yellow" if status else None)
    table.add_row("mean", *(format_value(result.summary.get(m)) for m in result.metrics), "", "", style="bold")
    return table


def run_eval(options: EvalOptions) -> EvalResult:
    """Evaluate, print the table, skipped metrics and notes, and write the requested files."""
    pairs, unpaired = pair_videos(options.generated, options.reference, options.conditions)
    if not pairs:
        raise ValueError(f"no videos with the same name in {options.generated} and {options.reference}")
    with progress_bar(f"evaluating {len(pairs)} video pairs") as update:
        result = evaluate(pairs, options.metrics, tracker=options.tracker, mf_mode=options.mf_mode,
                          fvd_frames=options.fvd_frames, device=options.device, progress=update,
                          thumbnails=options.report is not None)
    result.unpaired = unpaired
    result.settings.update(generated=str(options.generated), reference=str(options.reference),
                           conditions=None if options.conditions is None else str(options.conditions))
    Console().print(results_table(result))
    for metric, reason in result.skipped.items():
        console.print(f"[red]{metric.upper()} skipped:[/red] {reason}")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    writers = ((options.json_path, write_json), (options.csv_path, write_csv), (options.report, write_report))
    for path, write in writers:
        if path:
            write(result, path)
            console.print(f"wrote {path}")
    return result
