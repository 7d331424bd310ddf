"""Tiny random-weight CogVideoX parts for Stage III tests: the 5b-I2V layout (rotary + learned positional
embeddings, first-frame latents concatenated on channels) at a few dozen features."""

from __future__ import annotations

import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from pam.smoke import COGVIDEOX_LATENT_CHANNELS as LATENT_CHANNELS
from pam.smoke import HEIGHT, NUM_FRAMES, TEXT_DIM, WIDTH  # noqa: F401
from pam.smoke import TEXT_LENGTH
from pam.smoke import cogvideox_scheduler as scheduler  # noqa: F401
from pam.smoke import tiny_cogvideox_transformer as tiny_transformer  # noqa: F401
from pam.smoke import tiny_cogvideox_vae as tiny_vae  # noqa: F401

FULL_TRANSFORMER = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16, time_embed_dim=512,
    text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
    temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True,
)  # fmt: skip
"""CogVideoX-5b-I2V's transformer config (42 blocks, width 3072), for meta-device counts and benchmarks."""


def rotary(latent_frames: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The rotary embedding for a full-size grid of the tiny model (what the pipeline computes)."""
    grid = (HEIGHT // 16, WIDTH // 16)
    return get_3d_rotary_pos_embed(16, ((0, 0), grid), grid, latent_frames)


def inputs(batch: int = 2, slots: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random transformer inputs: noisy+first-frame latents, text, timesteps, cue latents."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, 3, LATENT_CHANNELS, HEIGHT // 8, WIDTH // 8)
    return {
        "hidden_states": torch.randn(batch, 3, 2 * LATENT_CHANNELS, *shape[-2:], generator=g),
        "encoder_hidden_states": torch.randn(batch, TEXT_LENGTH, TEXT_DIM, generator=g),
        "timestep": torch.tensor([999, 37][:batch] + [500] * max(0, batch - 2)),
        "cue_latents": torch.randn(batch, slots, 3, 2 * LATENT_CHANNELS, *shape[-2:], generator=g),
    }
