"""``ClipRef``: a cheap, frozen pointer to one clip of a dataset (no images or poses loaded).

Readers list clips as ``ClipRef`` s and load the heavy payload (``HOISequence``, RGB frames) only
when asked; only ``ClipRef`` crosses module boundaries, and on disk a built clip becomes a clip
folder named ``clip_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters allowed in a dataset name, a camera name and a sequence key (``/`` separates levels).
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_SEQUENCE = re.compile(r"^[A-Za-z0-9._/@-]+$")


class ClipRefError(ValueError):
    """A malformed clip reference or clip id; the message names it."""


@dataclass(frozen=True)
class ClipRef:
    """Frames ``start .. start + num_frames`` of one sequence seen by one camera.

    Attributes:
        dataset: the reader's name (``"dexycb"``, ``"oakink2"``, ``"graspxl"``).
        sequence: the dataset's own sequence key, levels separated by ``/`` (DexYCB
            ``20200709-subject-01/20200709_141754``; OakInk2 ``scene_01__A001/<id>__<date>``;
            GraspXL ``mano_dataset_1/small/<object id>/mano_1``).
        camera: the camera (DexYCB serial, OakInk2 camera name); ``"default"`` where the dataset
            has none (GraspXL).
        start: the first frame, as a position in the sequence's frame list.
        num_frames: the clip length in frames.
        prompt: a text description the dataset ships for this clip ("" if none).
    """

    dataset: str
    sequence: str
    camera: str
    start: int
    num_frames: int
    prompt: str = ""

    def __post_init__(self) -> None:
        for field, value in (("dataset", self.dataset), ("camera", self.camera)):
            if not isinstance(value, str) or not _NAME.match(value) or "__" in value:
                raise ClipRefError(f"clip ref {field}: expected letters, digits, '.', '_' or '-' (no '__'), got {value!r}")
        if not isinstance(self.sequence, str) or not _SEQUENCE.match(self.sequence) or "+" in self.sequence:
            raise ClipRefError(f"clip ref sequence: unsupported characters in {self.sequence!r}")
        if int(self.start) < 0 or int(self.num_frames) < 1:
            raise ClipRefError(f"clip ref {self.sequence}: start must be >= 0 and num_frames >= 1, "
                               f"got {self.start}, {self.num_frames}")
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "num_frames", int(self.num_frames))

    @property
    def clip_id(self) -> str:
        """``<dataset>__<sequence, '/' as '+'>__<camera>__<start:06d>-<num_frames:03d>``: a folder name
        that ``from_clip_id`` reads back (the prompt is not part of it)."""
        return f"{self.dataset}__{self.sequence.replace('/', '+')}__{self.camera}__{self.start:06d}-{self.num_frames:03d}"

    @property
    def stop(self) -> int:
        return self.start + self.num_frames

    @classmethod
    def from_clip_id(cls, clip_id: str, prompt: str = "") -> "ClipRef":
        """The reference a ``clip_id`` was made from."""
        try:
            dataset, rest = clip_id.split("__", 1)
            sequence, camera, window = rest.rsplit("__", 2)
            start, num_frames = window.split("-")
            return cls(dataset, sequence.replace("+", "/"), camera, int(start), int(num_frames), prompt)
        except (ValueError, ClipRefError) as exc:
            raise ClipRefError(f"{clip_id!r} is not a clip id "
                               f"(<dataset>__<sequence>__<camera>__<start>-<frames>): {exc}") from None
