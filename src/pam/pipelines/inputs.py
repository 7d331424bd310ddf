"""Turning user images (PIL, uint8 numpy, tensors) into model tensors in [-1, 1], and checking user-given
cue names against a pipeline's ControlNet (:class:`ControlNetCues`).

Convention (DESIGN.md): images in memory are uint8 RGB ``(H, W, 3)``; at model boundaries float
tensors in [-1, 1], ``(B, 3, H, W)``. Conversion is x / 255 * 2 - 1 followed by a plain resize to the
model resolution (bilinear, or nearest for label images such as segmentation, which must keep their
palette colours).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.utils import logging
from PIL import Image

logger = logging.get_logger(__name__)

ImageInput = Image.Image | np.ndarray | torch.Tensor
LABEL_CUES = frozenset({"seg"})
"""Cues whose colours are labels (resized with nearest neighbour, REFERENCE.md)."""


def image_to_tensor(image: ImageInput, name: str = "image") -> torch.Tensor:
    """Convert one image or a batch to a float32 tensor ``(B, 3, H, W)`` in [-1, 1], without resizing.

    Accepts a PIL image (converted to RGB), a uint8 array ``(H, W, 3)`` / ``(B, H, W, 3)`` /
    ``(H, W)`` (grey), or a float tensor ``(3, H, W)`` / ``(B, 3, H, W)`` already in [-1, 1].

    Raises:
        ValueError / TypeError naming ``name`` for any other type, dtype, shape or value range.
    """
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"{name}: numpy images must be uint8 RGB (H, W, 3), got dtype {image.dtype}")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim not in (3, 4) or image.shape[-1] != 3:
            raise ValueError(f"{name}: expected a uint8 array (H, W, 3) or (B, H, W, 3), got shape {image.shape}")
        tensor = torch.from_numpy(np.array(image)).float().div(127.5).sub(1.0)
        tensor = tensor.movedim(-1, -3)
    elif isinstance(image, torch.Tensor):
        if not torch.is_floating_point(image):
            raise ValueError(f"{name}: tensors must be float in [-1, 1], got dtype {image.dtype}")
        if image.ndim not in (3, 4) or image.shape[-3] != 3:
            raise ValueError(f"{name}: expected a tensor (3, H, W) or (B, 3, H, W), got shape {tuple(image.shape)}")
        if image.numel() and (image.min() < -1.001 or image.max() > 1.001):
            raise ValueError(
                f"{name}: tensor values must lie in [-1, 1], got [{image.min().item():.3f}, {image.max().item():.3f}]"
            )
        tensor = image.float()
    else:
        raise TypeError(f"{name}: expected a PIL image, a uint8 numpy array or a tensor, got {type(image).__name__}")
    return tensor if tensor.ndim == 4 else tensor[None]


def resize_tensor(tensor: torch.Tensor, height: int, width: int, nearest: bool = False) -> torch.Tensor:
    """Plain resize of ``(B, C, H, W)`` to ``(B, C, height, width)`` (no crop, no padding)."""
    if tensor.shape[-2:] == (height, width):
        return tensor
    if nearest:
        return F.interpolate(tensor, size=(height, width), mode="nearest-exact")
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


class ControlNetCues:
    """Mixin for a pipeline with a ``controlnet`` (cue slots and the cues it was trained with)."""

    @property
    def cue_names(self) -> tuple[str, ...]:
        """The ControlNet's cue slots, in order."""
        return self.controlnet.cue_names

    @property
    def trained_cue_names(self) -> tuple[str, ...]:
        """The cues the ControlNet was trained with (the other slots were always the null input)."""
        return self.controlnet.trained_cue_names

    def check_cue_names(self, cues: Iterable[str], cue_scales: Iterable[str] = ()) -> None:
        """Raise a ValueError for names in ``cues`` or ``cue_scales`` without a slot; warn for untrained cues."""
        cues = set(cues)
        for label, names in (("", cues), ("cue_scales names ", cue_scales)):
            unknown = sorted(set(names) - set(self.cue_names))
            if unknown:
                raise ValueError(f"{label}unknown cue(s) {unknown}; this ControlNet reads {list(self.cue_names)}")
        untrained = sorted(cues - set(self.trained_cue_names))
        if untrained:
            logger.warning(
                f"cue(s) {untrained} were never given in this ControlNet's training (trained with "
                f"{list(self.trained_cue_names)}): the result is out of distribution"
            )
