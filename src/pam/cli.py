"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


@app.command()
def motion(
    image: str = typer.Argument(..., help="First frame (Stage II output or any image)."),
    output: str = typer.Argument(..., help="Output video (.mp4)."),
    prompt: str = typer.Option(..., help="Text prompt."),
    depth: str = typer.Option(None, help="Depth cue video."),
    seg: str = typer.Option(None, help="Segmentation cue video."),
    hand: str = typer.Option(None, help="Hand keypoint cue video."),
    cues_dir: str = typer.Option(None, help="Directory with <cue>.mp4 files (e.g. from `pam render`)."),
    negative_prompt: str = typer.Option(None, help="Negative prompt (default: the release's)."),
    frames: int = typer.Option(49, help="Number of frames (4k + 1)."),
    height: int = 480,
    width: int = 720,
    steps: int = 50,
    guidance: float = 6.0,
    seed: int = 42,
    fps: float = 15.0,
    base: str = typer.Option(None, help="CogVideoX-5b-I2V directory (default $PAM_HOME/CogVideoX-5b-I2V)."),
    controlnet: str = typer.Option(None, help="Our ControlNet directory (default: the release checkpoint)."),
    release: str = typer.Option(None, help="The PAM release's Stage III transformer (default $PAM_HOME/PAM/motion)."),
    dtype: str = typer.Option("bf16", help="bf16, fp16 or fp32."),
    device: str = typer.Option(None, help="Torch device (default cuda if available)."),
    offload: str = typer.Option("none", help="none, model or sequential CPU offload."),
    vae_tiling: bool = typer.Option(True, help="VAE tiling and slicing."),
) -> None:
    """Stage III: animate a first frame along cue videos (CogVideoX-5b-I2V + ControlNet)."""
    from pam.pipelines.motion_cli import run_motion

    cue_paths = {"depth": depth, "seg": seg, "hand": hand}
    run_motion(image, output, prompt, cue_paths, cues_dir, negative_prompt, frames, height, width, steps,
               guidance, seed, fps, base, controlnet, release, dtype, device, offload, vae_tiling)  # fmt: skip


if __name__ == "__main__":
    app()
