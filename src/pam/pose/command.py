"""`pam pose`: keyframes in, trajectories (``HOISequence`` .npz + .json) out, with a quality report.

``pose_sequences`` is the one-call entry point (also for ``pam demo``): built-in presets when no
keyframe file is given, ``num`` diverse trajectories from seeds ``seed, seed + 1, ...``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pam.pose.generate import generate_trajectory
from pam.pose.keyframes import KeyframeError, default_keyframes, load_init, load_target
from pam.pose.quality import evaluate
from pam.sequence import HOISequence


def pose_sequences(
    object: str | None = None,
    init: str | Path | None = None,
    target: str | Path | None = None,
    seed: int = 0,
    num: int = 1,
    frames: int = 49,
    fps: float = 15.0,
    progress=None,
) -> list[HOISequence]:
    """Generate ``num`` trajectories; each gets its quality measures in ``meta["pose"]["quality"]``.

    Args:
        object: a built-in object name or mesh path; overrides the init file's object.
        init, target: keyframe JSON files (``pam.pose.keyframes``); defaults: the built-in scene.
        seed: the first seed; trajectory i uses ``seed + i``.
        progress: optional callable ``progress(i)`` after each trajectory.

    Raises:
        KeyframeError, PoseError, FileNotFoundError: bad inputs (nothing is produced).
    """
    if num < 1:
        raise KeyframeError(f"num: need at least one trajectory, got {num}")
    h0, obj, hT = default_keyframes(object or "mug")
    if init is not None:
        h0, obj = load_init(init)
        if object is not None:
            obj.mesh = object
    if target is not None:
        hT = load_target(target, initial=h0)
    o0 = np.eye(4)
    o0[:3, :3], o0[:3, 3] = obj.rotation, obj.translation
    sequences = []
    for i in range(num):
        seq = generate_trajectory(h0, obj.mesh, o0, hT, frames=frames, fps=fps, seed=seed + i, scale=obj.scale)
        seq.meta["pose"]["quality"] = evaluate(seq)
        sequences.append(seq)
        if progress is not None:
            progress(i)
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
