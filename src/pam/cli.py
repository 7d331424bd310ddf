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


@app.command()
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
