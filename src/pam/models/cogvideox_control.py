"""Run diffusers' CogVideoX transformer with a :class:`CogVideoXControlNet` attached.

diffusers' ``CogVideoXTransformer3DModel.forward`` has no input for control residuals. Rather than copy
that forward (time and ofs embeddings, patch embedding, blocks, final norms, unpatchify), we call it
unchanged and attach the control branch with PyTorch forward hooks (:class:`ControlledTransformer`):

- a hook on ``patch_embed`` takes the embedded noisy tokens, embeds every cue latent with the same
  (frozen) patch embedding and asks the ControlNet for the control branch's input state;
- a hook on main block i (i < N) runs copy block i on that state, with the text tokens main block i
  returned and the time and rotary embeddings it received, and adds the projected output to the
  block's video tokens.

So the base model's own code path (and any future fix to it) is the one that runs; gradient checkpointing
of the base stays valid (the hooks stay attached through the backward pass and keep one input per copy
block, so a recomputed block sees the same state); accelerate's CPU-offload hooks keep working (the
ControlNet's own ``forward`` is called every step, which loads it under model offload).
"""

from __future__ import annotations

import inspect
from typing import Any

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


class ControlledTransformer:
    """A base CogVideoX transformer with a ControlNet attached by hooks; call it like the transformer.

    The hooks stay registered until :meth:`remove` (or the end of a ``with`` block), so a backward pass that
    recomputes checkpointed base blocks sees them too: keep the object alive across forward and backward.

    Example::

        with ControlledTransformer(transformer, controlnet) as model:
            velocity = model(hidden_states, prompt_embeds, timestep, cue_latents, image_rotary_emb=rotary)
    """

    def __init__(self, transformer: CogVideoXTransformer3DModel, controlnet: CogVideoXControlNet):
        controlnet.check_base(transformer)
        self.transformer = transformer
        self.controlnet = controlnet
        self.conditioning_scale = 1.0
        self._cue_latents: torch.Tensor | None = None
        self._controls: dict[int, torch.Tensor] = {}  # input of copy block i, kept per block for recomputation
        self._handles = [transformer.patch_embed.register_forward_hook(self._after_patch_embed)]
        for index in range(controlnet.config.num_layers):
            block = transformer.transformer_blocks[index]
            self._handles.append(block.register_forward_hook(self._block_hook(index), with_kwargs=True))

    def _after_patch_embed(self, module, args, output):
        text_embeds, video = args
        cues = self._cue_latents
        if cues is None:
            raise RuntimeError("the ControlNet-attached transformer was called directly; call ControlledTransformer")
        if cues.shape[0] != video.shape[0] or cues.shape[2:] != video.shape[1:]:
            raise ValueError(f"cue_latents {tuple(cues.shape)} do not match the transformer input {tuple(video.shape)}")
        text_length = text_embeds.shape[1]
        batch, slots = cues.shape[:2]
        # Embed all slots in one call (text tokens are recomputed and dropped); .forward skips this hook.
        cue_tokens = module.forward(text_embeds.repeat_interleave(slots, dim=0), cues.flatten(0, 1).to(video.dtype))
        cue_tokens = cue_tokens[:, text_length:].unflatten(0, (batch, slots))
        self._controls[0] = self.controlnet(output[:, text_length:], cue_tokens)

    def _block_hook(self, index: int):
        def hook(module, args, kwargs, output):
            inputs = _BLOCK_SIGNATURE.bind(module, *args, **kwargs).arguments
            hidden_states, encoder_hidden_states = output
            residual = self.controlnet.block_residual(
                index,
                self._controls[index],
                encoder_hidden_states,
                inputs["temb"],
                inputs.get("image_rotary_emb"),
                inputs.get("attention_kwargs"),
            )
            self._controls[index + 1] = residual
            return hidden_states + self.conditioning_scale * residual, encoder_hidden_states

        return hook

    def __call__(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        cue_latents: torch.Tensor,
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
            cue_latents: (B, K, F, 2C, H, W), one 2C-channel latent per slot of ``controlnet.cue_names`` (the cue video
                latent and its first-frame latent zero-padded in time, on channels; zeros for an absent cue).
            image_rotary_emb: (cos, sin) from ``get_3d_rotary_pos_embed``; required by rotary models.
            conditioning_scale: factor on every residual (1.0 = as trained).
        """
        if not self._handles:
            raise RuntimeError("this ControlledTransformer was removed")
        check_transformer_inputs(self.transformer, hidden_states, encoder_hidden_states, image_rotary_emb)
        slots = len(self.controlnet.cue_names)
        if cue_latents.ndim != 6 or cue_latents.shape[1] != slots:
            raise ValueError(
                f"cue_latents must be (B, {slots}, F, C, H, W) for cues {list(self.controlnet.cue_names)}, "
                f"got {tuple(cue_latents.shape)}"
            )
        self._cue_latents, self.conditioning_scale = cue_latents, conditioning_scale
        self._controls.clear()
        try:
            return self.transformer(
                hidden_states=hidden_states,
                encoder_hidden_states=encoder_hidden_states,
                timestep=timestep,
                ofs=ofs,
                image_rotary_emb=image_rotary_emb,
                attention_kwargs=attention_kwargs,
                return_dict=False,
            )[0]
        finally:
            self._cue_latents = None

    def remove(self) -> None:
        """Detach the ControlNet: the transformer runs plain again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._controls.clear()

    def __enter__(self) -> "ControlledTransformer":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
