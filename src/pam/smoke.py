"""Tiny random-weight Stage II / III models for smoke runs (``--smoke``) and tests: the real model
classes and pipelines built from small configs, so the whole chain runs on a CPU with no downloads.

The geometry is the real one (Flux: a 16-channel VAE with /8 downsampling and 2 x 2 packing;
CogVideoX-5b-I2V: rotary + learned positional embeddings, first-frame latents concatenated on
channels, 4x temporal compression); only widths and depths are small. The text stacks use a
14-word vocabulary, so most prompt words map to ``<unk>``. Outputs are noise-like images: a smoke
run checks that the plumbing works, not what the models can do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy imports stay lazy: `import pam.smoke` needs neither torch nor diffusers
    from pam.pipelines.appearance import AppearancePipeline
    from pam.pipelines.motion import MotionPipeline

WORDS = ["<pad>", "<unk>", "</s>", "<s>", "a", "hand", "holds", "mug", "the", "red", "can", "on", "table", "blurry"]
TEXT_DIM = 32  # width of the tiny T5 / CLIP encoders
TEXT_LENGTH = 16  # the tiny tokenizer's max length
#: Stage II smoke image size (pixels).
APPEARANCE_HEIGHT, APPEARANCE_WIDTH = 64, 96
#: Stage III smoke video size: 9 frames (3 latent frames) x 64 x 96 pixels.
HEIGHT, WIDTH, NUM_FRAMES = 64, 96, 9
COGVIDEOX_LATENT_CHANNELS = 4


def tiny_tokenizer(max_length: int = TEXT_LENGTH):
    """A word-level fast tokenizer over :data:`WORDS`; unknown words map to ``<unk>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="</s>", bos_token="<s>",
        model_max_length=max_length,
    )


def tiny_t5(d_model: int = TEXT_DIM, seed: int = 0):
    """A 2-layer random T5 encoder."""
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(WORDS), d_model=d_model, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    return T5EncoderModel(cfg).eval()


def tiny_clip(hidden_size: int = TEXT_DIM, projection_dim: int = TEXT_DIM, seed: int = 0):
    """A 2-layer random CLIP text encoder."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(
        vocab_size=len(WORDS), hidden_size=hidden_size, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=16, projection_dim=projection_dim,
        pad_token_id=0, bos_token_id=3, eos_token_id=2,
    )
    return CLIPTextModel(cfg).eval()


# ----------------------------------------------------------------------------- Stage II (Flux)


def tiny_flux_transformer(seed: int = 0):
    """A 3-double / 1-single block Flux transformer of inner width 16."""
    import torch
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=3, num_single_layers=1, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=TEXT_DIM, pooled_projection_dim=TEXT_DIM,
        guidance_embeds=True, axes_dims_rope=[2, 2, 4],
    ).eval()


def tiny_flux_vae(seed: int = 0):
    """A 4-level Flux-style VAE (16 latent channels, FLUX.1's shift and scale)."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 8, 8], layers_per_block=1,
        latent_channels=16, norm_num_groups=4, shift_factor=0.1159, scaling_factor=0.3611,
        use_quant_conv=False, use_post_quant_conv=False,
    ).eval()


def flux_scheduler():
    """FLUX.1-dev's scheduler configuration."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )


def tiny_flux_parts(seed: int = 0) -> dict:
    """Everything an AppearancePipeline / diffusers FluxPipeline needs except the ControlNet."""
    return dict(
        vae=tiny_flux_vae(seed), text_encoder=tiny_clip(seed=seed), tokenizer=tiny_tokenizer(),
        text_encoder_2=tiny_t5(seed=seed), tokenizer_2=tiny_tokenizer(), transformer=tiny_flux_transformer(seed),
        scheduler=flux_scheduler(),
    )


def perturb_(module, scale: float = 0.5, seed: int = 1):
    """Add Gaussian noise to every parameter (turns zero-initialised layers on, like trained weights)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return module


def tiny_appearance_pipeline(seed: int = 0, perturb: bool = True) -> "AppearancePipeline":
    """A Stage II pipeline of tiny random models; ``perturb`` turns the zero-initialised ControlNet on."""
    from pam.models.flux_controlnet import FluxMultiConditionControlNet
    from pam.pipelines.appearance import AppearancePipeline

    parts = tiny_flux_parts(seed)
    controlnet = FluxMultiConditionControlNet.from_transformer(parts["transformer"])
    if perturb:
        perturb_(controlnet, seed=seed + 1)
    pipe = AppearancePipeline(controlnet=controlnet, **parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ----------------------------------------------------------------------------- Stage III (CogVideoX)


def tiny_cogvideox_transformer(num_layers: int = 3, seed: int = 0):
    """The CogVideoX-5b-I2V layout at a few dozen features."""
    import torch
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=2 * COGVIDEOX_LATENT_CHANNELS,
        out_channels=COGVIDEOX_LATENT_CHANNELS, time_embed_dim=8, text_embed_dim=TEXT_DIM, num_layers=num_layers,
        sample_width=WIDTH // 8, sample_height=HEIGHT // 8, sample_frames=NUM_FRAMES, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=TEXT_LENGTH, use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    ).eval()


def tiny_cogvideox_vae(seed: int = 0):
    """A 4-level CogVideoX VAE with 4 latent channels and 4x temporal compression."""
    import torch
    from diffusers import AutoencoderKLCogVideoX

    torch.manual_seed(seed)
    return AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8), latent_channels=COGVIDEOX_LATENT_CHANNELS, layers_per_block=1,
        norm_num_groups=2, temporal_compression_ratio=4, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
    ).eval()


def cogvideox_scheduler():
    """CogVideoX-5b-I2V's scheduler settings (v-prediction, zero-terminal-SNR scaled-linear betas), trailing."""
    from diffusers import CogVideoXDPMScheduler

    return CogVideoXDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True, snr_shift_scale=1.0,
        timestep_spacing="trailing",
    )


def tiny_cogvideox_parts(seed: int = 0, num_layers: int = 2) -> dict:
    """Everything a MotionPipeline / diffusers CogVideoXImageToVideoPipeline needs except the ControlNet."""
    return dict(
        tokenizer=tiny_tokenizer(), text_encoder=tiny_t5(seed=seed), vae=tiny_cogvideox_vae(seed),
        transformer=tiny_cogvideox_transformer(num_layers=num_layers, seed=seed), scheduler=cogvideox_scheduler(),
    )


def tiny_motion_pipeline(seed: int = 0, perturb: bool = True) -> "MotionPipeline":
    """A Stage III pipeline of tiny random models; ``perturb`` turns the zero-initialised ControlNet on."""
    from pam.models.cogvideox_controlnet import CogVideoXControlNet
    from pam.pipelines.motion import MotionPipeline

    parts = tiny_cogvideox_parts(seed)
    controlnet = CogVideoXControlNet.from_transformer(parts["transformer"], num_layers=1)
    if perturb:
        perturb_(controlnet, scale=0.1, seed=seed + 1)
    pipe = MotionPipeline(controlnet=controlnet, **parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe
