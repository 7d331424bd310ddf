"""Hand models behind one interface (``pam.hand.base.HandModel``): OpenHand (ours) and ManoHand (MANO)."""

from pam.hand.base import BONES, JOINT_NAMES, NUM_JOINTS, HandModel, HandOutput
from pam.hand.open_hand import OpenHand

__all__ = ["BONES", "JOINT_NAMES", "NUM_JOINTS", "HandModel", "HandOutput", "OpenHand"]
