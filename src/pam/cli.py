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


@app.command()
def render(
    sequence: Path = typer.Argument(..., help="A sequence file (.npz) written by `pam pose` or an importer."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the condition videos and annotations."),
    style: str = typer.Option("dexycb", help="Keypoint limb widths: dexycb (6/3 px) or oakink2 (4/2 px)."),
    backend: Optional[str] = typer.Option(None, help="Rasterizer: gl or ray (default: gl, falling back to ray)."),
    mano_dir: Optional[Path] = typer.Option(None, help="Folder with MANO_RIGHT.pkl / MANO_LEFT.pkl for MANO hands."),
) -> None:
    """Render a sequence's conditions: depth, seg, hand keypoints, normals, preview and annotations."""
    from pam.conditions import write_condition_set
    from pam.progress import console, progress_bar
    from pam.sequence import HOISequence

    seq = HOISequence.load(sequence)
    with progress_bar(f"rendering {seq.num_frames} frames") as update:
        written = write_condition_set(seq, out, style=style, backend=backend, mano_dir=mano_dir, progress=update)
    console.print(f"wrote {len(written)} files to [bold]{out}[/]: " + ", ".join(p.name for p in written.values()))


mano_app = typer.Typer(help="MANO model files (user-supplied, see pam.hand.mano).", no_args_is_help=True)
app.add_typer(mano_app, name="mano")


@mano_app.command("convert")
def mano_convert(
    src: Path = typer.Argument(..., help="Original MANO_RIGHT.pkl or MANO_LEFT.pkl (v1.2)."),
    dst: Path = typer.Argument(..., help="Output .npz (plain arrays, loads without pickle or chumpy)."),
) -> None:
    """Convert a MANO .pkl once into a plain .npz, reading the pickle safely (arrays only)."""
    from pam.hand.mano import ManoFileError, convert_mano_pkl

    try:
        convert_mano_pkl(src, dst)
    except (ManoFileError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {dst}")


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
