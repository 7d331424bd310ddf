"""One clip end to end: Stage I -> conditions -> Stage II -> Stage III -> ``OUT/clips/<clip_id>/``.

Each stage writes its result into ``OUT/.work/<clip_id>/`` (``sequence.npz``, ``conditions/``,
``first_frame.png``, ``video.mp4``, each atomically) and is skipped when that result exists, so a
rerun after a kill or a failure resumes mid-clip. Stage I trajectories are cached by ``ClipJob.pose_key``
in ``OUT/.work/poses/``: the views, prompts and candidates of one (object, seed) share one simulation.
The clip folder is written last (temporary name, then rename) by ``finish_clip``.

Stage I and the two pipelines are reached through one adapter each (``stage_one``; ``stage_options`` +
``load_pipeline`` + ``sample_first_frame`` / ``sample_video`` over ``pam.pipelines``' options and loaders).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from pam.engine.job import STAGES, ClipJob, ViewSpec
from pam.engine.manifest import CLIPS, ClipResult
from pam.sequence import Camera, HOISequence

WORK = ".work"
SEQUENCES = "sequences"  # --until pose: OUT/sequences/<clip_id>.npz
CONDITION_VIDEOS = ("depth", "seg", "hand_keypoints", "normal")


def work_dir(out_root: str | Path, clip_id: str) -> Path:
    return Path(out_root) / WORK / clip_id


# --- adapters: the one place each stage's library API is called ------------------------------------


def stage_one(job: ClipJob, work: Path) -> HOISequence:
    """Stage I for ``job`` through ``pose_sequences``: its keyframe files, else the built-in scene (written as
    keyframe files when the object is scaled or the placement moves it); grasp steering as a ``GraspRequest``
    where the installed Stage I takes one (``request=``), else a ValueError naming ``grasp``."""
    import dataclasses
    import inspect

    from pam.pose import grasp
    from pam.pose.command import pose_sequences

    init, target = job.keyframes.init, job.keyframes.target
    steering = {}
    if job.grasp.is_set:
        if not (hasattr(grasp, "GraspRequest") and "request" in inspect.signature(pose_sequences).parameters):
            raise ValueError("grasp: steering needs pam.pose.grasp.GraspRequest, which this Stage I does not have")
        fields = {k: v for k, v in dataclasses.asdict(job.grasp).items() if v is not None}
        steering["request"] = grasp.GraspRequest(**fields)
    if init is None and (job.object.scale != 1.0 or not job.placement.is_default):
        init, target = built_in_keyframes(job, work)
    return pose_sequences(job.object.mesh, init=init, target=target, seed=job.pose_seed,
                          frames=job.video.frames, fps=job.video.fps, **steering)[0]


def built_in_keyframes(job: ClipJob, work: Path) -> tuple[Path, Path]:
    """The built-in scene as init / target keyframe files, with the object's scale and ``job.placement``:
    the object shifted from the spot the hand reaches for and turned about the vertical, the hand's start
    swung about that spot's vertical axis by the approach angle, the goal lifting the object by ``lift``."""
    from pam.pose.keyframes import default_keyframes
    from pam.rotations import axis_angle_to_matrix_np, matrix_to_axis_angle_np

    p = job.placement
    h0, _, _ = default_keyframes(job.object.mesh)
    centre = np.array([p.object_x, p.object_y, 0.0])
    swing = axis_angle_to_matrix_np(np.array([0.0, 0.0, np.deg2rad(p.approach)]))
    init = {
        "hand": {"side": h0.side, "model": h0.model, "hand_pose": h0.hand_pose.tolist(), "betas": h0.betas.tolist(),
                 "global_orient": matrix_to_axis_angle_np(swing @ axis_angle_to_matrix_np(h0.global_orient)).tolist(),
                 "transl": (swing @ h0.transl).tolist()},
        "object": {"mesh": job.object.mesh, "scale": job.object.scale, "translation": centre.tolist(),
                   "rotation": [0.0, 0.0, float(np.deg2rad(p.object_yaw))]},
    }
    target = {"hand": {"hand_pose": "power_grasp", "offset_from_grasp": [0.0, 0.0, p.lift]}}
    work.mkdir(parents=True, exist_ok=True)
    (work / "init.json").write_text(json.dumps(init))
    (work / "target.json").write_text(json.dumps(target))
    return work / "init.json", work / "target.json"


def stage_options(stage: str, job: ClipJob, device: str | None = None):
    """The pipelines' options (``AppearanceOptions`` / ``MotionOptions``) of ``job`` for ``stage``: the spec's
    settings with the clip's size, frames, fps and seed."""
    from pam.pipelines.options import AppearanceOptions, MotionOptions

    video = job.video
    if stage == "appearance":
        a = job.appearance
        return AppearanceOptions(base=a.base, controlnet=None if a.controlnet is None else Path(a.controlnet),
                                 height=video.height, width=video.width, steps=a.steps, guidance=a.guidance,
                                 seed=job.appearance_seed, cues=a.cues, dtype=a.dtype, device=device, offload=a.offload)
    m = job.motion
    return MotionOptions(base=m.base, controlnet=None if m.controlnet is None else Path(m.controlnet),
                         frames=video.frames, height=video.height, width=video.width, steps=m.steps,
                         guidance=m.guidance, seed=job.motion_seed, fps=video.fps, negative_prompt=m.negative_prompt,
                         cues=m.cues, dtype=m.dtype, device=device, offload=m.offload)


def load_pipeline(stage: str, options, smoke: bool):
    """The Stage II or III pipeline: pam.smoke's tiny random one on the CPU, or the real weights as ``options`` say."""
    from pam.pipelines.loading import load_appearance_pipeline, load_motion_pipeline, place

    if smoke:
        from pam.smoke import tiny_appearance_pipeline, tiny_motion_pipeline

        pipe = (tiny_appearance_pipeline if stage == "appearance" else tiny_motion_pipeline)(seed=0)
        place(pipe, "none", "cpu")
    else:
        pipe = (load_appearance_pipeline if stage == "appearance" else load_motion_pipeline)(options)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _cue_files(pipe, options, conditions: Path) -> dict[str, Path]:
    """The condition videos of the cues fed (``options.cues``, else those the ControlNet was trained with)."""
    from pam.pipelines.cli import cue_files_for

    return cue_files_for(options.cues or pipe.trained_cue_names, conditions, None, pipe.cue_names)


def sample_first_frame(pipe, options, prompt: str, conditions: Path) -> np.ndarray:
    """Stage II on frame 0 of the condition videos: (H, W, 3) uint8 at the clip's size."""
    from pam.render.video import read_frame

    cues = {name: read_frame(path, options.frame) for name, path in _cue_files(pipe, options, conditions).items()}
    image = pipe(prompt, cues, height=options.height, width=options.width, num_inference_steps=options.steps,
                 guidance_scale=options.guidance, seed=options.seed).images[0]
    return np.asarray(image.convert("RGB"))


def sample_video(pipe, options, prompt: str, first_frame: np.ndarray, conditions: Path) -> np.ndarray:
    """Stage III along the condition videos: (T, H, W, 3) uint8."""
    from pam.pipelines.cli import read_cue_videos
    from pam.pipelines.motion import DEFAULT_NEGATIVE_PROMPT

    cues = read_cue_videos(_cue_files(pipe, options, conditions), options.frames)
    negative = DEFAULT_NEGATIVE_PROMPT if options.negative_prompt is None else options.negative_prompt
    frames = pipe(first_frame, cues, prompt=prompt, negative_prompt=negative, height=options.height,
                  width=options.width, num_frames=options.frames, num_inference_steps=options.steps,
                  guidance_scale=options.guidance, seed=options.seed, output_type="np").frames[0]
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


# --- models held by a worker -------------------------------------------------------------------------


class StageModels:
    """Stage II / III pipelines of one worker, each loaded on first use and kept for every later clip
    (one pipeline per stage; a clip asking for other weights or another dtype replaces that stage's)."""

    def __init__(self, device: str | None = None):
        self.device = device
        self._loaded: dict[str, tuple[tuple, Any, dict]] = {}  # stage -> (key, pipeline, identifiers)

    def pipeline(self, stage: str, job: ClipJob) -> tuple[Any, Any, dict]:
        """(pipeline, the clip's options, model identifiers) for ``stage`` ("appearance" or "motion")."""
        spec = job.appearance if stage == "appearance" else job.motion
        options = stage_options(stage, job, self.device)
        key = (job.smoke, spec.dtype, spec.offload, spec.base, spec.controlnet)
        if stage not in self._loaded or self._loaded[stage][0] != key:
            self._loaded.pop(stage, None)  # free the old one before loading
            self._loaded[stage] = (key, load_pipeline(stage, options, job.smoke), model_identifiers(stage, spec, job.smoke))
        _, pipe, ids = self._loaded[stage]
        return pipe, options, ids




#: Where each stage's pipeline looks for a model field left None (inside ``$PAM_HOME``; as the pipelines' loaders).
DEFAULT_MODELS = {
    "appearance": {"base": "FLUX.1-dev", "controlnet": "PAM/controlnet.bin"},
    "motion": {"base": "CogVideoX-5b-I2V", "controlnet": "PAM/motion"},
}


def model_identifiers(stage: str, spec, smoke: bool) -> dict:
    """What made a stage's output: the smoke models, or each model location with a fingerprint of its weight files."""
    if smoke:
        factory = "tiny_appearance_pipeline" if stage == "appearance" else "tiny_motion_pipeline"
        return {"smoke": f"pam.smoke.{factory}(seed=0)", "random_weights": True}
    from pam.home import pam_home

    ids = {}
    for name, default in DEFAULT_MODELS[stage].items():
        value = getattr(spec, name)
        path = Path(value).expanduser() if value is not None else pam_home() / default
        ids[name] = {"location": str(path), "fingerprint": fingerprint(path) if path.exists() else None}
    return ids


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """A sha256 over each weight file's name, size and first and last MiB (hashing tens of GB in full
    would take minutes per worker); a changed or swapped checkpoint changes it."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in
                                                  (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json"))
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path) if file != path else file.name}:{size}".encode())
        with file.open("rb") as f:
            digest.update(f.read(chunk))
            if size > chunk:
                f.seek(max(chunk, size - chunk))
                digest.update(f.read(chunk))
    return digest.hexdigest()


# --- stages ------------------------------------------------------------------------------------------


def frame_camera(points: np.ndarray, view: ViewSpec, height: int, width: int) -> Camera:
    """A still camera for ``view`` looking at the centre of ``points`` (..., 3), every hand and object
    vertex of the clip in world coordinates.

    Auto-framing (``view.distance`` None): the distance is set so that the points' projections, over the
    whole clip, reach ``view.fill`` of the way from the image centre to its nearest edge (so the hand and
    object fill that share of the frame and stay in it). It starts from the distance at which the points'
    bounding sphere has that size (always in frame) and moves in, as projected sizes scale with 1 / distance.
    """
    points = points.reshape(-1, 3)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    radius = float(np.linalg.norm(points - centre, axis=1).max())
    az, el = np.deg2rad(view.azimuth), np.deg2rad(view.elevation)
    direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])

    def camera(distance: float) -> Camera:
        return Camera.look_at(centre + distance * direction, centre, fov_y_deg=view.fov, height=height, width=width)

    if view.distance is not None:
        return camera(view.distance)
    half_short = np.arctan(np.tan(np.deg2rad(view.fov) / 2) * min(1.0, width / height))
    distance = radius / np.sin(np.arctan(view.fill * np.tan(half_short)))
    for _ in range(4):
        uv = camera(distance).project(points)
        extent = max(np.abs(uv[:, 0] - width / 2).max() / (width / 2), np.abs(uv[:, 1] - height / 2).max() / (height / 2))
        distance = max(distance * extent / view.fill, 1.2 * radius)
    return camera(distance)


def _run_pose(job: ClipJob, out_root: Path, work: Path) -> None:
    from pam.scene import build_scene

    cache = Path(out_root) / WORK / "poses" / f"{job.pose_key}.npz"
    if cache.is_file():
        seq = HOISequence.load(cache)
    else:
        seq = stage_one(job, work)
        seq.save(cache)
    points = np.concatenate([m.vertices for m in build_scene(seq).meshes], 1)  # (T, N, 3)
    seq.camera = frame_camera(points, job.view, job.video.height, job.video.width)
    seq.meta["engine_view"] = {
        "azimuth": job.view.azimuth, "elevation": job.view.elevation, "fill": job.view.fill, "fov": job.view.fov,
        "in_frame": _fraction_in_frame(seq.camera, points),
    }
    seq.save(work / "sequence.npz")


def _fraction_in_frame(camera: Camera, points: np.ndarray) -> float:
    """Fraction of (T, N, 3) world points that project inside the image, in front of the camera."""
    cam = camera.world_to_camera(points)
    uv = camera.project(points)
    inside = (cam[..., 2] > 0) & (uv[..., 0] >= 0) & (uv[..., 0] < camera.width) & (uv[..., 1] >= 0) & (uv[..., 1] < camera.height)
    return round(float(inside.mean()), 4)


def _run_conditions(job: ClipJob, work: Path) -> None:
    from pam.conditions import write_condition_set
    from pam.fileio import atomic_dir

    seq = HOISequence.load(work / "sequence.npz")
    with atomic_dir(work / "conditions", replace=True) as tmp:
        write_condition_set(seq, tmp, backend=job.render_backend)


def _run_appearance(job: ClipJob, work: Path, models: StageModels) -> dict:
    from PIL import Image

    from pam.fileio import atomic_path

    pipe, options, ids = models.pipeline("appearance", job)
    image = sample_first_frame(pipe, options, job.prompt, work / "conditions")
    with atomic_path(work / "first_frame.png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return ids


def _run_motion(job: ClipJob, work: Path, models: StageModels) -> dict:
    from PIL import Image

    from pam.render.video import write_video

    pipe, options, ids = models.pipeline("motion", job)
    first = np.asarray(Image.open(work / "first_frame.png").convert("RGB"))
    video = sample_video(pipe, options, job.prompt, first, work / "conditions")
    write_video(work / "video.mp4", video, fps=job.video.fps)
    return ids


STAGE_OUTPUT = {"pose": "sequence.npz", "conditions": "conditions", "appearance": "first_frame.png", "motion": "video.mp4"}


def run_stage(stage: str, job: ClipJob, out_root: str | Path, models: StageModels | None = None) -> None:
    """Run one stage of ``job`` unless its result is already in the work folder; records its seconds and,
    for Stage II / III, the model identifiers in ``work/progress.json``."""
    work = work_dir(out_root, job.clip_id)
    if (work / STAGE_OUTPUT[stage]).exists():
        return
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ids = None
    if stage == "pose":
        _run_pose(job, Path(out_root), work)
    elif stage == "conditions":
        _run_conditions(job, work)
    else:
        if models is None:
            raise ValueError(f"stage {stage} needs the Stage II / III models")
        ids = (_run_appearance if stage == "appearance" else _run_motion)(job, work, models)
    progress = _progress(work)
    progress["seconds"][stage] = round(time.perf_counter() - start, 3)
    if ids is not None:
        progress["models"][stage] = ids
    _save_progress(work, progress)


def _progress(work: Path) -> dict:
    path = work / "progress.json"
    return json.loads(path.read_text()) if path.is_file() else {"seconds": {}, "models": {}}


def _save_progress(work: Path, progress: dict) -> None:
    from pam.fileio import atomic_path

    with atomic_path(work / "progress.json") as tmp:
        tmp.write_text(json.dumps(progress, indent=1))


def preview_frames(video: np.ndarray, conditions: dict[str, np.ndarray], joints_2d: np.ndarray):
    """Per frame: the video with the hand skeletons drawn over it, beside the depth, seg and normal
    conditions (``pam.conditions.preview_frame`` tiling). video (T, H, W, 3); joints_2d (T, NH, 21, 2)."""
    from pam.conditions import preview_frame
    from pam.render import draw_hand_skeleton

    for t, frame in enumerate(video):
        overlay = frame.copy()
        for hand in joints_2d[t]:
            draw_hand_skeleton(overlay, hand)
        yield preview_frame({"video + keypoints": overlay, **{k: v[t] for k, v in conditions.items()}})


def finish_clip(job: ClipJob, out_root: str | Path, until: str, attempts: int = 1) -> ClipResult:
    """Write ``OUT/clips/<clip_id>/`` from the work folder (atomically, replacing a folder of an earlier,
    shorter ``--until``); the work folder is removed once the clip is complete to Stage III."""
    from pam import __version__
    from pam.data.clip_folder import write_clip_folder
    from pam.fileio import load_arrays
    from pam.render.video import read_video, write_video

    out_root = Path(out_root)
    work = work_dir(out_root, job.clip_id)
    progress = _progress(work)
    if until == "pose":  # no clip folder without conditions: the trajectory goes to OUT/sequences/
        HOISequence.load(work / "sequence.npz").save(out_root / SEQUENCES / f"{job.clip_id}.npz")
        return ClipResult(clip_id=job.clip_id, status="done", stage=until, attempts=attempts,
                          seconds=progress["seconds"], object=job.object.label, prompt=job.prompt, smoke=job.smoke)
    cond = work / "conditions"
    files = {"sequence.npz": work / "sequence.npz", "sequence.json": work / "sequence.json"}
    files.update({f"{name}.mp4": cond / f"{name}.mp4" for name in CONDITION_VIDEOS})
    files.update({name: cond / name for name in ("annotations.npz", "preview.png", "preview.mp4")})
    if STAGES.index(until) >= STAGES.index("appearance"):
        files["first_frame.png"] = work / "first_frame.png"
    if until == "motion":
        files["video.mp4"] = work / "video.mp4"
        video = read_video(work / "video.mp4")
        conditions = {k: read_video(cond / f"{k}.mp4", max_frames=len(video)) for k in ("depth", "seg", "normal")}
        joints_2d = load_arrays(cond / "annotations.npz")["joints_2d"]
        files["preview.mp4"] = write_video(work / "preview.mp4", np.stack(list(preview_frames(video, conditions, joints_2d))),
                                           fps=job.video.fps)
    seq_meta = HOISequence.load(work / "sequence.npz").meta
    meta = {
        "source": {"kind": "generated", "engine": "pam generate", "smoke": job.smoke},
        "clip_id": job.clip_id,
        "prompt": job.prompt,
        "job": job.to_dict(),
        "seeds": {"pose": job.pose_seed, "view": job.view.index, "appearance": job.appearance_seed,
                  "motion": job.motion_seed},
        "pose": seq_meta.get("pose", {}),
        "view": seq_meta.get("engine_view", {}),
        "models": progress["models"],
        "pam_version": __version__,
        "engine": {"stage": until, "attempts": attempts, "seconds": progress["seconds"], "smoke": job.smoke},
    }
    if job.smoke:
        meta["smoke_note"] = "SMOKE RUN: tiny random-weight Stage II / III models; the images are noise, not data"
    complete = until == "motion"
    write_clip_folder(out_root / CLIPS, job.clip_id, files, meta, job.prompt, replace=True, move=complete)
    if complete:
        shutil.rmtree(work, ignore_errors=True)
    return ClipResult(clip_id=job.clip_id, status="done", stage=until, attempts=attempts,
                      seconds=progress["seconds"], object=job.object.label, prompt=job.prompt, smoke=job.smoke)


def failed(job: ClipJob, err: BaseException, out_root: str | Path, attempts: int) -> ClipResult:
    """The manifest row of a clip that raised ``err`` (with the seconds of the stages it finished)."""
    work = work_dir(out_root, job.clip_id)
    return ClipResult(clip_id=job.clip_id, status="failed", error=f"{type(err).__name__}: {err}"[:2000],
                      attempts=attempts, seconds=_progress(work)["seconds"] if work.is_dir() else {},
                      object=job.object.label, prompt=job.prompt, smoke=job.smoke)


def generate_clip(job: ClipJob, models: StageModels | None, out_root: str | Path, until: str = "motion",
                  attempts: int = 1) -> ClipResult:
    """Run ``job`` from wherever its work folder stands through ``until`` and write its clip folder.

    Never raises for a bad clip (a broken mesh, no grasp held, out of memory, a full disk): the
    error becomes ``ClipResult(status="failed")`` and the work folder keeps the finished stages.
    """
    try:
        for stage in STAGES[: STAGES.index(until) + 1]:
            run_stage(stage, job, out_root, models)
        return finish_clip(job, out_root, until, attempts)
    except Exception as err:  # one clip's failure is recorded, never fatal to the batch
        return failed(job, err, out_root, attempts)
