"""Training benchmark: the cached loader's rate, cache bytes per clip, and (on CUDA) training steps per
second and peak GPU memory at full size with random weights.

1. Cache bytes per clip: one Stage III record (49 x 480 x 720: video, first frame, 3 cues and their first
   frames as 16 x 13 x 60 x 90 latents; T5 embeddings 226 x 4096) and one Stage II record (7 frames) written
   by ``LatentCache`` in bf16 (pam's default) and fp32, against the release's layout (fp32 VAE moments, i.e.
   mean and log-variance, 32 channels; fp32 text embeddings).
2. Loader rate: ``--clips`` random full-size records in a temporary cache read through the trainer's own
   DataLoader (``pam.training.data.make_loader``; batch 1, 0 and 2 workers), samples per second. Files are
   freshly written, so they come from the page cache: this is the decode + collate rate, not a cold disk.
   One GPU consumes ``1 / seconds per step`` samples per second at batch 1 (measured in part 3 on CUDA).
3. On CUDA: ``--steps`` optimiser steps of each stage's real loss (``StageModule``) at full size with random
   weights: CogVideoX-5b-I2V (42 blocks) + a 12-block ControlNet, 49 x 480 x 720, batch 1; FLUX.1-dev (19 + 38
   blocks) + the 2-block multi-condition ControlNet at 480 x 720, batch 1; bf16 autocast, gradient
   checkpointing, 8-bit AdamW where bitsandbytes is installed (else torch AdamW, reported). Targets: <= 40 GB
   peak for each.

    python benchmarks/train.py                # 1 and 2 on any machine, 3 where CUDA exists
    python benchmarks/train.py --tiny         # the tiny smoke sizes on the CPU (checks the script)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import torch

from pam.training.config import load_train_config
from pam.training.data import LatentDataset, make_loader
from pam.training.latent_cache import LatentCache, LatentRecord

CUES = ("depth", "seg", "hand")
FULL = dict(latent=(16, 60, 90), frames=13, images=7, text=(226, 4096), flux_text=(512, 4096), pooled=768)
TINY = dict(latent=(4, 8, 12), frames=3, images=2, text=(16, 32), flux_text=(16, 32), pooled=32)
FLUX_FULL = dict(num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
                 joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
COGVIDEOX_FULL = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16, time_embed_dim=512,
    text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
    temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True,
)


def motion_record(size: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
    c, h, w = size["latent"]
    video = lambda frames: torch.randn(frames, c, h, w, generator=generator)  # noqa: E731
    record = {"video": video(size["frames"]), "image": video(1), "prompt_embeds": torch.randn(*size["text"], generator=generator)}
    for cue in CUES:
        record[f"cue.{cue}"], record[f"cue_first.{cue}"] = video(size["frames"]), video(1)
    return record


def appearance_record(size: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
    c, h, w = size["latent"]
    images = lambda: torch.randn(size["images"], c, h, w, generator=generator)  # noqa: E731
    record = {"image": images(), "prompt_embeds": torch.randn(*size["flux_text"], generator=generator),
              "pooled": torch.randn(size["pooled"], generator=generator)}
    record |= {f"cue.{cue}": images() for cue in CUES}
    return record


def release_bytes(record: dict[str, torch.Tensor]) -> int:
    """The same content as the release caches it: fp32 VAE moments (2x channels) and fp32 text embeddings."""
    return sum(t.numel() * 4 * (2 if t.ndim == 4 else 1) for t in record.values())


def cache_bytes(size: dict, root: Path) -> dict:
    gen = torch.Generator().manual_seed(0)
    out = {}
    for stage, make in (("motion", motion_record), ("appearance", appearance_record)):
        record = make(size, gen)
        sizes = {dtype: LatentCache(root / dtype, dtype).save(f"{stage}{dtype}" * 4, LatentRecord("c", record), {})
                 for dtype in ("bf16", "fp32")}
        out[stage] = {"bf16_MiB": sizes["bf16"] / 2**20, "fp32_MiB": sizes["fp32"] / 2**20,
                      "release_fp32_moments_MiB": release_bytes(record) / 2**20,
                      "release_over_bf16": release_bytes(record) / sizes["bf16"]}
    return out


def loader_rate(size: dict, clips: int, root: Path, workers: tuple[int, ...]) -> dict:
    cache = LatentCache(root, "bf16")
    gen = torch.Generator().manual_seed(1)
    keys = [f"{i:064x}" for i in range(clips)]
    for key in keys:
        cache.save(key, LatentRecord(key, motion_record(size, gen)), {})
    dataset = LatentDataset(cache, keys, keys)
    out = {}
    for num_workers in workers:
        start, seen = time.perf_counter(), 0
        for batch in make_loader(dataset, 1, 0, 1, seed=0, epoch=0, start=0, num_workers=num_workers):
            seen += batch["video"].shape[0]
        out[f"workers_{num_workers}_samples_per_s"] = seen / (time.perf_counter() - start)
    return out


def gpu_steps(stage_name: str, steps: int) -> dict:
    """Optimiser steps of the real loss at full size with random weights on CUDA: s/step, peak GiB."""
    from accelerate import Accelerator
    from diffusers import AutoencoderKLCogVideoX, FluxTransformer2DModel

    from pam.smoke import cogvideox_scheduler, flux_scheduler
    from pam.training.stages import make_stage
    from pam.training.trainer import make_optimizer

    optimizer_name = "adamw8bit" if importlib.util.find_spec("bitsandbytes") else "adamw"
    config = load_train_config(stage_name, {"optim": {"optimizer": optimizer_name}})
    stage = make_stage(config)
    accelerator = Accelerator(mixed_precision="bf16")
    device = accelerator.device
    torch.set_default_dtype(torch.bfloat16)  # build the random base directly in bf16
    with torch.device(device):
        if stage_name == "motion":
            from diffusers import CogVideoXTransformer3DModel

            transformer = CogVideoXTransformer3DModel(**COGVIDEOX_FULL)
            # The VAE only gives the rotary helper its scale factors (8 spatial, 4 temporal): a small one will do.
            vae = AutoencoderKLCogVideoX(block_out_channels=(8,) * 4, latent_channels=16, norm_num_groups=2,
                                         layers_per_block=1, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                         up_block_types=("CogVideoXUpBlock3D",) * 4)
            stage._parts = {"transformer": transformer, "vae": vae, "scheduler": cogvideox_scheduler()}
            extras = {}
        else:
            transformer = FluxTransformer2DModel(**FLUX_FULL)
            stage._parts = {"transformer": transformer, "scheduler": flux_scheduler()}
            extras = {"null_cue": {"latent": torch.randn(1, *FULL["latent"])}}
    torch.set_default_dtype(torch.float32)
    module = stage.build_module(device, torch.bfloat16, extras)
    params = [p for p in module.controlnet.parameters() if p.requires_grad]
    optimizer = make_optimizer(config.optim, params)
    model, optimizer = accelerator.prepare(module, optimizer)
    gen = torch.Generator().manual_seed(0)
    record = (motion_record if stage_name == "motion" else appearance_record)(FULL, gen)
    batch = {k: v[None].to(device, torch.bfloat16) for k, v in record.items()}
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(steps + 1):  # the first step warms up (kernels, allocator)
        start = time.perf_counter()
        loss = model(batch, [step])
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    module.detach_base()
    seconds = sum(times[1:]) / max(1, steps)
    return {"stage": stage_name, "optimizer": optimizer_name, "controlnet_params_M": sum(p.numel() for p in params) / 1e6,
            "s_per_step": seconds, "samples_per_s": 1 / seconds,
            "peak_GiB": torch.cuda.max_memory_allocated() / 2**30, "target_GiB": 40 / 1.073741824}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny smoke sizes on the CPU")
    parser.add_argument("--clips", type=int, default=24, help="records in the loader benchmark")
    parser.add_argument("--steps", type=int, default=3, help="timed optimiser steps per stage on CUDA")
    args = parser.parse_args()
    size = TINY if args.tiny else FULL
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps({"cache_bytes_per_clip": cache_bytes(size, Path(tmp) / "bytes")}, indent=1))
        print(json.dumps({"loader": loader_rate(size, args.clips, Path(tmp) / "loader", (0, 2))}, indent=1))
    if torch.cuda.is_available() and not args.tiny:
        for stage in ("motion", "appearance"):
            print(json.dumps({"gpu": gpu_steps(stage, args.steps)}, indent=1))
            torch.cuda.empty_cache()
    else:
        print(json.dumps({"gpu": "skipped: no CUDA device" if not args.tiny else "skipped: --tiny"}))


if __name__ == "__main__":
    main()
