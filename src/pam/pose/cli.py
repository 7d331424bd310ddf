"""The body of `pam pose`: progress bar, the report table. Errors are the caller's (``pam.cli.user_errors``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.pose.command import output_paths, pose_sequences, save_all
from pam.pose.grasp import GraspRequest
from pam.progress import console, progress_bar

#: quality measure -> row label of the report (every measure of ``pam.pose.quality.QualityReport``)
REPORT_ROWS = {
    "success": "success", "failed": "failed checks", "below_table_mm": "hand below table mm",
    "disturbance_mm": "pre-grasp shift mm", "disturbance_deg": "pre-grasp turn deg",
    "contact_fraction": "carried frames in contact", "max_penetration_mm": "max pen mm",
    "mean_penetration_mm": "mean pen mm (in contact)", "slip_mm": "slip mm",
    "in_hand_rotation_deg": "in-hand rotation deg", "carried_gap_mm": "gap while carried mm (median)",
    "hold_frames": "hold frames", "hold_s": "hold s", "jerk_max": "peak jerk m/s3", "jerk_mean": "mean jerk m/s3",
    "grip_frame": "grip frame", "carry_start": "carry start",
}


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return "-" if value is None else str(value)


@dataclass(frozen=True)
class PoseOptions:
    """Everything `pam pose` takes (see ``pam pose --help``)."""

    out: Path
    object: str | None = None
    init: Path | None = None
    target: Path | None = None
    seed: int = 0
    frames: int = 49
    fps: float = 15.0
    num: int = 1
    report: bool = False
    scale: float | None = None
    approach: str | None = None  # top, side, front or x,y,z
    region: str | None = None  # a named part or x,y,z in the object's frame
    roll: float | None = None  # degrees
    family: str | None = None  # power, precision or hook


def run_pose(options: PoseOptions) -> int:
    """Generate and save (nothing is written unless every trajectory succeeds); returns the exit code.

    Bad input raises ``ValueError``/``OSError``/``KeyError`` (``KeyframeError``, ``PoseError``,
    ``MeshError``, ``FileNotFoundError``), which ``pam.cli.user_errors`` prints as ``error: ...``.
    """
    o = options
    paths = output_paths(o.out, o.num)
    skipped: list[int] = []
    request = None
    if (o.approach, o.region, o.roll, o.family) != (None,) * 4:
        request = GraspRequest.parse(o.approach, o.region, o.roll, o.family)
    with progress_bar("pose trajectories") as update:
        update(0, o.num)
        sequences = pose_sequences(o.object, o.init, o.target, o.seed, o.num, o.frames, o.fps,
                                   progress=lambda i: update(i + 1, o.num), skipped=skipped, scale=o.scale,
                                   request=request)
    save_all(sequences, o.out)
    if skipped:
        console.print(f"skipped seeds {skipped}: no grasp candidate passed in simulation")
    for path, seq in zip(paths, sequences):
        console.print(f"wrote {path} (seed {seq.meta['pose']['seed']}, {seq.meta['pose']['family']} grasp)")
    if len(sequences) > 1:
        families = Counter(seq.meta["pose"]["family"] for seq in sequences)
        console.print("grasp families: " + ", ".join(f"{n} {family}" for family, n in families.most_common()))
    if o.report:
        _report(paths, [seq.meta["pose"]["quality"] for seq in sequences])
    return 0


def _report(paths: list[Path], qualities: list[dict]) -> None:
    """The quality measures, a column per trajectory, in as many tables as the terminal's width needs."""
    out = Console()
    label = max(len(text) for text in REPORT_ROWS.values()) + 4
    column = max(len(path.name) for path in paths) + 3
    per_table = max(1, (out.width - label) // column)
    for start in range(0, len(paths), per_table):
        table = Table(title="Stage I quality (thresholds: docs/pose.md)" if start == 0 else None)
        table.add_column("measure", no_wrap=True)
        for path in paths[start : start + per_table]:
            table.add_column(path.name)
        for key, text in REPORT_ROWS.items():
            table.add_row(text, *(_cell(q[key]) for q in qualities[start : start + per_table]))
        out.print(table)
