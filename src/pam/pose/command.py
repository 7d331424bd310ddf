"""`pam pose`: keyframes in, trajectories (``HOISequence`` .npz + .json) out, with a quality report.

``pose_sequences`` is the one-call entry point (also for ``pam demo``): built-in presets when no
keyframe file is given, ``num`` diverse trajectories from seeds ``seed, seed + 1, ...``, spread over the grasp families
(trajectory k asks for family k mod 3 first, then any).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pam.hand import load_hand_model
from pam.objects import load_object
from pam.pose.generate import HandTask, NoGraspFound, NoGraspHeld, SceneObject, generate_scene
from pam.pose.grasp import FAMILIES, GraspRequest
from pam.pose.keyframes import (
    KeyframeError,
    ObjectGoal,
    default_keyframes,
    load_grasp_request,
    load_scene_init,
    load_scene_target,
)
from pam.pose.quality import evaluate
from pam.sequence import HOISequence


#: Seeds that may be skipped per requested trajectory before ``pose_sequences`` gives up.
MAX_SKIPS_PER_TRAJECTORY = 2


def pose_sequences(
    object: str | None = None,
    init: str | Path | None = None,
    target: str | Path | None = None,
    seed: int = 0,
    num: int = 1,
    frames: int = 49,
    fps: float = 15.0,
    progress=None,
    skipped: list[int] | None = None,
    scale: float | None = None,
    request: GraspRequest | None = None,
) -> list[HOISequence]:
    """Generate ``num`` trajectories; each gets its quality measures in ``meta["pose"]["quality"]``.

    Args:
        object: a built-in object name or mesh path; overrides the init file's (first) object.
        init, target: keyframe JSON files (``pam.pose.keyframes``, one or two hands); defaults:
            the built-in scene, and a lift by 15 cm with a power grasp.
        seed: the first seed (>= 0); seeds ``seed, seed + 1, ...`` are tried in turn. A seed whose
            grasp candidates all fail in simulation is skipped (listed in ``skipped``), at most
            ``MAX_SKIPS_PER_TRAJECTORY * num`` of them.
        progress: optional callable ``progress(i)`` after each trajectory.
        skipped: optional list that receives the skipped seeds.
        scale: mesh units -> metres for the objects (overrides the init file's scale), e.g. 0.001
            for a mesh in millimetres.
        request: grasp steering; its fields override the target file's "grasp" section.

    Raises:
        KeyframeError, PoseError, FileNotFoundError, MeshError: bad inputs (nothing is produced).
        NoGraspHeld: too many seeds failed.
    """
    if num < 1:
        raise KeyframeError(f"--num: need at least one trajectory, got {num}")
    if seed < 0:
        raise KeyframeError(f"--seed: must be a non-negative integer, got {seed}")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise KeyframeError(f"--scale: must be positive, got {scale}")
    table_z = None
    if init is None:
        h0, obj, _ = default_keyframes(object or "mug")
        starts, objs = [h0], [obj]
    else:
        starts, objs, table_z = load_scene_init(init)
        if object is not None:
            objs[0].mesh = object
    for obj in objs:
        obj.scale = obj.scale if scale is None else float(scale)
    if target is None:
        goals = [(default_keyframes(objs[i].mesh, side=h.side)[2], ObjectGoal(), i) for i, h in enumerate(starts)]
    else:
        goals = load_scene_target(target, starts)
        request = GraspRequest.merged(load_grasp_request(target), request)
    tasks = [HandTask(h0, hT, o, goal) for h0, (hT, goal, o) in zip(starts, goals)]
    models = [load_hand_model(h.model, side=h.side) for h in starts]
    scene = []
    for obj in objs:
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = obj.rotation, obj.translation
        scene.append(SceneObject(obj.mesh, load_object(obj.mesh, scale=obj.scale), pose, obj.scale))
    sequences: list[HOISequence] = []
    failed: list[int] = [] if skipped is None else skipped
    next_seed = seed
    while len(sequences) < num:
        try:
            seq = _generate_varied(tasks, scene, len(sequences) if num > 1 else None, frames=frames, fps=fps,
                                   seed=next_seed, hand_models=models, table_z=table_z, request=request)
        except NoGraspHeld as err:
            failed.append(next_seed)
            if len(failed) > MAX_SKIPS_PER_TRAJECTORY * num:
                raise NoGraspHeld(f"{len(failed)} seeds failed ({failed}); the last: {err}") from err
            next_seed += 1
            continue
        next_seed += 1
        seq.meta["pose"]["quality"] = evaluate(seq, meshes=[o.mesh for o in scene], hand_models=models).as_dict()
        sequences.append(seq)
        if progress is not None:
            progress(len(sequences) - 1)
    return sequences


def _generate_varied(tasks, scene, index: int | None, request: GraspRequest | None, **kwargs) -> HOISequence:
    """``generate_scene`` for trajectory ``index`` of several: without a requested family, it first
    asks for family ``FAMILIES[index % 3]`` (so ``--num`` spreads over the families), and when that family
    has no grasp of the object here (``NoGraspFound``: a hook round a banana lying flat) or none held
    (``NoGraspHeld``), tries the same seed with any family."""
    if index is None or (request is not None and request.family is not None):
        return generate_scene(tasks, scene, request=request, **kwargs)
    family = FAMILIES[index % len(FAMILIES)]
    try:
        return generate_scene(tasks, scene, request=GraspRequest.merged(request, GraspRequest(family=family)), **kwargs)
    except (NoGraspFound, NoGraspHeld):
        return generate_scene(tasks, scene, request=request, **kwargs)


def output_paths(out: str | Path, num: int) -> list[Path]:
    """``seq.npz`` for one trajectory, ``seq_000.npz, seq_001.npz, ...`` for several."""
    out = Path(out)
    if out.suffix != ".npz":
        raise KeyframeError(f"--out {out}: sequences are written as .npz")
    if num == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i:03d}.npz") for i in range(num)]


def save_all(sequences: list[HOISequence], out: str | Path) -> list[Path]:
    """Write every sequence (atomically; called only once all were generated)."""
    return [seq.save(path) for seq, path in zip(sequences, output_paths(out, len(sequences)))]
