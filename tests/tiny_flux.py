"""Tiny random-weight Flux parts for Stage II tests: a 3-double/1-single block transformer (inner width
16), a 4-level VAE with 16 latent channels (so the /8 and 2x2 packing geometry is the real one), the
offline tiny text stack, and a state dict in the release's x-flux ControlNet layout."""

from __future__ import annotations

import torch

from pam.smoke import TEXT_DIM, perturb_  # noqa: F401
from pam.smoke import flux_scheduler  # noqa: F401
from pam.smoke import tiny_flux_parts as tiny_pipeline_parts  # noqa: F401
from pam.smoke import tiny_flux_transformer as tiny_transformer  # noqa: F401
from pam.smoke import tiny_flux_vae as tiny_vae  # noqa: F401

TEXT_LEN = 16


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
