"""``pam demo``: Stage I on a built-in scene, then the scene's condition set, into one folder."""

from __future__ import annotations

from pathlib import Path

from pam.conditions import Progress, write_condition_set


def run_demo(
    out_dir: str | Path = "pam-demo",
    object: str = "mug",
    frames: int = 49,
    fps: float = 15.0,
    seed: int = 0,
    backend: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Generate a reach-grasp-lift trajectory of the open hand for a built-in ``object`` (Stage I),
    save it as ``sequence.npz`` and render its conditions; returns name -> written path."""
    from pam.pose.command import pose_sequences

    seq = pose_sequences(object, seed=seed, frames=frames, fps=fps)[0]
    out_dir = Path(out_dir)
    written = {"sequence": seq.save(out_dir / "sequence.npz")}
    written.update(write_condition_set(seq, out_dir, backend=backend, progress=progress))
    return written
