"""Deprecated: the dataset readers moved to ``pam.data`` (``make_reader``, ``DexYCBReader``,
``OakInk2Reader``, ``GraspXLReader``). These wrappers keep the old call shapes for one release;
the dataset root is now explicit and, as in the readers, OakInk2 ``tsl`` and GraspXL ``trans`` are
read as wrist positions."""

from __future__ import annotations

import warnings
from pathlib import Path

from pam.data.refs import ClipRef
from pam.sequence import HOISequence


def _warn(name: str) -> None:
    warnings.warn(f"pam.pose.importers.{name} is deprecated; use pam.data.make_reader", DeprecationWarning, stacklevel=3)


def load_dexycb(sequence_dir, serial: str, start: int = 0, num_frames: int | None = None, root=None,
                mano_dir=None) -> HOISequence:
    """Frames ``start .. start + num_frames`` (default: to the end) of ``<root>/<subject>/<sequence>``."""
    from pam.data.dexycb import DexYCBReader, _yaml

    _warn("load_dexycb")
    seq_dir = Path(sequence_dir)
    root = Path(root) if root is not None else seq_dir.parents[1]
    count = int(_yaml(seq_dir / "meta.yml")["num_frames"]) - start if num_frames is None else num_frames
    reader = DexYCBReader(root, num_frames=count, mano_dir=mano_dir)
    return reader.sequence(ClipRef("dexycb", seq_dir.relative_to(root).as_posix(), str(serial), start, count))


def load_oakink2(anno_path, camera: str, root, start: int = 0, num_frames: int = 49, mano_dir=None) -> HOISequence:
    """Frames ``start .. start + num_frames`` (image frames) of ``<root>/anno_preview/<seq_token>.pkl``."""
    from pam.data.oakink2 import OakInk2Reader

    _warn("load_oakink2")
    reader = OakInk2Reader(root, num_frames=num_frames, mano_dir=mano_dir)
    sequence = Path(anno_path).stem.replace("++", "/")
    return reader.sequence(ClipRef("oakink2", sequence, camera, start, num_frames))


def load_graspxl(path, root, fps: float = 30.0, mano_dir=None) -> HOISequence:
    """The whole motion of ``<root>/mano_dataset_<n>/<size>/<object id>/mano_<k>.npy``."""
    from pam.data.graspxl import GraspXLReader, load_motion

    _warn("load_graspxl")
    path = Path(path)
    count = len(load_motion(path)[0]["trans"])
    reader = GraspXLReader(root, num_frames=count, mano_dir=mano_dir, fps=fps)
    return reader.sequence(ClipRef("graspxl", path.relative_to(root).with_suffix("").as_posix(), "default", 0, count))


__all__ = ["load_dexycb", "load_graspxl", "load_oakink2"]
