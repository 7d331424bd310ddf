"""pam.pipelines: Stage II / III samplers. Imported lazily, so `import pam.pipelines` does not load diffusers."""

import importlib

_EXPORTS = {"AppearancePipeline": "pam.pipelines.appearance", "MotionPipeline": "pam.pipelines.motion"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pam.pipelines' has no attribute {name!r}")
