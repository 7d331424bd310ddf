"""pam.models: diffusers-native modules. Imported lazily, so `import pam.models` does not load diffusers."""

import importlib

_EXPORTS = {
    "FluxMultiConditionControlNet": "pam.models.flux_controlnet",
    "FluxReleaseControlNet": "pam.models.flux_release",
    "convert_release_controlnet": "pam.models.flux_release",
    "MissingWeightsError": "pam.home",
    "CogVideoXControlNet": "pam.models.cogvideox_controlnet",
    "ControlledTransformer": "pam.models.cogvideox_control",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pam.models' has no attribute {name!r}")
