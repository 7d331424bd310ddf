"""Stage III benchmark: seconds per video and peak GPU memory of MotionPipeline, and the compute floor.

Full size (default, needs a CUDA GPU): CogVideoX-5b-I2V (42 blocks, width 3072) + a 12-block ControlNet with
the release's 5 cue slots, random weights, bf16, 49 frames at 480 x 720, 50 DPM steps with classifier-free
guidance (batch 2). Prompt embeddings are random (226 x 4096): the T5-XXL text encoder is left out (it runs
once per video and is offloaded first under model offload). VAE tiling and slicing are on.

The compute floor counts the matmul FLOPs of the 42 + 12 transformer blocks (QKV/O projections, attention
scores and values, feed-forward) plus the ControlNet's projections over the 17,550 video + 226 text tokens,
x 2 (CFG) x 50 steps, and divides by a measured dense bf16 matmul rate.

    python benchmarks/motion.py                         # full size on CUDA: no offload, model offload
    python benchmarks/motion.py --offload none,model,sequential --steps 50
    python benchmarks/motion.py --tiny                  # a tiny configuration on CPU (checks the script)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tiny_cogvideox import FULL_TRANSFORMER  # noqa: E402

from pam.models.cogvideox_controlnet import RELEASE_CUES, CogVideoXControlNet  # noqa: E402
from pam.pipelines.motion import MotionPipeline  # noqa: E402

FULL = dict(
    transformer=FULL_TRANSFORMER,
    vae=dict(scaling_factor=0.7),
    controlnet_layers=12, frames=49, height=480, width=720,
)  # fmt: skip
TINY = dict(
    transformer={
        **FULL["transformer"], "num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 8,
        "out_channels": 4, "time_embed_dim": 8, "text_embed_dim": 32, "num_layers": 3, "sample_width": 12,
        "sample_height": 8, "sample_frames": 9, "max_text_seq_length": 16,
    },
    vae=dict(block_out_channels=(8,) * 4, latent_channels=4, layers_per_block=1, norm_num_groups=2, scaling_factor=0.7),
    controlnet_layers=1, frames=9, height=64, width=96,
)  # fmt: skip


def block_flops(tokens: int, dim: int) -> float:
    """Matmul FLOPs of one CogVideoX block over ``tokens`` joint tokens: 24 S D^2 (QKV, O, FF 4x) + 4 S^2 D."""
    return 24 * tokens * dim**2 + 4 * tokens**2 * dim


def video_flops(spec: dict, steps: int, cfg: bool = True) -> dict[str, float]:
    """FLOPs of the transformer work for one video: base blocks, copy blocks and ControlNet projections."""
    t = spec["transformer"]
    dim = t["num_attention_heads"] * t["attention_head_dim"]
    latent_frames = (spec["frames"] - 1) // t["temporal_compression_ratio"] + 1
    video_tokens = latent_frames * (spec["height"] // (8 * t["patch_size"])) * (spec["width"] // (8 * t["patch_size"]))
    tokens = video_tokens + t["max_text_seq_length"]
    copies = spec["controlnet_layers"]
    projections = 2 * video_tokens * dim**2 * (copies + len(RELEASE_CUES))
    per_forward = (t["num_layers"] + copies) * block_flops(tokens, dim) + projections
    forwards = steps * (2 if cfg else 1)
    return dict(tokens=tokens, video_tokens=video_tokens, flops_per_forward=per_forward, flops=per_forward * forwards)


def matmul_rate(device: str, dtype: torch.dtype, size: int, repeats: int = 20) -> float:
    """Measured dense matmul throughput (FLOP/s) for size x size x size products."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build_pipeline(spec: dict, device: str, dtype: torch.dtype) -> MotionPipeline:
    """Random-weight base, VAE and ControlNet (release slots) built directly on ``device`` in ``dtype``."""
    torch.manual_seed(0)
    with torch.device(device):
        transformer = CogVideoXTransformer3DModel(**spec["transformer"]).eval().to(dtype)
        controlnet = CogVideoXControlNet.from_transformer(transformer, spec["controlnet_layers"], RELEASE_CUES)
        vae = AutoencoderKLCogVideoX(**spec["vae"]).eval().to(dtype)
    scheduler = CogVideoXDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True, snr_shift_scale=1.0,
        timestep_spacing="trailing",
    )  # fmt: skip
    return MotionPipeline(None, None, vae, transformer, controlnet, scheduler)


def run_once(
    pipe: MotionPipeline, spec: dict, steps: int, device: str, dtype: torch.dtype, output_type: str = "np"
) -> float:
    g = torch.Generator().manual_seed(0)
    t = spec["transformer"]
    shape = (spec["frames"], spec["height"], spec["width"], 3)
    cues = {
        name: torch.randint(0, 256, shape, generator=g, dtype=torch.uint8).numpy() for name in ("depth", "seg", "hand")
    }
    image = torch.randint(0, 256, shape[1:], generator=g, dtype=torch.uint8).numpy()
    embeds = torch.randn(2, 1, t["max_text_seq_length"], t["text_embed_dim"], generator=g).to(dtype)
    synchronize(device)
    start = time.perf_counter()
    pipe(
        image, cues, prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1], height=spec["height"],
        width=spec["width"], num_frames=spec["frames"], num_inference_steps=steps, generator=g,
        output_type=output_type,
    )  # fmt: skip
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configuration on CPU, fp32")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 50; 2 with --tiny)")
    parser.add_argument("--offload", default="none,model", help="comma list of none, model, sequential")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    spec = TINY if args.tiny else FULL
    device = "cpu" if args.tiny else "cuda"
    dtype = torch.float32 if args.tiny else torch.bfloat16
    steps = args.steps or (2 if args.tiny else 50)
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("the full-size benchmark needs a CUDA GPU (use --tiny to check the script on CPU)")

    work = video_flops(spec, steps)
    rate = matmul_rate(device, dtype, 256 if args.tiny else 8192)
    results = dict(
        device=torch.cuda.get_device_name() if device == "cuda" else "cpu",
        dtype=str(dtype), steps=steps, frames=spec["frames"], height=spec["height"], width=spec["width"],
        tokens=work["tokens"], tflops_per_video=work["flops"] / 1e12, matmul_tflops=rate / 1e12,
        floor_s=work["flops"] / rate, runs={},
    )  # fmt: skip
    pipe = build_pipeline(spec, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    order = ("none", "model", "sequential")  # sequential offload last: it leaves the weights in its hooks
    modes = sorted(args.offload.split(","), key=lambda m: order.index(m) if m in order else -1)
    for mode in modes:
        if mode not in order:
            raise SystemExit(f"unknown offload mode {mode!r}")
        if mode != "none" and device == "cpu":
            print(f"offload={mode}: skipped (needs an accelerator)")
            continue
        pipe.remove_all_hooks()
        if mode == "none":
            pipe.to(device)
        elif mode == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
        run_once(pipe, spec, 1, device, dtype, output_type="latent")  # warm-up: kernels, allocator
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        seconds = run_once(pipe, spec, steps, device, dtype)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
        ratio = seconds / results["floor_s"]
        results["runs"][mode] = dict(seconds=seconds, peak_gib=peak, vs_floor=ratio)
        print(f"offload={mode:<10} {seconds:8.1f} s/video  peak {peak:6.1f} GiB  {ratio:.2f}x floor")
    print(json.dumps(results, indent=2))
    if args.json:
        from pam.fileio import atomic_path

        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
