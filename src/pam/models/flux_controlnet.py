"""The multi-condition Flux ControlNet (Stage II): the paper's cue encoding, and the controlled transformer call.

Design (PAM paper): each cue image (default depth, segmentation, hand keypoints) is encoded by the
Flux VAE to a 16-channel latent at H/8 x W/8 (shifted and scaled like image latents), the cue
latents are concatenated on channels (3 x 16 = 48) and packed 2x2 like Flux latents (48 x 4 = 192
features per token). The packed cues enter the ControlNet's token stream through a zero-initialised
linear layer added to the embedded noisy image tokens. The ControlNet is a short Flux: 2 double-stream
blocks (copies of the base's first two), no single-stream blocks, and a zero-initialised linear after
each block whose output is a residual for the base.

Residual mapping (``residual_mapping`` in the config), for a base of N double blocks and n residuals:
- ``"repeat"`` (the default: the authors' release / x-flux behaviour, which their weights were trained
  with): after base double block i the base adds residual ``i % n``; with n = 2 blocks 0, 2, 4, ... get
  residual 0 and blocks 1, 3, 5, ... residual 1 (all 19 double blocks of FLUX.1-dev get one).
- ``"paper"`` (the paper's Eq. 2, f_l = f_l + Z(f'_l) for the copied layers only): residual i after base
  double block i for i < n, nothing after the others.
- ``"interval"`` (diffusers' default for InstantX nets): block i gets residual ``i // ceil(N / n)``.
Nothing is added inside single-stream blocks.

``trained_cues`` (config) records the cues the checkpoint was trained with (None: all of ``cues``); the
pipelines feed those by default and give the other slots the null input.

The condition width lives in the config (``conditioning_channels``), so ``save_pretrained`` /
``from_pretrained`` round-trip exactly; diffusers' ``FluxControlNetModel`` has no such option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from diffusers import FluxControlNetModel, FluxPipeline, FluxTransformer2DModel
from diffusers import ModelMixin  # noqa: F401  (lets DiffusionPipeline.from_pretrained load this module's nets)
from diffusers.configuration_utils import register_to_config
from diffusers.models.controlnets.controlnet import zero_module
from torch import nn

DEFAULT_CUES = ("depth", "seg", "hand")
"""The paper's cues, in slot order (Stage II and Stage III)."""
RESIDUAL_MAPPINGS = ("repeat", "paper", "interval")
# Config keys shared with the base transformer that a ControlNet built from it must copy.
TRANSFORMER_KEYS = (
    "in_channels",
    "attention_head_dim",
    "num_attention_heads",
    "joint_attention_dim",
    "pooled_projection_dim",
    "guidance_embeds",
    "axes_dims_rope",
)


class CueSlots:
    """The cue slots of a ControlNet whose config records ``cues`` and ``trained_cues`` (None: all slots)."""

    @property
    def cue_names(self) -> tuple[str, ...]:
        """The cue slots, in order."""
        return tuple(self.config.cues)

    @property
    def trained_cue_names(self) -> tuple[str, ...]:
        """The cues this checkpoint was trained with (fed by default), in slot order."""
        trained = self.config.trained_cues
        return self.cue_names if trained is None else tuple(name for name in self.cue_names if name in trained)


class FluxMultiConditionControlNet(CueSlots, FluxControlNetModel):
    """Flux ControlNet whose condition is the packed, channel-concatenated VAE latents of several cues.

    Config (beyond the Flux transformer's): ``cues`` (names, in channel order), ``conditioning_channels``
    (total cue-latent channels, 16 per cue), ``residual_mapping`` and ``trained_cues`` (see the module
    docstring).

    Forward (inherited): ``controlnet_cond`` is ``(B, h/2 * w/2, 4 * conditioning_channels)``, as made by
    :meth:`pack_condition`; returns one residual ``(B, h/2 * w/2, inner_dim)`` per ControlNet block.
    """

    ignore_for_config = ["patch_size", "num_mode", "conditioning_embedding_channels"]
    cue_space = "latent"
    shift_rule = "flux"  # sampled with FluxPipeline's timestep shift (pam.pipelines.appearance.shift_mu)

    @register_to_config
    def __init__(
        self,
        in_channels: int = 64,
        num_layers: int = 2,
        num_single_layers: int = 0,
        attention_head_dim: int = 128,
        num_attention_heads: int = 24,
        joint_attention_dim: int = 4096,
        pooled_projection_dim: int = 768,
        guidance_embeds: bool = True,
        axes_dims_rope: Sequence[int] = (16, 56, 56),
        cues: Sequence[str] = DEFAULT_CUES,
        conditioning_channels: int = 48,
        residual_mapping: str = "repeat",
        trained_cues: Sequence[str] | None = None,
    ):
        cues = tuple(cues)
        check_trained_cues(trained_cues, cues)
        if not cues or len(set(cues)) != len(cues):
            raise ValueError(f"cues must be distinct names, got {cues}")
        if conditioning_channels % len(cues):
            raise ValueError(f"conditioning_channels={conditioning_channels} is not a multiple of {len(cues)} cues")
        if residual_mapping not in RESIDUAL_MAPPINGS:
            raise ValueError(f"residual_mapping must be one of {RESIDUAL_MAPPINGS}, got {residual_mapping!r}")
        super().__init__(
            patch_size=1,
            in_channels=in_channels,
            num_layers=num_layers,
            num_single_layers=num_single_layers,
            attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads,
            joint_attention_dim=joint_attention_dim,
            pooled_projection_dim=pooled_projection_dim,
            guidance_embeds=guidance_embeds,
            axes_dims_rope=list(axes_dims_rope),
        )
        self.controlnet_x_embedder = zero_module(nn.Linear(4 * conditioning_channels, self.inner_dim))

    @property
    def cue_channels(self) -> int:
        """Latent channels per cue (16 for the Flux VAE)."""
        return self.config.conditioning_channels // len(self.config.cues)

    @property
    def residual_mapping(self) -> str:
        return self.config.residual_mapping

    def pack_condition(self, cue_latents: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate cue latents ``{name: (B, 16, h, w)}`` in config order and pack 2x2.

        Returns ``(B, h/2 * w/2, 4 * conditioning_channels)``, the ``controlnet_cond`` of :meth:`forward`.
        """
        check_cue_names(cue_latents, self.cue_names)
        first = cue_latents[self.cue_names[0]]
        for name in self.cue_names:
            lat = cue_latents[name]
            if lat.ndim != 4 or lat.shape[1] != self.cue_channels or lat.shape != first.shape:
                raise ValueError(
                    f"cue latent {name!r} has shape {tuple(lat.shape)}; expected (B, {self.cue_channels}, h, w) "
                    f"equal for all cues (first: {tuple(first.shape)})"
                )
        b, _, h, w = first.shape
        if h % 2 or w % 2:
            raise ValueError(f"cue latents must have even height and width to pack 2x2, got {h} x {w}")
        stacked = torch.cat([cue_latents[name] for name in self.cue_names], dim=1)
        return FluxPipeline._pack_latents(stacked, b, stacked.shape[1], h, w)

    @classmethod
    def from_transformer(
        cls,
        transformer: FluxTransformer2DModel,
        cues: Sequence[str] = DEFAULT_CUES,
        num_layers: int = 2,
        num_single_layers: int = 0,
        residual_mapping: str = "repeat",
        trained_cues: Sequence[str] | None = None,
    ) -> FluxMultiConditionControlNet:
        """Build a ControlNet whose embedders and blocks are copies of the base's (its first blocks).

        The cue width is one VAE latent (``transformer.config.in_channels // 4`` = 16) per cue.
        """
        config = {key: transformer.config[key] for key in TRANSFORMER_KEYS}
        cues = tuple(cues)
        controlnet = cls(
            **config,
            num_layers=num_layers,
            num_single_layers=num_single_layers,
            cues=cues,
            conditioning_channels=len(cues) * (config["in_channels"] // 4),
            residual_mapping=residual_mapping,
            trained_cues=None if trained_cues is None else tuple(trained_cues),
        )
        copy_from_transformer(controlnet, transformer)
        return match_device_dtype(controlnet, transformer)


def copy_from_transformer(controlnet: FluxControlNetModel, transformer: FluxTransformer2DModel) -> None:
    """Copy the base's text/time/image embedders and its first double and single blocks into ``controlnet``."""
    if len(controlnet.transformer_blocks) > len(transformer.transformer_blocks) or len(
        controlnet.single_transformer_blocks
    ) > len(transformer.single_transformer_blocks):
        raise ValueError("the ControlNet has more blocks than the transformer it is copied from")
    for name in ("time_text_embed", "context_embedder", "x_embedder"):
        getattr(controlnet, name).load_state_dict(getattr(transformer, name).state_dict())
    for mine, theirs in (
        (controlnet.transformer_blocks, transformer.transformer_blocks),
        (controlnet.single_transformer_blocks, transformer.single_transformer_blocks),
    ):
        for i, block in enumerate(mine):
            block.load_state_dict(theirs[i].state_dict())


def match_device_dtype(module: nn.Module, reference: FluxTransformer2DModel) -> nn.Module:
    """Move ``module`` to the reference model's device and dtype (only where they differ)."""
    if reference.device != module.device:
        module = module.to(reference.device)
    if reference.dtype != module.dtype:
        module = module.to(dtype=reference.dtype)
    return module


def check_cue_names(given: Mapping[str, object], expected: Sequence[str]) -> None:
    """Raise a ValueError naming unknown or missing cues."""
    unknown = sorted(set(given) - set(expected))
    missing = [name for name in expected if name not in given]
    if unknown or missing:
        raise ValueError(
            f"cues must be exactly {list(expected)}; unknown: {unknown}, missing: {missing}"
        )


def check_trained_cues(trained: Sequence[str] | None, cues: Sequence[str]) -> None:
    """Raise a ValueError unless ``trained`` is None or a non-empty subset of the slots ``cues``."""
    if trained is None:
        return
    unknown = sorted(set(trained) - set(cues))
    if not trained or unknown:
        raise ValueError(f"trained_cues must be a non-empty subset of the cues {list(cues)}; got {list(trained)}")


def map_residuals(
    samples: Sequence[torch.Tensor], mapping: str, num_blocks: int
) -> tuple[list[torch.Tensor], bool]:
    """A ControlNet's residuals (one per ControlNet block) as diffusers' Flux transformer takes them:
    ``(controlnet_block_samples, controlnet_blocks_repeat)`` for a base of ``num_blocks`` double blocks.

    "paper" pads with exact zeros to one residual per base block (block i < n gets residual i, the rest
    nothing: adding 0.0 leaves them bit-identical); "repeat" / "interval" are diffusers' own two mappings.
    """
    samples = list(samples)
    if mapping == "repeat":
        return samples, True
    if mapping == "interval":
        return samples, False
    if mapping == "paper":
        if len(samples) > num_blocks:
            raise ValueError(f"{len(samples)} residuals for a base of {num_blocks} double blocks")
        return samples + [torch.zeros_like(samples[0])] * (num_blocks - len(samples)), False
    raise ValueError(f"residual_mapping must be one of {RESIDUAL_MAPPINGS}, got {mapping!r}")


def controlled_transformer_forward(
    transformer: FluxTransformer2DModel,
    controlnet: nn.Module,
    hidden_states: torch.Tensor,
    controlnet_cond,
    *,
    timestep: torch.Tensor,
    guidance: torch.Tensor | None,
    pooled_projections: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    txt_ids: torch.Tensor,
    img_ids: torch.Tensor,
    conditioning_scale=1.0,
    joint_attention_kwargs: dict | None = None,
) -> torch.Tensor:
    """Run the ControlNet, then the base transformer with its residuals (diffusers'
    ``controlnet_block_samples`` path, placed by ``controlnet.residual_mapping``, see :func:`map_residuals`).

    ``hidden_states`` are packed noisy latents ``(B, N, 64)``; ``timestep`` and ``guidance`` are in the
    transformer's units (sigma in [0, 1], guidance strength). Returns the velocity ``(B, N, 64)``.
    """
    common = dict(
        hidden_states=hidden_states,
        timestep=timestep,
        guidance=guidance,
        pooled_projections=pooled_projections,
        encoder_hidden_states=encoder_hidden_states,
        txt_ids=txt_ids,
        img_ids=img_ids,
        joint_attention_kwargs=joint_attention_kwargs,
    )
    block_samples, single_block_samples = controlnet(
        controlnet_cond=controlnet_cond, conditioning_scale=conditioning_scale, return_dict=False, **common
    )
    dtype = transformer.dtype
    repeat = False
    if block_samples is not None:
        block_samples, repeat = map_residuals(
            [s.to(dtype) for s in block_samples], controlnet.residual_mapping, len(transformer.transformer_blocks)
        )
    return transformer(
        controlnet_block_samples=block_samples,
        controlnet_single_block_samples=(
            None if single_block_samples is None else [s.to(dtype) for s in single_block_samples]
        ),
        controlnet_blocks_repeat=repeat,
        return_dict=False,
        **common,
    )[0]
