"""``--smoke``: a few synthetic clips and a configuration that runs the real trainer on tiny models.

Clips: Stage I trajectories (``pam.pose.command.pose_sequences``, built-in mug scene, one seed each),
their conditions rendered by ``pam.conditions.write_condition_set`` through a camera scaled down to the
smoke size, and a synthetic RGB video shaded from the rendered depth and instance ids (a textured
background, skin-coloured hand, coloured object), written as clip folders
(:func:`pam.data.clip_folder.write_clip_folder`). The models are :mod:`pam.smoke`'s tiny random ones,
so the run checks the plumbing (cache, loss, optimiser, checkpoints, resume, validation), not quality.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from pam.smoke import APPEARANCE_HEIGHT, APPEARANCE_WIDTH, HEIGHT, NUM_FRAMES, TEXT_LENGTH, WIDTH

SMOKE_PROMPT = "a hand holds the red mug on the table"
CLIP_FRAMES = 17  # Stage I's shortest trajectory; the motion smoke reads the first 9 frames
SKIN = np.array([224, 172, 105], np.float32)
OBJECT_COLOURS = np.array([[200, 40, 40], [40, 90, 200], [60, 160, 60]], np.float32)


def synthetic_rgb(depth: np.ndarray, ids: np.ndarray, num_hands: int) -> np.ndarray:
    """(T, H, W, 3) uint8 frames from per-frame depth (T, H, W) metres and instance ids (T, H, W)
    (0 background, 1..num_hands hands, then objects): flat colours shaded by depth on a checked background."""
    t, h, w = depth.shape
    yy, xx = np.mgrid[0:h, 0:w]
    checks = (((yy // 8) + (xx // 8)) % 2)[None, :, :, None] * 40.0
    frames = np.broadcast_to(np.array([150, 130, 110], np.float32) + checks, (t, h, w, 3)).copy()
    hand = (ids >= 1) & (ids <= num_hands)
    frames[hand] = SKIN
    for k in range(ids.max(initial=0) - num_hands):
        frames[ids == num_hands + 1 + k] = OBJECT_COLOURS[k % len(OBJECT_COLOURS)]
    foreground = ids > 0
    if foreground.any():
        near, far = depth[foreground].min(), depth[foreground].max()
        shade = 1.0 - 0.5 * (depth - near) / max(far - near, 1e-6)
        frames[foreground] *= shade[foreground][:, None]
    return frames.clip(0, 255).astype(np.uint8)


def write_synthetic_clip(root: str | Path, clip_id: str, seq, prompt: str = SMOKE_PROMPT, meta: dict | None = None):
    """Render ``seq``'s conditions, shade a synthetic RGB video from them (:func:`synthetic_rgb`) and write the
    clip folder ``root/clip_id``; returns the :class:`~pam.data.clip_folder.ClipFolder`."""
    from pam.conditions import write_condition_set
    from pam.data.clip_folder import CONDITIONS, VIDEO, write_clip_folder
    from pam.fileio import load_arrays
    from pam.render.video import write_video

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmp = Path(tmp)
        written = write_condition_set(seq, tmp)
        arrays = load_arrays(written["annotations"])
        rgb = synthetic_rgb(arrays["depth"], arrays["instance_ids"], len(seq.hands))
        files = {VIDEO: write_video(tmp / VIDEO, rgb, fps=seq.fps), "annotations.npz": written["annotations"],
                 "sequence.npz": seq.save(tmp / "sequence.npz")}
        files |= {name: tmp / name for name in CONDITIONS.values()}
        return write_clip_folder(root, clip_id, files, meta or {"source": {"kind": "synthetic"}}, prompt)


def make_smoke_clips(root: str | Path, num: int = 3, seed: int = 0, height: int = HEIGHT, width: int = WIDTH,
                     prefix: str = "smoke", progress=None) -> list[Path]:
    """Write ``num`` clip folders ``root/<prefix>-<i>`` from Stage I trajectories of seeds ``seed + i``, seen
    through the scene's camera scaled to ``height`` x ``width`` (complete folders are kept); returns their paths."""
    from pam.data.clip_folder import is_complete
    from pam.pose.command import pose_sequences
    from pam.sequence import Camera

    paths = [Path(root) / f"{prefix}-{i:03d}" for i in range(num)]
    for i, path in enumerate(paths):
        if not is_complete(path):
            seq = pose_sequences(seed=seed + i, num=1, frames=CLIP_FRAMES)[0]
            cam = seq.camera
            scale = np.diag([width / cam.width, height / cam.height, 1.0])
            seq.camera = Camera(K=scale @ cam.K, R=cam.R, t=cam.t, height=height, width=width)
            meta = {"source": {"kind": "synthetic", "seed": seed + i, "generator": "pam.training.smoke"}}
            write_synthetic_clip(root, path.name, seq, meta=meta)
        if progress is not None:
            progress(i + 1, num)
    return paths


def smoke_settings(stage: str, output_dir: str | Path) -> dict:
    """The smoke run's configuration (a mapping for :func:`pam.training.config.load_train_config`):
    2 training clips, 1 validation clip, tiny models, CPU-friendly sizes, 20 steps."""
    output_dir = Path(output_dir)
    clips = output_dir / "smoke-clips"
    return {
        "stage": stage,
        "output_dir": str(output_dir),
        "seed": 0,
        "mixed_precision": "no",
        "gradient_checkpointing": False,
        "tracker": "tensorboard" if _has_tensorboard() else "none",
        "data": {"train": [str(clips / "train")], "val": [str(clips / "val")], "num_workers": 0},
        "model": {"tiny": True},
        "appearance": {"height": APPEARANCE_HEIGHT, "width": APPEARANCE_WIDTH, "frames": [0, 8],
                       "max_sequence_length": TEXT_LENGTH},
        "motion": {"height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_layers": 1,
                   "max_sequence_length": TEXT_LENGTH},
        "optim": {"lr": 1e-3, "warmup_steps": 2, "max_steps": 20},
        "cache": {"dir": str(output_dir / "cache")},
        "checkpoint": {"every": 10, "keep": 2},
        "validation": {"every": 10, "num_clips": 1, "steps": 2},
    }


def prepare_smoke_data(output_dir: str | Path, progress=None) -> None:
    """The smoke clips of :func:`smoke_settings`: ``smoke-clips/train`` (2) and ``smoke-clips/val`` (1)."""
    clips = Path(output_dir) / "smoke-clips"
    clips.mkdir(parents=True, exist_ok=True)
    make_smoke_clips(clips / "train", num=2, seed=0, progress=progress and (lambda done, _: progress(done, 3)))
    make_smoke_clips(clips / "val", num=1, seed=2, prefix="smoke-val", progress=progress and (lambda done, _: progress(2 + done, 3)))


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
