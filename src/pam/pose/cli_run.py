"""The body of `pam pose`: progress bar, the report table. Errors are the caller's (``pam.cli.user_errors``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pam.pose.command import output_paths, pose_sequences, save_all
from pam.progress import console, progress_bar


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


def _cell(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.3g}"
    return str(value)


def run_pose(options: PoseOptions) -> int:
    """Generate and save (nothing is written unless every trajectory succeeds); returns the exit code.

    Bad input raises ``ValueError``/``OSError``/``KeyError`` (``KeyframeError``, ``PoseError``,
    ``MeshError``, ``FileNotFoundError``), which ``pam.cli.user_errors`` prints as ``error: ...``.
    """
    o = options
    paths = output_paths(o.out, o.num)
    skipped: list[int] = []
    with progress_bar("pose trajectories") as update:
        update(0, o.num)
        sequences = pose_sequences(o.object, o.init, o.target, o.seed, o.num, o.frames, o.fps,
                                   progress=lambda i: update(i + 1, o.num), skipped=skipped, scale=o.scale)
    save_all(sequences, o.out)
    if skipped:
        console.print(f"skipped seeds {skipped}: no grasp candidate passed in simulation")
    for path, seq in zip(paths, sequences):
        console.print(f"wrote {path} (seed {seq.meta['pose']['seed']})")
    if o.report:
        table = Table(title="Stage I quality (pam.pose.quality)")
        keys = [k for k, v in sequences[0].meta["pose"]["quality"].items() if isinstance(v, (bool, int, float))]
        table.add_column("file", no_wrap=True)
        for key in keys:
            table.add_column(key)
        for path, seq in zip(paths, sequences):
            q = seq.meta["pose"]["quality"]
            table.add_row(path.name, *(_cell(q.get(k, "")) for k in keys))
        Console().print(table)
    return 0
