"""pam.pipelines: the Stage II and Stage III samplers."""

from pam.pipelines.motion import MotionPipeline

__all__ = ["MotionPipeline"]
