"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them.
Conventions (shared option types, errors, deprecated spellings): :mod:`pam.cli_options`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pam.cli_options import (
    DeviceOpt,
    DtypeOpt,
    OffloadOpt,
    OutOpt,
    SeedOpt,
    deprecated,
    dtype_option,
    name_list,
    resolve_device,
    user_errors,
)

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)
__all__ = ["app", "user_errors"]  # user_errors lives in pam.cli_options; importable from here as before


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


@app.command()
def render(
    sequence: Annotated[Path, typer.Argument(help="A sequence file (.npz) written by `pam pose` or an importer.")],
    out: OutOpt,
    style: str = typer.Option("dexycb", help="Keypoint limb widths: dexycb (6/3 px) or oakink2 (4/2 px)."),
    backend: Optional[str] = typer.Option(None, help="Rasterizer: gl or ray (default: gl, falling back to ray)."),
    mano_dir: Optional[Path] = typer.Option(None, help="Folder with MANO_RIGHT.pkl / MANO_LEFT.pkl for MANO hands."),
) -> None:
    """Render a sequence's conditions (depth, seg, keypoints, normals, preview, annotations) into folder --out."""
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
    out: OutOpt = Path("pam-demo"),
    object: str = typer.Option("mug", "--object", help="Built-in object (see `pam objects`)."),
    frames: int = typer.Option(49, help="Frames in the clip (4k + 1, at least 17)."),
    seed: SeedOpt = 0,
    backend: Optional[str] = typer.Option(None, help="Rasterizer: gl or ray (default: gl, falling back to ray)."),
    smoke: bool = typer.Option(False, "--smoke", help="Run Stage II / III with tiny random-weight models (CPU)."),
) -> None:
    """The built-in scene through the engine (run folder --out): the whole chain with a GPU and the weights,
    else up to the conditions."""
    from pam.demo import run_demo
    from pam.progress import console, progress_bar

    console.print(f"the open hand grasps and lifts the {object} ({frames} frames)...")
    with user_errors(), progress_bar("demo clip") as update:
        result = run_demo(out, object=object, frames=frames, seed=seed, backend=backend, smoke=smoke, progress=update)
    console.print(f"wrote [bold]{result.clip}[/] (through {result.until}); look at {result.clip / 'preview.png'} "
                  f"and {result.clip / 'preview.mp4'}")
    if result.missing:
        console.print("stopped after the conditions; for the first frame and the video, add:")
        for line in result.missing:
            console.print(f"  - {line}")
        console.print(f"then run `pam demo --out {out}` again (Stage I and the conditions are reused).")


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
    out: Path = typer.Option(..., "--out", "-o", help="Output sequence .npz (a readable .json is written beside it)."),
    object: str = typer.Option(None, "--object", help="Built-in object name or mesh file (overrides --init's)."),
    init: Path = typer.Option(None, "--init", help="Initial hands and objects keyframe JSON (examples/pose_init.json)."),
    target: Path = typer.Option(None, "--target", help="Target hands and goals keyframe JSON (examples/pose_target.json)."),
    seed: int = typer.Option(0, "--seed", help="First seed (>= 0); later trajectories use the next seeds (failing seeds are skipped)."),
    frames: int = typer.Option(49, "--frames", help="Frames per trajectory."),
    fps: float = typer.Option(15.0, "--fps", help="Frames per second."),
    num: int = typer.Option(1, "--num", help="Number of diverse trajectories (out_000.npz, out_001.npz, ...)."),
    report: bool = typer.Option(False, "--report", help="Print the quality measures of each trajectory."),
    scale: float = typer.Option(None, "--scale", help="Mesh units to metres for the objects, e.g. 0.001 for a mesh in mm."),
    approach: str = typer.Option(None, "--approach", help="Grasp approach, object -> hand: top, side, front or x,y,z (world)."),
    region: str = typer.Option(None, "--region", help="Where to grasp: a built-in's part (e.g. handle) or x,y,z (object frame, m)."),
    roll: float = typer.Option(None, "--roll", help="Wrist roll about the approach direction, degrees."),
    family: str = typer.Option(None, "--family", help="Grasp family: power, precision or hook (default: varies by seed)."),
) -> None:
    """Stage I: physically simulated hand-object trajectories from keyframes."""
    from pam.pose.cli import PoseOptions, run_pose

    with user_errors():
        code = run_pose(PoseOptions(out, object, init, target, seed, frames, fps, num, report, scale,
                                       approach=approach, region=region, roll=roll, family=family))
    raise typer.Exit(code)


CONDITIONS_HELP = "Folder from `pam render` (depth.mp4, seg.mp4, hand_keypoints.mp4, ...)."
CUE_HELP = "Comma-separated cues to feed, e.g. depth,seg,hand (default: those the checkpoint was trained with)."


@app.command()
def appearance(
    conditions: Optional[Path] = typer.Argument(None, help=CONDITIONS_HELP),
    prompt: str = typer.Option(..., "--prompt", "-p", help="Text describing the scene."),
    out: OutOpt = Path("first_frame.png"),
    depth: Optional[Path] = typer.Option(None, help="Depth condition image or video (overrides the folder's)."),
    seg: Optional[Path] = typer.Option(None, help="Segmentation condition image or video."),
    hand: Optional[Path] = typer.Option(None, help="Hand keypoint condition image or video."),
    normal: Optional[Path] = typer.Option(None, help="Normal condition image or video (only with --cues naming normal)."),
    cues: Optional[str] = typer.Option(None, help=CUE_HELP),
    frame: int = typer.Option(0, help="Frame of condition videos to use."),
    base: Optional[str] = typer.Option(
        None, help="FLUX.1-dev folder (diffusers format) or hub id (default: $PAM_HOME/FLUX.1-dev)."
    ),
    controlnet: Optional[Path] = typer.Option(
        None, help="ControlNet folder or release controlnet.bin (default: $PAM_HOME/PAM/controlnet.bin)."
    ),
    height: Optional[int] = typer.Option(None, help="Output height (default: 480)."),
    width: Optional[int] = typer.Option(None, help="Output width (default: 720; 640 for the release ControlNet)."),
    steps: int = typer.Option(28, help="Sampling steps."),
    guidance: float = typer.Option(4.0, help="Flux guidance embedding."),
    seed: SeedOpt = 0,
    dtype: DtypeOpt = "bf16",
    offload: OffloadOpt = "none",
    device: DeviceOpt = None,
    flux: Optional[str] = typer.Option(None, "--flux", hidden=True, help="Deprecated: --base."),
    cpu_offload: bool = typer.Option(False, "--cpu-offload", hidden=True, help="Deprecated: --offload model."),
) -> None:
    """Stage II: generate the first frame (PNG, --out) from condition images."""
    from pam.pipelines.cli import run_appearance
    from pam.pipelines.options import AppearanceOptions

    with user_errors():
        options = AppearanceOptions(
            base=deprecated(base, flux, "--flux", "--base"),
            controlnet=controlnet,
            height=height,
            width=width,
            steps=steps,
            guidance=guidance,
            seed=seed,
            frame=frame,
            cues=name_list(cues),
            dtype=dtype_option(dtype),
            device=device,
            offload=deprecated(offload, "model" if cpu_offload else None, "--cpu-offload", "--offload model", "none"),
        )
        cue_files = dict(depth=depth, seg=seg, hand=hand, normal=normal)
        written = run_appearance(options, prompt=prompt, out=out, conditions=conditions, cue_files=cue_files)
    typer.echo(f"wrote {written}")


@app.command()
def motion(
    image: Path = typer.Argument(..., help="First frame (Stage II output or any image)."),
    conditions: Optional[Path] = typer.Argument(None, help=CONDITIONS_HELP),
    prompt: str = typer.Option(..., "--prompt", "-p", help="Text describing the scene."),
    out: OutOpt = Path("video.mp4"),
    depth: Optional[Path] = typer.Option(None, help="Depth cue video (overrides the folder's)."),
    seg: Optional[Path] = typer.Option(None, help="Segmentation cue video."),
    hand: Optional[Path] = typer.Option(None, help="Hand keypoint cue video."),
    normal: Optional[Path] = typer.Option(None, help="Normal cue video (only with --cues naming normal)."),
    cues: Optional[str] = typer.Option(None, help=CUE_HELP),
    negative_prompt: Optional[str] = typer.Option(None, help="Negative prompt (default: the release's)."),
    frames: int = typer.Option(49, help="Number of frames (4k + 1)."),
    height: int = typer.Option(480, help="Output height."),
    width: int = typer.Option(720, help="Output width."),
    steps: int = typer.Option(50, help="Sampling steps."),
    guidance: float = typer.Option(6.0, help="Classifier-free guidance scale (dynamic CFG)."),
    seed: SeedOpt = 0,
    fps: float = typer.Option(15.0, help="Frames per second of the written video."),
    base: Optional[str] = typer.Option(None, help="CogVideoX-5b-I2V folder (default: $PAM_HOME/CogVideoX-5b-I2V)."),
    controlnet: Optional[Path] = typer.Option(
        None, help="Our ControlNet folder or the release's Stage III transformer (default: $PAM_HOME/PAM/motion)."
    ),
    dtype: DtypeOpt = "bf16",
    device: DeviceOpt = None,
    offload: OffloadOpt = "none",
    vae_tiling: bool = typer.Option(True, help="VAE tiling and slicing."),
    cues_dir: Optional[Path] = typer.Option(None, "--cues-dir", hidden=True, help="Deprecated: CONDITIONS."),
    release: Optional[Path] = typer.Option(None, "--release", hidden=True, help="Deprecated: --controlnet."),
) -> None:
    """Stage III: animate a first frame along cue videos (CogVideoX-5b-I2V + ControlNet) into an mp4 (--out)."""
    from pam.pipelines.cli import run_motion
    from pam.pipelines.options import MotionOptions

    with user_errors():
        if conditions is not None and conditions.suffix and not conditions.is_dir():  # old `pam motion IMAGE OUTPUT`
            out = deprecated(out, conditions, "the OUTPUT argument", "--out/-o", Path("video.mp4"))
            conditions = None
        options = MotionOptions(
            base=base,
            controlnet=deprecated(controlnet, release, "--release", "--controlnet"),
            frames=frames,
            height=height,
            width=width,
            steps=steps,
            guidance=guidance,
            seed=seed,
            fps=fps,
            negative_prompt=negative_prompt,
            cues=name_list(cues),
            dtype=dtype_option(dtype),
            device=device,
            offload=offload,
            vae_tiling=vae_tiling,
        )
        conditions = deprecated(conditions, cues_dir, "--cues-dir", "the CONDITIONS argument")
        cue_files = dict(depth=depth, seg=seg, hand=hand, normal=normal)
        written = run_motion(options, image=image, prompt=prompt, out=out, conditions=conditions, cue_files=cue_files)
    typer.echo(f"wrote {written}")


@app.command("eval")
def eval_(
    generated: Optional[Path] = typer.Argument(None, help="Folder of generated videos."),
    reference: Optional[Path] = typer.Argument(None, help="Folder of reference videos (paired by file name)."),
    metrics: str = typer.Option("psnr,ssim,lpips,mf,fvd", help="Comma-separated: psnr,ssim,lpips,mf,fvd,mpjpe."),
    conditions: Optional[Path] = typer.Option(None, help="Folder of condition videos named <stem>_<kind>.mp4."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the results as CSV."),
    report: Optional[Path] = typer.Option(None, help="Write a self-contained HTML report."),
    tracker: str = typer.Option("lk", help="Motion Fidelity tracker: lk (offline) or cotracker3."),
    mf_mode: str = typer.Option("both", help="MF: both, generated_to_reference, or published (motion_fidelity_score.py exactly)."),
    fvd_frames: int = typer.Option(49, help="Clip length: FVD uses this many frames; shorter clips are flagged."),
    device: DeviceOpt = None,
    generated_opt: Optional[Path] = typer.Option(None, "--generated", hidden=True, help="Deprecated: GENERATED."),
    reference_opt: Optional[Path] = typer.Option(None, "--reference", hidden=True, help="Deprecated: REFERENCE."),
) -> None:
    """Compare generated videos with reference videos: PSNR, SSIM, LPIPS, Motion Fidelity, FVD, MPJPE."""
    from pam.metrics.cli import EvalOptions, run_eval

    with user_errors():
        generated = deprecated(generated, generated_opt, "--generated", "the GENERATED argument")
        reference = deprecated(reference, reference_opt, "--reference", "the REFERENCE argument")
        if generated is None or reference is None:
            raise ValueError("give the GENERATED and REFERENCE folders: pam eval GENERATED REFERENCE")
        run_eval(EvalOptions(generated, reference, tuple(m.strip() for m in metrics.split(",") if m.strip()),
                             conditions, json_path, csv_path, report, tracker=tracker, mf_mode=mf_mode,
                             fvd_frames=fvd_frames, device=resolve_device(device)))


# --- engine: pam generate / filter / export (work in pam.engine.cli) ---------------------------------


@app.command()
def generate(
    spec: Annotated[Path, typer.Option("--spec", help="Job spec YAML (docs/engine.md, examples/jobs/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: clips/, manifest.jsonl, index.html.")],
    until: str = typer.Option("motion", help="Stop after pose, conditions, appearance or motion."),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny random-weight Stage II / III models (CPU, no downloads)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: auto (local) or a cluster address."),
    ray_cpus: Optional[int] = typer.Option(None, help="CPUs of a local Ray instance (default: all)."),
    appearance_workers: Optional[int] = typer.Option(None, help="Ray: Stage II actors (default: a quarter of the GPUs)."),
    motion_workers: Optional[int] = typer.Option(None, help="Ray: Stage III actors (default: the other GPUs)."),
    max_attempts: int = typer.Option(3, help="Attempts per clip over all runs before a failed clip is left alone."),
    set_: list[str] = typer.Option([], "--set", help="Override a spec field: --set video.frames=17 (repeatable)."),
    device: DeviceOpt = None,
) -> None:
    """Generate a dataset from a job spec: one clip folder per (object, seed, view, prompt, candidate)."""
    from pam.engine.cli import GenerateOptions, run_generate

    with user_errors():
        status = run_generate(GenerateOptions(spec, out, until, smoke, ray, ray_cpus, appearance_workers,
                                              motion_workers, max_attempts, tuple(set_), device))
    raise typer.Exit(status)


@app.command("filter")
def filter_(
    out: Path = typer.Argument(..., help="A `pam generate` run folder."),
    keep: float = typer.Option(0.75, help="Fraction of scored clips to keep; the rest are marked filtered."),
    scorer: str = typer.Option("motion", help="motion (offline tracking vs the exact 3D motion) or keypoints (HaMeR)."),
    hamer: Optional[str] = typer.Option(None, help="HaMeR checkpoint for --scorer keypoints (default: $PAM_HOME/hamer/...)."),
    device: str = typer.Option("cpu", help="Torch device for the keypoints scorer."),
    rescore: bool = typer.Option(False, help="Score again even where scores are recorded."),
) -> None:
    """Score every finished clip and mark the worst fraction `filtered` in the manifest (nothing is deleted)."""
    from pam.engine.cli import FilterOptions, run_filter

    with user_errors():
        run_filter(FilterOptions(out, keep, scorer, hamer, device, rescore))


@app.command("export")
def export_(
    out: Annotated[Path, typer.Argument(help="A `pam generate` run folder.")],
    format: Annotated[str, typer.Option("--format", help="dexycb (DexYCB's layout) or webdataset (tar shards).")],
    dest: Annotated[Path, typer.Option("--out", "-o", help="Export folder.")],
    include_filtered: bool = typer.Option(False, "--include-filtered", help="Export filtered clips too."),
    shard_size: int = typer.Option(1000, help="webdataset: samples per shard."),
    mano_dir: Optional[str] = typer.Option(None, help="dexycb: MANO files, for pose_m of MANO hands."),
) -> None:
    """Export finished clips as a training set: DexYCB layout or webdataset shards (docs/engine.md)."""
    from pam.engine.cli import ExportOptions, run_export

    with user_errors():
        run_export(ExportOptions(out, format, dest, include_filtered, shard_size, mano_dir))


from pam.data.cli import dataset_app  # noqa: E402  (the `pam dataset` sub-commands)

app.add_typer(dataset_app, name="dataset")

if __name__ == "__main__":
    app()
