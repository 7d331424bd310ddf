"""``pam dataset ...``: the typer sub-app (registered in ``pam.cli``) and ``run_build``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pam.cli_options import OutOpt, check_choice, user_errors
from pam.data.build import BuildOptions, BuildReport, build_dataset

dataset_app = typer.Typer(help="Real datasets (DexYCB, OakInk2) as clip folders for training.", no_args_is_help=True)


def run_build(options: BuildOptions) -> BuildReport:
    """Build the clips with a progress bar, report each failure as it happens and a summary at the end."""
    from pam.progress import console, progress_bar

    def failed(clip_id: str, error: str) -> None:
        console.print(f"[red]failed[/] {clip_id}: {error}", markup=True, highlight=False)

    with progress_bar(f"building {options.source} {options.split}") as update:
        report = build_dataset(options, progress=update, on_failure=failed)
    total = len(report.built) + len(report.skipped) + len(report.failed)
    per_clip = f", {report.seconds / len(report.built):.1f} s per clip" if report.built else ""
    console.print(f"{total} clips in {options.out}: {len(report.built)} built, {len(report.skipped)} already complete, "
                  f"{len(report.failed)} failed ({report.seconds:.0f} s{per_clip})")
    return report


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4")
    return int(k), int(n)


@dataset_app.command("build")
def build(
    root: Path = typer.Argument(..., help="The dataset root (DexYCB: holds calibration/ and the subjects; "
                                          "OakInk2: holds anno_preview/ and data/)."),
    source: str = typer.Option(..., "--source", help="Dataset: dexycb or oakink2."),
    split: str = typer.Option(..., "--split", help="DexYCB: s0-train, s0-val, s0-test, s0-eval or all; "
                                                   "OakInk2: all; or a .txt file of clip ids."),
    out: OutOpt = ...,
    captions: Optional[Path] = typer.Option(None, help="Prompts: a JSON object or tab-separated lines, "
                                                       "clip id or sequence -> text (default: the dataset's "
                                                       "description, else 'a hand grasps a <object>')."),
    limit: Optional[int] = typer.Option(None, help="Build only the first N clips of the split."),
    frames: int = typer.Option(49, help="Frames per clip."),
    height: int = typer.Option(480, help="Clip height in pixels (frames are stretched, intrinsics follow)."),
    width: int = typer.Option(720, help="Clip width in pixels."),
    mano_dir: Optional[Path] = typer.Option(None, help="Folder with MANO_RIGHT/LEFT "
                                                       "(default: $PAM_MANO_DIR or $PAM_HOME/mano)."),
    backend: Optional[str] = typer.Option(None, help="Rasterizer: gl or ray (default: gl, falling back to ray)."),
    shard: str = typer.Option("0/1", help="K/N: build clips K, K+N, K+2N, ... of the split (run N processes "
                                          "with K = 0..N-1 into the same --out to share the work)."),
) -> None:
    """Dataset clips -> clip folders in --out (one per clip): RGB video at the clip size, conditions
    rendered from the annotations, sequence, annotations, prompt and provenance. Complete folders are
    skipped, so a rerun resumes; a failed clip is reported and the build goes on (exit status 1 if any
    failed)."""
    with user_errors():
        check_choice(source, ("dexycb", "oakink2"), "--source")
        report = run_build(BuildOptions(source=source, root=root, split=split, out=out, captions=captions, limit=limit,
                                        num_frames=frames, height=height, width=width, mano_dir=mano_dir,
                                        backend=backend, shard=_shard(shard)))
    if report.failed:
        raise typer.Exit(1)
