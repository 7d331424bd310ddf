"""`pam pose`: keyframes in, trajectories (``HOISequence`` .npz + .json) out, with a quality report.

``pose_sequences`` is the one-call entry point (also for ``pam demo``): built-in presets when no
keyframe file is given, ``num`` diverse trajectories from seeds ``seed, seed + 1, ...``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pam.hand import load_hand_model
from pam.objects import load_object
from pam.pose.generate import NoGraspHeld, generate_trajectory
from pam.pose.grasp import GraspRequest
from pam.pose.keyframes import KeyframeError, default_keyframes, load_grasp_request, load_init, load_target
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
    request: GraspRequest | None = None,
) -> list[HOISequence]:
    """Generate ``num`` trajectories; each gets its quality measures in ``meta["pose"]["quality"]``.

    Args:
        object: a built-in object name or mesh path; overrides the init file's object.
        init, target: keyframe JSON files (``pam.pose.keyframes``); defaults: the built-in scene.
        seed: the first seed; seeds ``seed, seed + 1, ...`` are tried in turn. A seed whose grasp
            candidates all drop the object is skipped (listed in ``skipped``), at most
            ``MAX_SKIPS_PER_TRAJECTORY * num`` of them.
        progress: optional callable ``progress(i)`` after each trajectory.
        skipped: optional list that receives the skipped seeds.
        request: grasp steering; its fields override the target file's "grasp" section.

    Raises:
        KeyframeError, PoseError, FileNotFoundError: bad inputs (nothing is produced).
        NoGraspHeld: too many seeds failed to hold the object.
    """
    if num < 1:
        raise KeyframeError(f"num: need at least one trajectory, got {num}")
    h0, obj, hT = default_keyframes(object or "mug")
    if init is not None:
        h0, obj = load_init(init)
        if object is not None:
            obj.mesh = object
    if target is None:
        hT = default_keyframes(obj.mesh, side=h0.side)[2]
    else:
        hT = load_target(target, initial=h0)
        request = GraspRequest.merged(load_grasp_request(target), request)
    o0 = np.eye(4)
    o0[:3, :3], o0[:3, 3] = obj.rotation, obj.translation
    hand = load_hand_model(h0.model, side=h0.side)
    mesh = load_object(obj.mesh, scale=obj.scale)
    sequences: list[HOISequence] = []
    failed: list[int] = [] if skipped is None else skipped
    next_seed = seed
    while len(sequences) < num:
        try:
            seq = generate_trajectory(h0, obj.mesh, o0, hT, frames=frames, fps=fps, seed=next_seed,
                                      scale=obj.scale, hand_model=hand, request=request)
        except NoGraspHeld as err:
            failed.append(next_seed)
            if len(failed) > MAX_SKIPS_PER_TRAJECTORY * num:
                raise NoGraspHeld(f"{len(failed)} seeds failed ({failed}); the last: {err}") from err
            next_seed += 1
            continue
        next_seed += 1
        seq.meta["pose"]["quality"] = evaluate(seq, mesh=mesh, hand_model=hand)
        sequences.append(seq)
        if progress is not None:
            progress(len(sequences) - 1)
    return sequences


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
