"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


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


@app.command()
def pose(
    out: Path = typer.Option(..., "--out", help="Output sequence .npz (a readable .json is written beside it)."),
    object: str = typer.Option(None, "--object", help="Built-in object name or mesh file (overrides --init's)."),
    init: Path = typer.Option(None, "--init", help="Initial hand and object keyframe JSON (examples/pose_init.json)."),
    target: Path = typer.Option(None, "--target", help="Target hand keyframe JSON (examples/pose_target.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first trajectory; the i-th uses seed + i."),
    frames: int = typer.Option(49, "--frames", help="Frames per trajectory."),
    fps: float = typer.Option(15.0, "--fps", help="Frames per second."),
    num: int = typer.Option(1, "--num", help="Number of diverse trajectories (out_000.npz, out_001.npz, ...)."),
    report: bool = typer.Option(False, "--report", help="Print the quality measures of each trajectory."),
) -> None:
    """Stage I: physically simulated hand-object trajectories from keyframes."""
    from pam.pose.cli_run import run_pose

    raise typer.Exit(run_pose(out, object, init, target, seed, frames, fps, num, report))


if __name__ == "__main__":
    app()
