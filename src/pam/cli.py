"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


@app.command("eval")
def eval_(
    generated: Path = typer.Option(..., "--generated", help="Folder of generated videos."),
    reference: Path = typer.Option(..., "--reference", help="Folder of reference videos (paired by file name)."),
    metrics: str = typer.Option("psnr,ssim,lpips,mf,fvd", help="Comma-separated: psnr,ssim,lpips,mf,fvd,mpjpe."),
    conditions: Optional[Path] = typer.Option(None, help="Folder of condition videos named <stem>_<kind>.mp4."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the results as CSV."),
    report: Optional[Path] = typer.Option(None, help="Write a self-contained HTML report."),
    tracker: str = typer.Option("lk", help="Motion Fidelity tracker: lk (offline) or cotracker3."),
    mf_direction: str = typer.Option("both", help="MF: both (mean of directions) or generated_to_reference."),
    fvd_frames: int = typer.Option(49, help="FVD clip length; shorter videos are discarded."),
    device: str = typer.Option("cpu", help="Torch device for LPIPS, FVD and learned trackers."),
) -> None:
    """Compare generated videos with reference videos: PSNR, SSIM, LPIPS, Motion Fidelity, FVD, MPJPE."""
    from pam.metrics.cli import run_eval

    run_eval(generated, reference, [m.strip() for m in metrics.split(",") if m.strip()], conditions,
             json_path, csv_path, report, tracker, mf_direction, fvd_frames, device)


if __name__ == "__main__":
    app()
