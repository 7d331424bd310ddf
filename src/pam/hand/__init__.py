"""Hand models behind one interface (``pam.hand.base.HandModel``): OpenHand (ours) and ManoHand (MANO)."""

from __future__ import annotations

import os

from pam.hand.base import BONES, JOINT_NAMES, NUM_JOINTS, HandModel, HandOutput
from pam.hand.mano import ManoHand
from pam.hand.open_hand import OpenHand

__all__ = ["BONES", "JOINT_NAMES", "NUM_JOINTS", "HandModel", "HandOutput", "ManoHand", "OpenHand", "load_hand_model"]


def load_hand_model(model: str = "open", side: str = "right", mano_dir: str | os.PathLike | None = None) -> HandModel:
    """The hand model named by ``HandTrack.model``: ``"open"`` (OpenHand) or ``"mano"`` (ManoHand, full pose,
    flat hand mean, from ``mano_dir`` or the default MANO directory)."""
    if model == "open":
        return OpenHand(side)
    if model == "mano":
        return ManoHand(mano_dir, side=side)
    raise ValueError(f"hand model must be 'open' or 'mano', got {model!r}")
