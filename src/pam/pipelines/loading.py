"""``load_<stage>_pipeline(options)``: weights from disk (``pam.home`` defaults), dtype, device and offload in one call."""

from __future__ import annotations

from diffusers import DiffusionPipeline

from pam.cli_options import parse_dtype, resolve_device
from pam.pipelines.appearance import AppearancePipeline
from pam.pipelines.motion import MotionPipeline
from pam.pipelines.options import AppearanceOptions, MotionOptions


def place(pipe: DiffusionPipeline, offload: str, device: str | None) -> None:
    """Put ``pipe`` on ``device`` (default CUDA if available), or attach diffusers' model / sequential offload."""
    device = resolve_device(device)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


def load_appearance_pipeline(options: AppearanceOptions) -> AppearancePipeline:
    """The Stage II pipeline of ``options.base`` + ``options.controlnet``, placed, VAE tiling on."""
    pipe = AppearancePipeline.from_pretrained_parts(options.base, options.controlnet, torch_dtype=parse_dtype(options.dtype))
    place(pipe, options.offload, options.device)
    pipe.vae.enable_tiling()
    return pipe


def load_motion_pipeline(options: MotionOptions) -> MotionPipeline:
    """The Stage III pipeline of ``options.base`` + ``options.controlnet``, placed, VAE tiling and slicing as asked."""
    pipe = MotionPipeline.from_pretrained_parts(options.base, options.controlnet, torch_dtype=parse_dtype(options.dtype))
    place(pipe, options.offload, options.device)
    if options.vae_tiling:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
    return pipe
