"""``pam demo``: the built-in scene through the engine (``pam.engine``) into one run folder.

With a CUDA GPU and the default Stage II / III weights under ``$PAM_HOME``, the whole chain runs (Stage I,
conditions, first frame, video); otherwise it stops after the conditions and ``run_demo`` reports what to
add for the rest. ``smoke`` runs the whole chain with the tiny random-weight models instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pam.conditions import Progress

PROMPT = "a hand grasps a {object} on a wooden table, soft daylight"


@dataclass
class DemoResult:
    clip: Path  # the clip folder OUT/clips/<clip_id>/
    until: str  # the last stage run
    missing: list[str] = field(default_factory=list)  # what the full chain lacks (empty when it ran)


def full_chain_missing() -> list[str]:
    """What Stage II / III need and this machine lacks: a CUDA GPU and the default weights (each message
    says what to get and where to put it)."""
    import torch

    from pam.engine.clip import DEFAULT_MODELS
    from pam.home import MissingWeightsError, locate
    from pam.pipelines.appearance import FLUX_SOURCE, RELEASE_SOURCE
    from pam.pipelines.motion import BASE_SOURCE, RELEASE_SOURCE as MOTION_SOURCE

    missing = [] if torch.cuda.is_available() else ["a CUDA GPU (Stage II / III are too slow on a CPU)"]
    appearance, motion = DEFAULT_MODELS["appearance"], DEFAULT_MODELS["motion"]
    parts = ((appearance["base"], "The FLUX.1-dev base model", FLUX_SOURCE),
             (appearance["controlnet"], "The PAM appearance ControlNet", RELEASE_SOURCE),
             (motion["base"], "CogVideoX-5b-I2V (diffusers format)", BASE_SOURCE),
             (motion["controlnet"], "The PAM release's Stage III checkpoint", MOTION_SOURCE))
    for name, what, source in parts:
        try:
            locate(None, name, what, source)
        except MissingWeightsError as err:
            missing.append(str(err))
    return missing


def run_demo(
    out_dir: str | Path = "pam-demo",
    object: str = "mug",
    frames: int = 49,
    seed: int = 0,
    backend: str | None = None,
    smoke: bool = False,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate the built-in reach-grasp-lift clip of ``object`` as far as this machine allows."""
    from pam.engine.batch import run_batch
    from pam.engine.job import JobSpec, ObjectSpec, VideoSpec, expand
    from pam.engine.runners import LocalRunner
    from pam.objects import BUILTIN_OBJECTS

    if object not in BUILTIN_OBJECTS and not Path(object).is_file():
        raise ValueError(f"--object {object!r}: not a built-in object ({', '.join(BUILTIN_OBJECTS)}) nor a mesh file")
    spec = JobSpec(objects=(ObjectSpec(object),), prompts=(PROMPT,), first_seed=seed, video=VideoSpec(frames=frames),
                   render_backend=backend)
    smoke_size = None
    if smoke:
        from pam.smoke import HEIGHT, WIDTH

        smoke_size = (HEIGHT, WIDTH)
    (job,) = expand(spec, smoke=smoke, smoke_size=smoke_size)
    missing = [] if smoke else full_chain_missing()
    until = "conditions" if missing else "motion"
    report = run_batch([job], out_dir, LocalRunner(out_dir, until), until, progress=progress)
    for row in report.failed + report.exhausted:
        raise ValueError(f"the demo clip failed: {row.error}")
    return DemoResult(clip=Path(out_dir) / "clips" / job.clip_id, until=until, missing=missing)
