"""Tiny random-weight Flux parts for Stage II tests: a 3-double/1-single block transformer (inner width
16), a 4-level VAE with 16 latent channels (so the /8 and 2x2 packing geometry is the real one), the
offline tiny text stack, and a state dict in the release's x-flux ControlNet layout."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
from tiny_text import tiny_clip, tiny_t5, tiny_tokenizer

TEXT_DIM = 32
TEXT_LEN = 16


def tiny_transformer(seed: int = 0) -> FluxTransformer2DModel:
    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=3,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        guidance_embeds=True,
        axes_dims_rope=[2, 2, 4],
    ).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 8, 8],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=4,
        shift_factor=0.1159,
        scaling_factor=0.3611,
        use_quant_conv=False,
        use_post_quant_conv=False,
    ).eval()


def flux_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """FLUX.1-dev's scheduler configuration."""
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )


def tiny_pipeline_parts(seed: int = 0) -> dict:
    """Everything an AppearancePipeline / FluxPipeline needs except the ControlNet."""
    return dict(
        vae=tiny_vae(seed),
        text_encoder=tiny_clip(seed=seed),
        tokenizer=tiny_tokenizer(TEXT_LEN),
        text_encoder_2=tiny_t5(seed=seed),
        tokenizer_2=tiny_tokenizer(TEXT_LEN),
        transformer=tiny_transformer(seed),
        scheduler=flux_scheduler(),
    )


def perturb_(module: torch.nn.Module, scale: float = 0.5, seed: int = 1) -> torch.nn.Module:
    """Add Gaussian noise to every parameter (turns zero-initialised layers on)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return module


def xflux_state_dict(hidden: int, heads: int, txt: int, vec: int, depth: int = 2, hint_in: int = 6, seed: int = 0) -> dict:
    """A random state dict with the x-flux ControlNetFlux names and shapes (mlp ratio 4, qkv bias)."""
    gen = torch.Generator().manual_seed(seed)
    head = hidden // heads
    shapes = {
        "img_in.weight": (hidden, 64), "img_in.bias": (hidden,),
        "txt_in.weight": (hidden, txt), "txt_in.bias": (hidden,),
        "pos_embed_input.weight": (hidden, 64), "pos_embed_input.bias": (hidden,),
    }
    for name, fan_in in (("time_in", 256), ("vector_in", vec), ("guidance_in", 256)):
        shapes |= {f"{name}.in_layer.weight": (hidden, fan_in), f"{name}.in_layer.bias": (hidden,),
                   f"{name}.out_layer.weight": (hidden, hidden), f"{name}.out_layer.bias": (hidden,)}
    for i in range(depth):
        p = f"double_blocks.{i}."
        for s in ("img", "txt"):
            shapes |= {
                f"{p}{s}_mod.lin.weight": (6 * hidden, hidden), f"{p}{s}_mod.lin.bias": (6 * hidden,),
                f"{p}{s}_attn.qkv.weight": (3 * hidden, hidden), f"{p}{s}_attn.qkv.bias": (3 * hidden,),
                f"{p}{s}_attn.norm.query_norm.scale": (head,), f"{p}{s}_attn.norm.key_norm.scale": (head,),
                f"{p}{s}_attn.proj.weight": (hidden, hidden), f"{p}{s}_attn.proj.bias": (hidden,),
                f"{p}{s}_mlp.0.weight": (4 * hidden, hidden), f"{p}{s}_mlp.0.bias": (4 * hidden,),
                f"{p}{s}_mlp.2.weight": (hidden, 4 * hidden), f"{p}{s}_mlp.2.bias": (hidden,),
            }
        shapes |= {f"controlnet_blocks.{i}.weight": (hidden, hidden), f"controlnet_blocks.{i}.bias": (hidden,)}
    for j in range(0, 16, 2):  # nn.Sequential(conv, SiLU, ...): convs at 0, 2, ..., 14
        shapes |= {f"input_hint_block.{j}.weight": (16, hint_in if j == 0 else 16, 3, 3), f"input_hint_block.{j}.bias": (16,)}
    return {f"controlnet{k}.{name}": torch.randn(shape, generator=gen) for k in (1, 2) for name, shape in shapes.items()}
