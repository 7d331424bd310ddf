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


def appearance(
    conditions: Path = typer.Argument(None, help="Folder from `pam render` (depth.mp4, seg.mp4, hand_keypoints.mp4, ...)."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="Text describing the scene."),
    out: Path = typer.Option(Path("first_frame.png"), "--out", "-o", help="PNG to write."),
    depth: Path = typer.Option(None, help="Depth condition image or video (overrides the folder's)."),
    seg: Path = typer.Option(None, help="Segmentation condition image or video."),
    hand: Path = typer.Option(None, help="Hand keypoint condition image or video."),
    normal: Path = typer.Option(None, help="Normal condition image or video (release ControlNet only)."),
    frame: int = typer.Option(0, help="Frame of condition videos to use."),
    flux: str = typer.Option(None, help="FLUX.1-dev folder (diffusers format) or hub id (default: $PAM_HOME/FLUX.1-dev)."),
    controlnet: Path = typer.Option(None, help="ControlNet folder or release controlnet.bin (default: $PAM_HOME/PAM/controlnet.bin)."),
    height: int = typer.Option(None, help="Output height (default: 480)."),
    width: int = typer.Option(None, help="Output width (default: 720; 640 for the release ControlNet)."),
    steps: int = typer.Option(28, help="Sampling steps."),
    guidance: float = typer.Option(4.0, help="Flux guidance embedding."),
    seed: int = typer.Option(0, help="Random seed."),
    cpu_offload: bool = typer.Option(False, help="Keep models on the CPU until used (less GPU memory)."),
    dtype: str = typer.Option("bfloat16", help="Weights dtype: bfloat16, float16 or float32."),
) -> None:
    """Stage II: generate the first frame from condition images."""
    from pam.pipelines.appearance_cli import generate_first_frame

    try:
        written = generate_first_frame(
            out, prompt, conditions, dict(depth=depth, seg=seg, hand=hand, normal=normal), frame, flux, controlnet,
            height, width, steps, guidance, seed, cpu_offload, dtype,
        )
    except (OSError, ValueError) as err:  # missing weights or files, bad inputs: the message says what to do
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"wrote {written}")


if __name__ == "__main__":
    app()
