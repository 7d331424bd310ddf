"""The body of `pam pose`: progress bar, errors as messages, the report table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.pose.command import output_paths, pose_sequences, save_all
from pam.pose.generate import PoseError
from pam.pose.grasp import GraspRequest
from pam.pose.keyframes import KeyframeError
from pam.progress import console, progress_bar
from pam.sequence import SequenceError

#: quality key -> column header
REPORT_COLUMNS = {
    "success": "held", "max_penetration_mm": "max pen mm", "mean_penetration_mm": "mean pen mm",
    "contact_ratio": "contact", "slip_mm": "slip mm", "hand_jerk": "jerk m/s3",
}


def run_pose(out: Path, object: str | None, init: Path | None, target: Path | None, seed: int, frames: int,
             fps: float, num: int, report: bool, approach: str | None = None, region: str | None = None,
             roll: float | None = None, family: str | None = None) -> int:
    """Generate and save; returns the exit code (1 with a message on bad input, nothing written)."""
    skipped: list[int] = []
    try:
        paths = output_paths(out, num)
        request = None
        if (approach, region, roll, family) != (None,) * 4:
            request = GraspRequest.parse(approach, region, roll, family)
        with progress_bar("pose trajectories") as update:
            update(0, num)
            sequences = pose_sequences(object, init, target, seed, num, frames, fps,
                                       progress=lambda i: update(i + 1, num), skipped=skipped, request=request)
        save_all(sequences, out)
    except (KeyframeError, PoseError, SequenceError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # str(KeyError) adds quotes
        console.print(f"[red]error:[/red] {message}")
        return 1
    if skipped:
        console.print(f"skipped seeds {skipped}: no grasp held the object in simulation")
    for path, seq in zip(paths, sequences):
        console.print(f"wrote {path} (seed {seq.meta['pose']['seed']}, {seq.meta['pose']['family']} grasp)")
    if report:
        table = Table(title="Stage I quality")
        table.add_column("file", no_wrap=True)
        for header in REPORT_COLUMNS.values():
            table.add_column(header)
        for path, seq in zip(paths, sequences):
            q = seq.meta["pose"]["quality"]
            table.add_row(path.name, *(str(q[c]) if isinstance(q[c], bool) else f"{q[c]:.3g}" for c in REPORT_COLUMNS))
        Console().print(table)
    return 0
