"""pam.models: diffusers-native modules of the engine."""

from pam.models.cogvideox_control import ControlledTransformer
from pam.models.cogvideox_controlnet import CogVideoXControlNet

__all__ = ["CogVideoXControlNet", "ControlledTransformer"]
