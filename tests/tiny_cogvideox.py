"""Tiny random-weight CogVideoX parts for Stage III tests: the 5b-I2V layout (rotary + learned positional
embeddings, first-frame latents concatenated on channels) at a few dozen features."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed

LATENT_CHANNELS = 4
TEXT_DIM = 32  # tiny_t5's d_model
TEXT_LENGTH = 16  # tiny_tokenizer's max length
HEIGHT, WIDTH = 64, 96  # pixels; latents 8 x 12, 4 x 6 tokens per frame
NUM_FRAMES = 9  # 3 latent frames


def tiny_transformer(num_layers: int = 3, seed: int = 0) -> CogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=2 * LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        time_embed_dim=8,
        text_embed_dim=TEXT_DIM,
        num_layers=num_layers,
        sample_width=WIDTH // 8,
        sample_height=HEIGHT // 8,
        sample_frames=NUM_FRAMES,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=TEXT_LENGTH,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    ).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLCogVideoX:
    torch.manual_seed(seed)
    return AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8),
        latent_channels=LATENT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
    ).eval()


def scheduler() -> CogVideoXDPMScheduler:
    """CogVideoX-5b-I2V's scheduler settings (v-prediction, zero-terminal-SNR scaled-linear betas), trailing."""
    return CogVideoXDPMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        set_alpha_to_one=True,
        snr_shift_scale=1.0,
        timestep_spacing="trailing",
    )


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
