"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input, missing files or weights, no grasp held: print ``error: ...`` and exit 1, no traceback.
    The messages name the input and what to do; nothing half-written is left (outputs are atomic)."""
    from pam.render.rasterizer import RenderError  # e.g. --backend gl without an EGL context

    try:
        yield
    except (OSError, ValueError, KeyError, RenderError) as err:
        typer.echo(f"error: {err.args[0] if isinstance(err, KeyError) else err}", err=True)
        raise typer.Exit(1) from err


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

    with user_errors():
        seq = HOISequence.load(sequence)
        with progress_bar(f"rendering {seq.num_frames} frames") as update:
            written = write_condition_set(seq, out, style=style, backend=backend, mano_dir=mano_dir, progress=update)
    console.print(f"wrote {len(written)} files to [bold]{out}[/]: " + ", ".join(p.name for p in written.values()))


@app.command()
def demo(
    out: Path = typer.Option(Path("pam-demo"), "--out", "-o", help="Output folder."),
    object: str = typer.Option("mug", "--object", help="Built-in object (see `pam objects`)."),
    frames: int = typer.Option(49, help="Frames in the clip."),
    seed: int = typer.Option(0, help="Seed of the grasp search."),
    backend: Optional[str] = typer.Option(None, help="Rasterizer: gl or ray (default: gl, falling back to ray)."),
) -> None:
    """Built-in scene end to end on the CPU: Stage I trajectory, then all conditions and annotations."""
    from pam.demo import run_demo
    from pam.progress import console, progress_bar

    console.print(f"Stage I: the open hand grasps and lifts the {object} ({frames} frames)...")
    with user_errors(), progress_bar("rendering conditions") as update:
        written = run_demo(out, object=object, frames=frames, seed=seed, backend=backend, progress=update)
    console.print(f"wrote {len(written)} files to [bold]{out}[/]:")
    for path in written.values():
        console.print(f"  {path}")
    console.print(f"look at [bold]{written['preview_png']}[/] (contact sheet) and {written['preview']} (video)")


@app.command()
def objects() -> None:
    """List the built-in objects with their sizes."""
    from rich.table import Table

    from pam.objects import BUILTIN_OBJECTS, load_object
    from pam.progress import console

    table = Table("name", "size (mm)", "seg id", "description")
    for name, obj in BUILTIN_OBJECTS.items():
        size = " x ".join(f"{e * 1000:.0f}" for e in load_object(name).extents)
        table.add_row(name, size, str(obj.seg_id), obj.description)
    console.print(table)


from pam.training.cli import train_app  # noqa: E402  (typer only; the trainers import lazily)

app.add_typer(train_app, name="train")

mano_app = typer.Typer(help="MANO model files (user-supplied, see pam.hand.mano).", no_args_is_help=True)
app.add_typer(mano_app, name="mano")


@mano_app.command("convert")
def mano_convert(
    src: Path = typer.Argument(..., help="Original MANO_RIGHT.pkl or MANO_LEFT.pkl (v1.2)."),
    dst: Path = typer.Argument(..., help="Output .npz (plain arrays, loads without pickle or chumpy)."),
) -> None:
    """Convert a MANO .pkl once into a plain .npz, reading the pickle safely (arrays only)."""
    from pam.hand.mano import convert_mano_pkl

    with user_errors():  # ManoFileError is a ValueError
        convert_mano_pkl(src, dst)
    typer.echo(f"wrote {dst}")


@app.command()
def pose(
    out: Path = typer.Option(..., "--out", help="Output sequence .npz (a readable .json is written beside it)."),
    object: str = typer.Option(None, "--object", help="Built-in object name or mesh file (overrides --init's)."),
    init: Path = typer.Option(None, "--init", help="Initial hand and object keyframe JSON (examples/pose_init.json)."),
    target: Path = typer.Option(None, "--target", help="Target hand keyframe JSON (examples/pose_target.json)."),
    seed: int = typer.Option(0, "--seed", help="First seed; later trajectories use the next seeds (seeds whose grasps drop are skipped)."),
    frames: int = typer.Option(49, "--frames", help="Frames per trajectory."),
    fps: float = typer.Option(15.0, "--fps", help="Frames per second."),
    num: int = typer.Option(1, "--num", help="Number of diverse trajectories (out_000.npz, out_001.npz, ...)."),
    report: bool = typer.Option(False, "--report", help="Print the quality measures of each trajectory."),
) -> None:
    """Stage I: physically simulated hand-object trajectories from keyframes."""
    from pam.pose.cli_run import run_pose

    raise typer.Exit(run_pose(out, object, init, target, seed, frames, fps, num, report))


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

    with user_errors():
        written = generate_first_frame(
            out, prompt, conditions, dict(depth=depth, seg=seg, hand=hand, normal=normal), frame, flux, controlnet,
            height, width, steps, guidance, seed, cpu_offload, dtype,
        )
    typer.echo(f"wrote {written}")


@app.command()
def motion(
    image: str = typer.Argument(..., help="First frame (Stage II output or any image)."),
    output: str = typer.Argument(..., help="Output video (.mp4)."),
    prompt: str = typer.Option(..., help="Text prompt."),
    depth: str = typer.Option(None, help="Depth cue video."),
    seg: str = typer.Option(None, help="Segmentation cue video."),
    hand: str = typer.Option(None, help="Hand keypoint cue video."),
    cues_dir: str = typer.Option(None, help="Conditions folder from `pam render` (depth.mp4, seg.mp4, ...)."),
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
    with user_errors():
        written = run_motion(image, output, prompt, cue_paths, cues_dir, negative_prompt, frames, height, width,
                             steps, guidance, seed, fps, base, controlnet, release, dtype, device, offload,
                             vae_tiling)  # fmt: skip
    typer.echo(f"wrote {written}")


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
