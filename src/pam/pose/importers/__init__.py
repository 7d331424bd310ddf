"""Importers of external hand-object trajectories into ``HOISequence``: DexYCB, OakInk2, GraspXL."""

from pam.pose.importers.dexycb import load_dexycb
from pam.pose.importers.graspxl import load_graspxl
from pam.pose.importers.oakink2 import load_oakink2

__all__ = ["load_dexycb", "load_graspxl", "load_oakink2"]
