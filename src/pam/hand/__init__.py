"""Hand models behind one interface (``pam.hand.base.HandModel``)."""

from pam.hand.base import BONES, JOINT_NAMES, NUM_JOINTS, HandModel, HandOutput

__all__ = ["BONES", "JOINT_NAMES", "NUM_JOINTS", "HandModel", "HandOutput"]
