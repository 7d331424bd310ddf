"""The Stage III control branch: a ControlNet for the CogVideoX image-to-video transformer.

Layout (REFERENCE.md, "Stage III"): ``num_layers`` copies of the base model's first transformer blocks;
every cue video enters as a 32-channel latent (its VAE latent x scaling factor, concatenated on channels
with the latent of its first frame zero-padded in time) embedded by the *base* model's patch embedding
(shared and frozen, not copied here). Per cue slot k the embedded noisy input is added to the embedded cue,
the slots are concatenated on features and mixed by the zero-initialised ``cue_combine`` Linear(K*D -> D).
Copy block i then runs on that state (with the main stream's text tokens after main block i), its output
passes the zero-initialised ``controlnet_blocks[i]`` Linear(D -> D); the projection is added to the main
hidden states after main block i and is also the input of copy block i + 1.

Rotary, time and text embeddings are the base model's; :mod:`pam.models.cogvideox_control` runs the base
transformer with this branch attached.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import zero_module
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock, CogVideoXTransformer3DModel
from torch import nn

from pam.models.flux_controlnet import DEFAULT_CUES, CueSlots, check_trained_cues

RELEASE_CUES = ("tracking", "normal", "depth", "seg", "hand")
"""Slot order of the official release's checkpoint."""
RELEASE_TRAINED_CUES = ("depth", "seg", "hand")
"""The cues the release's Stage III checkpoint was trained with (``used_conditions`` hand_keypoints, depth,
seg_mask): its tracking and normal slots were always zero latents, in training and in its evaluation."""

BLOCK_CONFIG_KEYS = (
    "num_attention_heads",
    "attention_head_dim",
    "time_embed_dim",
    "dropout",
    "activation_fn",
    "attention_bias",
    "norm_elementwise_affine",
    "norm_eps",
)
"""Base-model config entries a copied CogVideoXBlock is built from."""


class CogVideoXControlNet(CueSlots, ModelMixin, ConfigMixin):
    """Copied CogVideoX blocks with zero-initialised input and output projections, one input slot per cue.

    Args:
        num_layers: number of copied blocks N (residual i goes after main block i, i < N).
        cues: names of the cue slots, in the order of the ``cue_combine`` input features.
        trained_cues: the cues the checkpoint was trained with (None: all); the pipeline feeds those by default.
        the other arguments: those of the base ``CogVideoXTransformer3DModel`` (must match it).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["CogVideoXBlock"]

    @register_to_config
    def __init__(
        self,
        num_layers: int = 12,
        cues: Sequence[str] = DEFAULT_CUES,
        num_attention_heads: int = 48,
        attention_head_dim: int = 64,
        time_embed_dim: int = 512,
        dropout: float = 0.0,
        activation_fn: str = "gelu-approximate",
        attention_bias: bool = True,
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        trained_cues: Sequence[str] | None = None,
    ):
        super().__init__()
        check_trained_cues(trained_cues, cues)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not cues or len(set(cues)) != len(cues):
            raise ValueError(f"cues must be a non-empty list of distinct names, got {list(cues)}")
        inner_dim = num_attention_heads * attention_head_dim
        self.transformer_blocks = nn.ModuleList(
            [
                CogVideoXBlock(
                    dim=inner_dim,
                    num_attention_heads=num_attention_heads,
                    attention_head_dim=attention_head_dim,
                    time_embed_dim=time_embed_dim,
                    dropout=dropout,
                    activation_fn=activation_fn,
                    attention_bias=attention_bias,
                    norm_elementwise_affine=norm_elementwise_affine,
                    norm_eps=norm_eps,
                )
                for _ in range(num_layers)
            ]
        )
        self.cue_combine = zero_module(nn.Linear(len(cues) * inner_dim, inner_dim))
        self.controlnet_blocks = nn.ModuleList(
            [zero_module(nn.Linear(inner_dim, inner_dim)) for _ in range(num_layers)]
        )
        self.gradient_checkpointing = False

    @classmethod
    def from_transformer(
        cls,
        transformer: CogVideoXTransformer3DModel,
        num_layers: int = 12,
        cues: Sequence[str] = DEFAULT_CUES,
        trained_cues: Sequence[str] | None = None,
    ) -> "CogVideoXControlNet":
        """A ControlNet whose blocks are copies of ``transformer``'s blocks 0..num_layers-1 (projections zero)."""
        if num_layers > transformer.config.num_layers:
            raise ValueError(
                f"num_layers={num_layers} exceeds the base transformer's {transformer.config.num_layers} blocks"
            )
        config = {key: transformer.config[key] for key in BLOCK_CONFIG_KEYS}
        with torch.device(transformer.device):
            controlnet = cls(
                num_layers=num_layers,
                cues=tuple(cues),
                trained_cues=None if trained_cues is None else tuple(trained_cues),
                **config,
            )
        for copy, block in zip(controlnet.transformer_blocks, transformer.transformer_blocks):
            copy.load_state_dict({name: value.clone() for name, value in block.state_dict().items()}, assign=True)
        controlnet.cue_combine.to(transformer.dtype)
        controlnet.controlnet_blocks.to(transformer.dtype)
        return controlnet

    def check_base(self, transformer: CogVideoXTransformer3DModel) -> None:
        """Raise a ValueError when ``transformer`` does not fit this ControlNet (width, heads, depth)."""
        for key in BLOCK_CONFIG_KEYS:
            if transformer.config[key] != self.config[key]:
                raise ValueError(
                    f"ControlNet and base transformer disagree on {key}: "
                    f"{self.config[key]} vs {transformer.config[key]}"
                )
        if self.config.num_layers > transformer.config.num_layers:
            raise ValueError(
                f"ControlNet has {self.config.num_layers} blocks, the base transformer only "
                f"{transformer.config.num_layers}"
            )

    def forward(self, hidden_states: torch.Tensor, cue_states: torch.Tensor) -> torch.Tensor:
        """The control branch's input state.

        Args:
            hidden_states: (B, N, D) patch-embedded noisy input (video tokens only).
            cue_states: (B, K, N, D) patch-embedded cue latents, K = len(self.cue_names), in slot order.
        Returns:
            (B, N, D) ``cue_combine(concat_k(hidden_states + cue_states[:, k]))``.
        """
        batch, slots, tokens, dim = cue_states.shape
        if slots != len(self.cue_names) or hidden_states.shape != (batch, tokens, dim):
            raise ValueError(
                f"expected hidden_states (B, N, D) and cue_states (B, {len(self.cue_names)}, N, D); got "
                f"{tuple(hidden_states.shape)} and {tuple(cue_states.shape)}"
            )
        combined = (hidden_states.unsqueeze(1) + cue_states).permute(0, 2, 1, 3).reshape(batch, tokens, slots * dim)
        return self.cue_combine(combined)

    def block_residual(
        self,
        index: int,
        control: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """Copy block ``index`` on ``control`` (B, N, D) with text tokens (B, L, D), then its zero projection.

        Returns the (B, N, D) residual for main block ``index``, also the next copy block's input.
        """
        block = self.transformer_blocks[index]
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            control, _ = self._gradient_checkpointing_func(
                block, control, encoder_hidden_states, temb, image_rotary_emb, attention_kwargs
            )
        else:
            control, _ = block(control, encoder_hidden_states, temb, image_rotary_emb, attention_kwargs)
        return self.controlnet_blocks[index](control)
