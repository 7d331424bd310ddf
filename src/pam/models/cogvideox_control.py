"""Run diffusers' CogVideoX transformer with a :class:`CogVideoXControlNet` attached.

diffusers' ``CogVideoXTransformer3DModel.forward`` has no input for control residuals. Rather than copy
that forward (time and ofs embeddings, patch embedding, blocks, final norms, unpatchify), we call it
unchanged and attach the control branch with PyTorch forward hooks for the duration of one call:

- a hook on ``patch_embed`` takes the embedded noisy tokens, embeds every cue latent with the same
  (frozen) patch embedding and asks the ControlNet for the control branch's input state;
- a hook on main block i (i < N) runs copy block i on that state, with the main stream's text tokens,
  time embedding and rotary embedding exactly as main block i received them, and adds the projected
  output to the block's video tokens.

So the base model's own code path (and any future fix to it) is the one that runs, gradient checkpointing
of the base stays valid (the hooks keep one state per block, so a recomputation reads the same input),
and accelerate's CPU-offload hooks keep working (the ControlNet's own ``forward`` is called each step).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator

import torch
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock, CogVideoXTransformer3DModel

from pam.models.cogvideox_controlnet import CogVideoXControlNet

_BLOCK_SIGNATURE = inspect.signature(CogVideoXBlock.forward)


def check_transformer_inputs(
    transformer: CogVideoXTransformer3DModel,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
) -> None:
    """Raise a ValueError for inputs the CogVideoX transformer would mishandle silently or cryptically.

    - A model trained with rotary embeddings runs *without* them when ``image_rotary_emb`` is None.
    - With learned positional embeddings the text length must equal ``max_text_seq_length`` and the latent
      height and width must equal the model's sample size.
    """
    config = transformer.config
    if hidden_states.ndim != 5 or hidden_states.shape[2] != config.in_channels:
        raise ValueError(
            f"hidden_states must be (B, F, {config.in_channels}, H, W), got {tuple(hidden_states.shape)}"
        )
    if config.use_rotary_positional_embeddings and image_rotary_emb is None:
        raise ValueError(
            "this transformer uses rotary positional embeddings: pass image_rotary_emb (see "
            "diffusers.models.embeddings.get_3d_rotary_pos_embed); without it the model silently runs without them"
        )
    if config.use_learned_positional_embeddings:
        if encoder_hidden_states.shape[1] != config.max_text_seq_length:
            raise ValueError(
                f"with learned positional embeddings the text length must be max_text_seq_length="
                f"{config.max_text_seq_length}, got {encoder_hidden_states.shape[1]} (pad the prompt embeddings)"
            )
        if hidden_states.shape[-2:] != (config.sample_height, config.sample_width):
            raise ValueError(
                f"with learned positional embeddings the latent size must be {config.sample_height} x "
                f"{config.sample_width}, got {tuple(hidden_states.shape[-2:])}"
            )


@contextlib.contextmanager
def attach_controlnet(
    transformer: CogVideoXTransformer3DModel,
    controlnet: CogVideoXControlNet,
    cue_latents: torch.Tensor,
    conditioning_scale: float = 1.0,
) -> Iterator[None]:
    """Within the block, calls of ``transformer`` add the ControlNet's residuals.

    Args:
        cue_latents: (B, K, F, 2C, H, W), one 2C-channel latent per cue slot of ``controlnet.cues`` (cue video
            latent and its first-frame latent zero-padded in time, concatenated on channels; zeros for an
            absent or dropped cue). B must match the batch of every transformer call inside the block.
        conditioning_scale: factor on every residual (1.0 = as trained).
    """
    controlnet.check_base(transformer)
    if cue_latents.ndim != 6 or cue_latents.shape[1] != len(controlnet.cues):
        raise ValueError(
            f"cue_latents must be (B, {len(controlnet.cues)}, F, C, H, W) for cues {list(controlnet.cues)}, "
            f"got {tuple(cue_latents.shape)}"
        )
    controls: dict[int, torch.Tensor] = {}  # input of copy block i, kept per block for recomputation

    def after_patch_embed(module, args, output):
        text_embeds, video = args
        batch, frames, channels = video.shape[:3]
        if cue_latents.shape[0] != batch or cue_latents.shape[2:] != video.shape[1:]:
            raise ValueError(
                f"cue_latents {tuple(cue_latents.shape)} do not match the transformer input {tuple(video.shape)}"
            )
        text_length = text_embeds.shape[1]
        slots = cue_latents.shape[1]
        # Embed all slots in one call (text tokens are recomputed and dropped); .forward skips this hook.
        cue_tokens = module.forward(
            text_embeds.repeat_interleave(slots, dim=0), cue_latents.flatten(0, 1).to(video.dtype)
        )[:, text_length:]
        cue_tokens = cue_tokens.unflatten(0, (batch, slots))
        controls[0] = controlnet(output[:, text_length:], cue_tokens)

    def after_block(index: int):
        def hook(module, args, kwargs, output):
            inputs = _BLOCK_SIGNATURE.bind(module, *args, **kwargs).arguments
            hidden_states, encoder_hidden_states = output
            residual = controlnet.block_residual(
                index,
                controls[index],
                encoder_hidden_states,
                inputs["temb"],
                inputs.get("image_rotary_emb"),
                inputs.get("attention_kwargs"),
            )
            controls[index + 1] = residual
            return hidden_states + conditioning_scale * residual, encoder_hidden_states

        return hook

    handles = [transformer.patch_embed.register_forward_hook(after_patch_embed)]
    for index in range(controlnet.config.num_layers):
        block = transformer.transformer_blocks[index]
        handles.append(block.register_forward_hook(after_block(index), with_kwargs=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def controlled_forward(
    transformer: CogVideoXTransformer3DModel,
    controlnet: CogVideoXControlNet | None,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    timestep: torch.Tensor,
    cue_latents: torch.Tensor | None,
    image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ofs: torch.Tensor | None = None,
    attention_kwargs: dict[str, Any] | None = None,
    conditioning_scale: float = 1.0,
) -> torch.Tensor:
    """The base transformer's prediction (B, F, C_out, H, W) with the ControlNet's residuals added.

    Args:
        hidden_states: (B, F, C_in, H, W) noisy latents concatenated with the first-frame latents.
        encoder_hidden_states: (B, L, D_text) prompt embeddings.
        timestep: (B,) diffusion timesteps.
        cue_latents: (B, K, F, 2C, H, W) as in :func:`attach_controlnet`; ignored when ``controlnet`` is None.
        image_rotary_emb: (cos, sin) from ``get_3d_rotary_pos_embed``; required by rotary models.
    """
    check_transformer_inputs(transformer, hidden_states, encoder_hidden_states, image_rotary_emb)
    arguments = dict(
        hidden_states=hidden_states,
        encoder_hidden_states=encoder_hidden_states,
        timestep=timestep,
        ofs=ofs,
        image_rotary_emb=image_rotary_emb,
        attention_kwargs=attention_kwargs,
        return_dict=False,
    )
    if controlnet is None:
        return transformer(**arguments)[0]
    if cue_latents is None:
        raise ValueError("cue_latents are required with a ControlNet (use zeros for absent cues)")
    with attach_controlnet(transformer, controlnet, cue_latents, conditioning_scale):
        return transformer(**arguments)[0]
