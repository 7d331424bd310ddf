"""``load_<stage>_pipeline(options)``: weights from disk (``pam.home`` defaults), dtype, device and offload."""

from __future__ import annotations

from diffusers import DiffusionPipeline

from pam.cli_options import parse_dtype, resolve_device
from pam.pipelines.appearance import AppearancePipeline
from pam.pipelines.motion import MotionPipeline
from pam.pipelines.options import AppearanceOptions, MotionOptions


def place(pipe: DiffusionPipeline, offload: str, device: str | None) -> None:
    """Put ``pipe`` on ``device`` (default CUDA if available), or attach diffusers' model / sequential offload
    (which moves models between the CPU and an accelerator, so a CPU device is a ValueError there)."""
    device = resolve_device(device)
    if offload != "none" and str(device).startswith("cpu"):
        raise ValueError(
            f"--offload {offload} moves models to an accelerator, but the device is {device}; use --offload none"
        )
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


def load_appearance_pipeline(options: AppearanceOptions) -> AppearancePipeline:
    """The Stage II pipeline of ``options.base`` + ``options.controlnet``, placed, VAE tiling on."""
    dtype = parse_dtype(options.dtype)
    pipe = AppearancePipeline.from_pretrained_parts(options.base, options.controlnet, torch_dtype=dtype)
    place(pipe, options.offload, options.device)
    pipe.vae.enable_tiling()
    return pipe


def load_motion_pipeline(options: MotionOptions) -> MotionPipeline:
    """The Stage III pipeline of ``options.base`` + ``options.controlnet``, placed; VAE tiling and slicing as asked."""
    dtype = parse_dtype(options.dtype)
    pipe = MotionPipeline.from_pretrained_parts(options.base, options.controlnet, torch_dtype=dtype)
    place(pipe, options.offload, options.device)
    if options.vae_tiling:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
    return pipe
