"""The work behind ``pam appearance`` (condition images -> first frame PNG) and ``pam motion`` (first frame +
cue videos -> mp4). Cues come from a conditions folder written by ``pam render`` (``depth.mp4``, ``seg.mp4``,
``hand_keypoints.mp4``, ``normal.mp4``; the release's file names are recognised too), overridden by explicit files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pam.conditions import find_condition_files
from pam.pipelines.options import AppearanceOptions, MotionOptions

CueFiles = Mapping[str, "str | os.PathLike | None"]


def fed_cues(asked: Sequence[str] | None, slots: Sequence[str], trained: Sequence[str]) -> tuple[str, ...]:
    """The cues to feed: ``asked`` (``--cues``) or, by default, those the checkpoint was trained with.

    Prints which cues are fed and which slots get the null input, and flags asked cues outside training.
    """
    from pam.progress import console

    unknown = sorted(set(asked or ()) - set(slots))
    if unknown:
        raise ValueError(f"--cues names {unknown}; this ControlNet's cues are {list(slots)}")
    names = tuple(asked) if asked else tuple(trained)
    rest = [name for name in slots if name not in names]
    source = "as asked (--cues)" if asked else "the cues this checkpoint was trained with"
    console.print(f"cues fed: {', '.join(names)} ({source})" + (f"; null input for {', '.join(rest)}" if rest else ""))
    untrained = [name for name in names if name not in trained]
    if untrained:
        console.print(f"[yellow]note:[/yellow] {', '.join(untrained)} never given in this checkpoint's training")
    return names


def cue_files_for(
    names: Sequence[str], conditions: str | os.PathLike | None, cue_files: CueFiles | None, slots: Sequence[str]
) -> dict[str, Path]:
    """Files of the cues ``names`` (explicit files first, then the conditions folder). ``slots`` are all the
    cues the ControlNet has: an explicit file for a cue outside ``names`` is a ValueError naming it."""
    given = {name: path for name, path in (cue_files or {}).items() if path is not None}
    unknown = sorted(set(given) - set(slots))
    if unknown:
        raise ValueError(f"this ControlNet has no slot for {unknown}; its cues are {list(slots)}")
    unused = sorted(set(given) - set(names))
    if unused:
        raise ValueError(f"cue file(s) for {unused} given, but only {list(names)} are fed (see --cues)")
    found = find_condition_files(names, conditions, given)
    if not found:
        raise ValueError(f"no cue file given or found in {conditions} (cues fed: {list(names)})")
    return found


def run_appearance(
    options: AppearanceOptions,
    *,
    prompt: str,
    out: str | os.PathLike,
    conditions: str | os.PathLike | None = None,
    cue_files: CueFiles | None = None,
) -> Path:
    """Load the Stage II pipeline, read one frame of each cue, sample, write the PNG ``out``; returns it.

    Raises ``MissingWeightsError`` for absent weights, ``ValueError`` / ``FileNotFoundError`` for bad inputs;
    nothing is written then.
    """
    from pam.fileio import atomic_path
    from pam.pipelines.loading import load_appearance_pipeline
    from pam.progress import progress_bar
    from pam.render.video import read_frame

    pipe = load_appearance_pipeline(options)
    names = fed_cues(options.cues, pipe.cue_names, pipe.trained_cue_names)
    files = cue_files_for(names, conditions, cue_files, pipe.cue_names)
    cues = {name: read_frame(path, options.frame) for name, path in files.items()}
    pipe.set_progress_bar_config(disable=True)
    with progress_bar(f"Stage II ({', '.join(sorted(cues))})") as update:

        def advance(pipeline, step, timestep, kwargs):
            update(step + 1, options.steps)
            return {}

        image = pipe(
            prompt, cues, height=options.height, width=options.width, num_inference_steps=options.steps,
            guidance_scale=options.guidance, seed=options.seed, callback_on_step_end=advance,
        ).images[0]
    out = Path(out)
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out


def read_cue_videos(files: Mapping[str, Path], num_frames: int) -> dict[str, np.ndarray]:
    """The first ``num_frames`` frames of each cue video; a shorter video is a ValueError naming it."""
    from pam.render.video import read_video

    cues = {}
    for name, path in files.items():
        video = read_video(path, max_frames=num_frames)
        if len(video) < num_frames:
            raise ValueError(f"{path}: has {len(video)} frames, {num_frames} needed")
        cues[name] = video[:num_frames]
    return cues


def run_motion(
    options: MotionOptions,
    *,
    image: str | os.PathLike,
    prompt: str,
    out: str | os.PathLike,
    conditions: str | os.PathLike | None = None,
    cue_files: CueFiles | None = None,
) -> Path:
    """Load the Stage III pipeline, generate one video from ``image`` along the cue videos, write ``out`` (mp4)."""
    import PIL.Image

    from pam.pipelines.loading import load_motion_pipeline
    from pam.pipelines.motion import DEFAULT_NEGATIVE_PROMPT
    from pam.progress import console, progress_bar
    from pam.render.video import write_video

    first_frame = PIL.Image.open(image).convert("RGB")
    with console.status("loading CogVideoX-5b-I2V and the ControlNet"):
        pipe = load_motion_pipeline(options)
    names = fed_cues(options.cues, pipe.cue_names, pipe.trained_cue_names)
    cues = read_cue_videos(cue_files_for(names, conditions, cue_files, pipe.cue_names), options.frames)
    pipe.set_progress_bar_config(disable=True)
    with progress_bar(f"Stage III ({', '.join(sorted(cues))})") as update:

        def advance(pipe, step, timestep, tensors):
            update(step + 1, options.steps)
            return tensors

        frames = pipe(
            first_frame,
            cues,
            prompt=prompt,
            negative_prompt=DEFAULT_NEGATIVE_PROMPT if options.negative_prompt is None else options.negative_prompt,
            height=options.height,
            width=options.width,
            num_frames=options.frames,
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            seed=options.seed,
            output_type="np",
            callback_on_step_end=advance,
        ).frames[0]
    video = (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
    return write_video(out, video, fps=options.fps)
