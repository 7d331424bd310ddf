"""Stage II benchmark: seconds per image and peak memory of AppearancePipeline at full size.

FLUX.1-dev-sized transformer (19 double / 38 single blocks), T5-XXL and CLIP-L text encoders, the
Flux VAE and the ControlNet, all with random weights (same compute as the real ones), 480 x 720,
28 steps, bf16; once with everything on the GPU and once with model CPU offload (and, with
``--offload sequential``, diffusers' sequential offload). Paper: 36.1 s and 41.4 GB on an H20;
goal: peak <= 24 GB with offload. This script reports GiB (2**30 bytes).

    python benchmarks/appearance.py                       # CUDA machine, full size
    python benchmarks/appearance.py --tiny                # tiny configs on the CPU (a smoke run)

Large models are created on the ``meta`` device and materialised directly in bf16 on the target
device, so building takes seconds and no fp32 copy is ever made.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel  # noqa: E402
from tiny_text import tiny_tokenizer  # noqa: E402  (any tokenizer: compute depends on the padded length only)
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel  # noqa: E402

from pam.models.flux_controlnet import FluxMultiConditionControlNet  # noqa: E402
from pam.models.flux_release import FluxReleaseControlNet  # noqa: E402
from pam.pipelines.appearance import AppearancePipeline  # noqa: E402

FULL = dict(
    transformer=dict(num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
                     joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=[16, 56, 56]),
    t5=dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu"),
    clip=dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, projection_dim=768),
    vae=dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32),
    text_len=512,
)
TINY = dict(
    transformer=dict(num_layers=3, num_single_layers=2, attention_head_dim=8, num_attention_heads=2,
                     joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[2, 2, 4]),
    t5=dict(vocab_size=32, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    clip=dict(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=77, projection_dim=32, bos_token_id=3, eos_token_id=2, pad_token_id=0),
    vae=dict(block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4),
    text_len=32,
)


def materialise(build, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """Build a model on `meta`, allocate it on ``device`` in ``dtype`` and fill it with random weights."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = build()
    finally:
        torch.set_default_dtype(default)
    if any(True for _ in model.buffers()):
        raise RuntimeError(f"{type(model).__name__} has buffers; build it directly instead")
    model = model.to_empty(device=device)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02, generator=gen)
            else:
                p.fill_(1.0 if "norm" in name else 0.0)
    return model.eval()


def build_pipeline(cfg: dict, controlnet: str, device: str, dtype: torch.dtype) -> AppearancePipeline:
    flux = dict(in_channels=64, guidance_embeds=True, **cfg["transformer"])
    transformer = materialise(lambda: FluxTransformer2DModel(patch_size=1, **flux), device, dtype)
    net_config = {k: v for k, v in flux.items() if k not in ("num_layers", "num_single_layers")}
    if controlnet == "paper":
        net = materialise(lambda: FluxMultiConditionControlNet(num_layers=2, num_single_layers=0, **net_config), device, dtype)
    else:
        net = materialise(lambda: FluxReleaseControlNet(num_layers=2, **net_config), device, dtype)
    t5 = materialise(lambda: T5EncoderModel(T5Config(**cfg["t5"])), device, dtype)
    torch.manual_seed(0)
    clip = CLIPTextModel(CLIPTextConfig(**cfg["clip"])).to(device=device, dtype=dtype).eval()
    vae = materialise(lambda: AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=16, shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False,
        **cfg["vae"],
    ), device, dtype)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15)
    pipe = AppearancePipeline(
        vae=vae, text_encoder=clip, tokenizer=tiny_tokenizer(77), text_encoder_2=t5, tokenizer_2=tiny_tokenizer(cfg["text_len"]),
        transformer=transformer, controlnet=net, scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def peak_memory_gib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB -> GiB (process peak RSS)


def run(pipe: AppearancePipeline, args, device: str, cfg: dict) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    cues = {name: rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8) for name in pipe.cue_names}
    call = dict(height=args.height, width=args.width, max_sequence_length=cfg["text_len"], output_type="np")
    pipe("a hand holds the red mug", cues, num_inference_steps=2, seed=0, **call)  # warm-up (kernels, allocator)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        pipe("a hand holds the red mug", cues, num_inference_steps=args.steps, seed=repeat, **call)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), peak_memory_gib(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (smoke run)")
    parser.add_argument("--controlnet", choices=["paper", "release"], default="paper")
    parser.add_argument("--offload", choices=["none", "model", "sequential", "both"], default="both",
                        help="'both' = none, then model CPU offload")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cfg = TINY if args.tiny else FULL
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --tiny for a CPU smoke run")
    dtype = torch.float32 if args.tiny else torch.bfloat16
    modes = ["none", "model"] if args.offload == "both" else [args.offload]
    if args.tiny:
        modes = ["none"]  # CPU offload needs an accelerator
    pipe = build_pipeline(cfg, args.controlnet, device, dtype)
    parts = ("transformer", "controlnet", "text_encoder_2", "text_encoder", "vae")
    params = {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in parts}
    print(f"{'tiny' if args.tiny else 'full-size'} {args.controlnet} ControlNet, {args.height} x {args.width}, "
          f"{args.steps} steps, {dtype}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}")
    print("parameters: " + ", ".join(f"{k} {v / 1e6:,.1f} M" for k, v in params.items()))
    for mode in modes:
        if mode != "none":
            pipe.enable_model_cpu_offload() if mode == "model" else pipe.enable_sequential_cpu_offload()
            torch.cuda.empty_cache()
        seconds, peak = run(pipe, args, device, cfg)
        label = "GPU peak allocated" if device == "cuda" else "process peak RSS"  # allocated: excludes allocator cache
        print(f"offload={mode:<10s} {seconds:8.2f} s/image   {label} {peak:6.2f} GiB")


if __name__ == "__main__":
    main()
