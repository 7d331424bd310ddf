"""The body of `pam pose`: progress bar, errors as messages, the report table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.pose.command import output_paths, pose_sequences, save_all
from pam.pose.generate import PoseError
from pam.pose.keyframes import KeyframeError
from pam.progress import console, progress_bar
from pam.sequence import SequenceError

#: quality measure -> row label of the report (every measure of ``pam.pose.quality.QualityReport``)
REPORT_ROWS = {
    "success": "success", "failed": "failed checks", "below_table_mm": "hand below table mm",
    "disturbance_mm": "pre-grasp shift mm", "disturbance_deg": "pre-grasp turn deg",
    "contact_fraction": "carried frames in contact", "max_penetration_mm": "max pen mm",
    "mean_penetration_mm": "mean pen mm (in contact)", "slip_mm": "slip mm",
    "in_hand_rotation_deg": "in-hand rotation deg",
    "hold_frames": "hold frames", "hold_s": "hold s", "jerk_max": "peak jerk m/s3", "jerk_mean": "mean jerk m/s3",
    "grip_frame": "grip frame", "carry_start": "carry start",
}


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return "-" if value is None else str(value)


def run_pose(out: Path, object: str | None, init: Path | None, target: Path | None, seed: int, frames: int,
             fps: float, num: int, report: bool) -> int:
    """Generate and save; returns the exit code (1 with a message on bad input, nothing written)."""
    skipped: list[int] = []
    try:
        paths = output_paths(out, num)
        with progress_bar("pose trajectories") as update:
            update(0, num)
            sequences = pose_sequences(object, init, target, seed, num, frames, fps,
                                       progress=lambda i: update(i + 1, num), skipped=skipped)
        save_all(sequences, out)
    except (KeyframeError, PoseError, SequenceError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # str(KeyError) adds quotes
        console.print(f"[red]error:[/red] {message}")
        return 1
    if skipped:
        console.print(f"skipped seeds {skipped}: no grasp held the object in simulation")
    for path, seq in zip(paths, sequences):
        console.print(f"wrote {path} (seed {seq.meta['pose']['seed']})")
    if report:
        table = Table(title="Stage I quality (thresholds: docs/pose.md)")
        table.add_column("measure", no_wrap=True)
        for path in paths:
            table.add_column(path.name)
        qualities = [seq.meta["pose"]["quality"] for seq in sequences]
        for key, label in REPORT_ROWS.items():
            table.add_row(label, *(_cell(q[key]) for q in qualities))
        Console().print(table)
    return 0
