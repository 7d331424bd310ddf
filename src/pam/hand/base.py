"""The interface every hand model implements (OpenHand, ManoHand)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch

NUM_JOINTS = 21
#: Joint names in MANO/DexYCB order: wrist, then thumb, index, middle, ring, little (tips last).
JOINT_NAMES = ["wrist"] + [
    f"{finger}{i}" for finger in ("thumb", "index", "middle", "ring", "little") for i in range(1, 5)
]
#: The 20 bones as (parent, child) joint indices, in the order of REFERENCE.md's limb palette.
BONES = [(0 if i % 4 == 0 else i, i + 1) for i in range(20)]


@dataclass
class HandOutput:
    """Posed hand geometry.

    Attributes:
        vertices: (B, V, 3) surface vertices in metres.
        joints: (B, 21, 3) keypoints in MANO/DexYCB order.
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class HandModel(torch.nn.Module, abc.ABC):
    """A MANO-parameterised hand: global orient (3) + 15 joints x 3 axis-angle + betas (10) + translation.

    Subclasses register their template as buffers, so ``.to(device, dtype)`` moves them.
    """

    side: str
    #: (F, 3) int64 triangle indices, counter-clockwise seen from outside.
    faces: np.ndarray

    @abc.abstractmethod
    def forward(
        self,
        global_orient: torch.Tensor,
        hand_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandOutput:
        """global_orient (B, 3), hand_pose (B, 45), betas (B, 10) or (10,), transl (B, 3) -> HandOutput."""
