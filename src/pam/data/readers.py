"""The ``Reader`` protocol, the ``READERS`` registry and ``make_reader``, plus what readers share.

A reader indexes one dataset under an explicit root (never an environment variable):
``clips(split)`` lists ``ClipRef`` s cheaply, ``sequence(ref)`` loads the poses as a
``HOISequence`` and ``frames(ref)`` the RGB frames, ``(T, H, W, 3)`` uint8 (``None`` for a dataset
without video). Every sequence a reader returns carries the same provenance schema::

    meta["source"] = {"kind": <reader name>, "root": str, "clip_id": str, "sequence": str,
                      "camera": str, "start": int, "num_frames": int, "frame_ids": [int, ...],
                      "fps": float, "objects": [names for prompts], "extra": {dataset-specific}}
    meta["hand_valid"] = {"right": [bool] * T, "left": [bool] * T}   # per hand of the sequence

``frame_ids`` are the dataset's own frame numbers (DexYCB frame index, OakInk2 image frame id).
A split is a name the reader knows (``SPLITS``) or a text file of clip ids, one per line.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar, Iterator, Protocol, runtime_checkable

import numpy as np

from pam.data.refs import ClipRef, ClipRefError
from pam.sequence import HOISequence


class DatasetError(ValueError):
    """A dataset root, split or file that does not follow the expected layout; names the path."""


@runtime_checkable
class Reader(Protocol):
    """What every dataset reader offers."""

    name: ClassVar[str]
    root: Path

    def clips(self, split: str) -> Iterator[ClipRef]:
        """The clips of ``split``, in a fixed order."""

    def sequence(self, ref: ClipRef) -> HOISequence:
        """Hands, objects and camera of the clip (world frame of the dataset; native image size)."""

    def frames(self, ref: ClipRef) -> np.ndarray | None:
        """The clip's RGB frames (T, H, W, 3) uint8 at the native size, or None without video."""


class DatasetReader(abc.ABC):
    """Shared driver code: root checks, split dispatch (named splits or clip-id list files)."""

    name: ClassVar[str]
    #: Named splits, for ``clips`` and error messages.
    SPLITS: ClassVar[tuple[str, ...]]
    #: A path under the root that must exist for the root to be this dataset's.
    MARKER: ClassVar[str]

    def __init__(self, root: str | Path, num_frames: int = 49, mano_dir: str | Path | None = None) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such {self.name} root folder")
        if not (self.root / self.MARKER).exists():
            raise DatasetError(f"{self.root}: not a {self.name} root (no {self.MARKER}/; see docs/data.md for the layout)")
        if num_frames < 1:
            raise DatasetError(f"clip length must be at least 1 frame, got {num_frames}")
        self.num_frames = int(num_frames)
        self.mano_dir = mano_dir

    def clips(self, split: str) -> Iterator[ClipRef]:
        """The clips of a named split (``SPLITS``) or of a text file listing clip ids."""
        if split in self.SPLITS:
            return self._split_clips(split)
        path = Path(split).expanduser()
        if path.suffix == ".txt" and path.is_file():
            return iter(self._listed_clips(path))
        raise DatasetError(f"unknown {self.name} split {split!r}: use one of {', '.join(self.SPLITS)} "
                           "or a .txt file of clip ids")

    def _listed_clips(self, path: Path) -> list[ClipRef]:
        refs = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                ref = ClipRef.from_clip_id(line.strip())
            except ClipRefError as exc:
                raise DatasetError(f"{path}:{number}: {exc}") from None
            if ref.dataset != self.name:
                raise DatasetError(f"{path}:{number}: clip {ref.clip_id} is from {ref.dataset}, not {self.name}")
            refs.append(ref)
        return refs

    @abc.abstractmethod
    def _split_clips(self, split: str) -> Iterator[ClipRef]:
        """The clips of a named split."""

    @abc.abstractmethod
    def sequence(self, ref: ClipRef) -> HOISequence: ...

    @abc.abstractmethod
    def frames(self, ref: ClipRef) -> np.ndarray | None: ...

    def _check(self, ref: ClipRef) -> None:
        if ref.dataset != self.name:
            raise DatasetError(f"clip {ref.clip_id} is from {ref.dataset}; this reader reads {self.name}")

    def _source(self, ref: ClipRef, frame_ids, fps: float, objects: list[str], **extra) -> dict:
        """``meta["source"]`` in the one schema of the module docstring."""
        return {"kind": self.name, "root": str(self.root), "clip_id": ref.clip_id, "sequence": ref.sequence,
                "camera": ref.camera, "start": ref.start, "num_frames": ref.num_frames,
                "frame_ids": [int(f) for f in frame_ids], "fps": float(fps), "objects": list(objects), "extra": extra}


#: Reader name -> "module:class", imported on first use.
READERS: dict[str, str] = {
    "dexycb": "pam.data.dexycb:DexYCBReader",
    "oakink2": "pam.data.oakink2:OakInk2Reader",
    "graspxl": "pam.data.graspxl:GraspXLReader",
}


def make_reader(name: str, root: str | Path, **options) -> DatasetReader:
    """The reader ``name`` (a key of ``READERS``) on the dataset under ``root``.

    Options: ``num_frames`` (clip length, default 49), ``mano_dir`` (MANO files; default
    ``pam.hand.mano.default_mano_dir()``), and per reader: OakInk2 ``image_size`` (H, W) when the
    images are absent.
    """
    import importlib

    if name not in READERS:
        raise DatasetError(f"unknown dataset {name!r}: use one of {', '.join(READERS)}")
    module, cls = READERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(root, **options)


# --- helpers shared by the readers ----------------------------------------------------------------


def transl_from_wrist(wrist: np.ndarray, betas: np.ndarray, side: str, mano_dir=None) -> np.ndarray:
    """MANO ``transl`` (T, 3) that puts the wrist joint at ``wrist`` (T, 3) for shape ``betas``.

    MANO rotates the hand about its rest wrist joint ``J0(betas)``, so the posed wrist is
    ``J0(betas) + transl`` whatever the pose: ``transl = wrist - J0(betas)``.
    """
    import torch

    from pam.hand import load_hand_model

    hand = load_hand_model("mano", side, mano_dir).double()
    with torch.no_grad():
        rest = hand(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 45, dtype=torch.float64),
                    torch.as_tensor(betas, dtype=torch.float64)[None]).joints[0, 0].numpy()
    return np.asarray(wrist, dtype=np.float64) - rest


def read_rgb(paths: list[Path]) -> np.ndarray:
    """Images -> (T, H, W, 3) uint8 RGB; ``FileNotFoundError`` / ``DatasetError`` naming a bad file."""
    import cv2

    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing image")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"{path}: not a readable image")
        if frames and image.shape != frames[0].shape:
            raise DatasetError(f"{path}: {image.shape[1]} x {image.shape[0]} px, earlier frames "
                               f"{frames[0].shape[1]} x {frames[0].shape[0]}")
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing image")
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except UnidentifiedImageError:
        raise DatasetError(f"{path}: not a readable image") from None
