"""The body of ``pam eval``: pair the folders, evaluate with a progress bar, print and write results."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.metrics.evaluate import (HIGHER_IS_BETTER, EvalResult, check_options, evaluate, pair_videos, write_csv,
                                  write_json)
from pam.metrics.report import format_value, write_report
from pam.progress import console, progress_bar


def results_table(result: EvalResult) -> Table:
    """A Rich table: one row per video and a final mean row (which holds FVD)."""
    table = Table(title="pam eval")
    table.add_column("video")
    for m in result.metrics:
        table.add_column(f"{m.upper()} {'↑' if HIGHER_IS_BETTER[m] else '↓'}", justify="right")
    for name, row in result.per_video.items():
        table.add_row(name, *(format_value(row.get(m)) for m in result.metrics))
    table.add_row("mean", *(format_value(result.summary.get(m)) for m in result.metrics), style="bold")
    return table


def run_eval(generated: Path, reference: Path, metrics: list[str], conditions: Path | None, json_path: Path | None,
             csv_path: Path | None, report: Path | None, tracker: str, mf_mode: str, fvd_frames: int,
             device: str) -> EvalResult:
    try:
        check_options(metrics, tracker, mf_mode)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    pairs, messages = pair_videos(generated, reference, conditions)
    for msg in messages:
        console.print(f"[yellow]{msg}[/yellow]")
    if not pairs:
        raise SystemExit(f"no videos with the same file name in {generated} and {reference}")
    with progress_bar(f"evaluating {len(pairs)} video pairs") as update:
        result = evaluate(pairs, metrics, tracker=tracker, mf_mode=mf_mode, fvd_frames=fvd_frames,
                          device=device, progress=update, thumbnails=report is not None)
    Console().print(results_table(result))
    for metric, reason in result.skipped.items():
        console.print(f"[red]{metric.upper()} skipped:[/red] {reason}")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    if json_path:
        write_json(result, json_path)
    if csv_path:
        write_csv(result, csv_path)
    if report:
        write_report(result, report)
    for path in (json_path, csv_path, report):
        if path:
            console.print(f"wrote {path}")
    return result
