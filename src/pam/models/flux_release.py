"""The authors' released Stage II ControlNet (x-flux style) and the converter for its ``controlnet.bin``.

Release design (REFERENCE.md, "Release variant"): two ControlNets of 2 double blocks each, copied from
base double blocks 0 and 1. Each reads pixel images stacked on channels: net 1 = [depth | normal]
(6 ch), net 2 = [hand keypoints | seg] (6 ch). Its condition encoder is a conv stack (3x3 convs with
16 channels and SiLU, three of them stride 2 = /8, the last conv zero-initialised) whose 16-channel
map is patchified 2x2 (64 features) and passed through Linear(64 -> inner) added to the image-token
embedding. Each block output passes a zero-initialised Linear(inner -> inner); the two nets'
residuals are summed and residual k is added after every base double block i with i % 2 == k.
The release trained with depth, seg and hand only (``normal`` was always the null image, REFERENCE.md), so
the converted checkpoint records ``trained_cues`` = depth, seg, hand, and it is sampled with x-flux's
timestep shift (``shift_rule``, see :func:`pam.pipelines.appearance.shift_mu`).

In diffusers terms each net is a ``FluxControlNetModel`` with an ``input_hint_block``
(``ControlNetConditioningEmbedding`` with four 16-channel stages) and ``patch_size=2`` for the hint
patchify; only the hint's input width (6 instead of 3) needs the subclass below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import torch
from diffusers import FluxControlNetModel, FluxTransformer2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from diffusers.models.controlnets.controlnet_flux import FluxControlNetOutput
from diffusers.models.modeling_utils import ModelMixin

from pam.models.flux_controlnet import (
    TRANSFORMER_KEYS,
    CueSlots,
    check_cue_names,
    check_trained_cues,
    copy_from_transformer,
    match_device_dtype,
)

RELEASE_CUE_GROUPS = (("depth", "normal"), ("hand", "seg"))
RELEASE_TRAINED_CUES = ("depth", "seg", "hand")
"""The cues the release's Stage II checkpoint was trained with (its ``normal`` input was always -1)."""
HINT_CHANNELS = 16  # width of the release's conv condition encoder


class FluxPixelControlNet(FluxControlNetModel):
    """One release ControlNet: x-flux's pixel-space condition encoder with ``conditioning_channels`` inputs.

    ``controlnet_cond`` is ``(B, conditioning_channels, H, W)`` in [-1, 1] with H, W multiples of 16.
    """

    ignore_for_config = ["num_mode", "conditioning_embedding_channels"]

    @register_to_config
    def __init__(
        self,
        patch_size: int = 2,
        in_channels: int = 64,
        num_layers: int = 2,
        num_single_layers: int = 0,
        attention_head_dim: int = 128,
        num_attention_heads: int = 24,
        joint_attention_dim: int = 4096,
        pooled_projection_dim: int = 768,
        guidance_embeds: bool = True,
        axes_dims_rope: Sequence[int] = (16, 56, 56),
        conditioning_channels: int = 6,
    ):
        if HINT_CHANNELS * patch_size**2 != in_channels:
            raise ValueError(
                f"the {HINT_CHANNELS}-channel hint patchified {patch_size}x{patch_size} must give in_channels={in_channels}"
            )
        super().__init__(
            patch_size=patch_size,
            in_channels=in_channels,
            num_layers=num_layers,
            num_single_layers=num_single_layers,
            attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads,
            joint_attention_dim=joint_attention_dim,
            pooled_projection_dim=pooled_projection_dim,
            guidance_embeds=guidance_embeds,
            axes_dims_rope=list(axes_dims_rope),
            conditioning_embedding_channels=HINT_CHANNELS,
        )
        self.input_hint_block = ControlNetConditioningEmbedding(
            HINT_CHANNELS, conditioning_channels=conditioning_channels, block_out_channels=(HINT_CHANNELS,) * 4
        )


class FluxReleaseControlNet(CueSlots, ModelMixin, ConfigMixin):
    """The release's dual ControlNet: one :class:`FluxPixelControlNet` per cue group, residuals summed.

    Submodules are ``controlnet1``, ``controlnet2``, ... as in the release's state dict. Each cue is a
    3-channel image in [-1, 1]; the null (dropped) cue is an all -1 image (the release always feeds
    -1 for ``normal``).
    """

    _supports_gradient_checkpointing = True
    cue_space = "pixel"
    residual_mapping = "repeat"  # residual i % n after base double block i (x-flux)
    shift_rule = "x-flux"  # the release samples with x-flux's get_schedule

    @register_to_config
    def __init__(
        self,
        cue_groups: Sequence[Sequence[str]] = RELEASE_CUE_GROUPS,
        in_channels: int = 64,
        num_layers: int = 2,
        attention_head_dim: int = 128,
        num_attention_heads: int = 24,
        joint_attention_dim: int = 4096,
        pooled_projection_dim: int = 768,
        guidance_embeds: bool = True,
        axes_dims_rope: Sequence[int] = (16, 56, 56),
        trained_cues: Sequence[str] | None = None,
    ):
        super().__init__()
        names = [name for group in cue_groups for name in group]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"cue_groups must hold distinct names, got {cue_groups}")
        check_trained_cues(trained_cues, names)
        for k, group in enumerate(cue_groups, start=1):
            net = FluxPixelControlNet(
                in_channels=in_channels,
                num_layers=num_layers,
                attention_head_dim=attention_head_dim,
                num_attention_heads=num_attention_heads,
                joint_attention_dim=joint_attention_dim,
                pooled_projection_dim=pooled_projection_dim,
                guidance_embeds=guidance_embeds,
                axes_dims_rope=axes_dims_rope,
                conditioning_channels=3 * len(group),
            )
            setattr(self, f"controlnet{k}", net)

    @property
    def nets(self) -> list[FluxPixelControlNet]:
        return [getattr(self, f"controlnet{k}") for k in range(1, len(self.config.cue_groups) + 1)]

    @property
    def cue_names(self) -> tuple[str, ...]:
        """The cue slots, group after group (the release has no ``cues`` config key)."""
        return tuple(name for group in self.config.cue_groups for name in group)

    def pack_condition(self, cue_images: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """Stack cue images ``{name: (B, 3, H, W)}`` on channels per group -> one tensor per net."""
        check_cue_names(cue_images, self.cue_names)
        return [torch.cat([cue_images[name] for name in group], dim=1) for group in self.config.cue_groups]

    def forward(
        self,
        hidden_states: torch.Tensor,
        controlnet_cond: Sequence[torch.Tensor],
        conditioning_scale: float | Sequence[float] = 1.0,
        return_dict: bool = True,
        **kwargs,
    ) -> FluxControlNetOutput | tuple:
        """Sum the nets' residuals, net k scaled by ``conditioning_scale[k]`` (or one scale for all).

        ``controlnet_cond`` is :meth:`pack_condition`'s list; other keyword arguments are those of
        ``FluxControlNetModel.forward`` (timestep, guidance, text embeddings, ids).
        """
        nets = self.nets
        scales = conditioning_scale
        if isinstance(conditioning_scale, (int, float)):
            scales = [conditioning_scale] * len(nets)
        if len(controlnet_cond) != len(nets) or len(scales) != len(nets):
            raise ValueError(f"need one condition and one scale per net ({len(nets)})")
        total = None
        for net, cond, scale in zip(nets, controlnet_cond, scales):
            samples, _ = net(
                hidden_states=hidden_states, controlnet_cond=cond, conditioning_scale=scale, return_dict=False, **kwargs
            )
            total = samples if total is None else [a + b for a, b in zip(total, samples)]
        if not return_dict:
            return total, None
        return FluxControlNetOutput(controlnet_block_samples=total, controlnet_single_block_samples=None)

    @classmethod
    def from_transformer(
        cls,
        transformer: FluxTransformer2DModel,
        cue_groups: Sequence[Sequence[str]] = RELEASE_CUE_GROUPS,
        num_layers: int = 2,
    ) -> FluxReleaseControlNet:
        """Build the dual net with each net's embedders and blocks copied from the base (its first blocks)."""
        config = {key: transformer.config[key] for key in TRANSFORMER_KEYS}
        model = cls(cue_groups=[list(g) for g in cue_groups], num_layers=num_layers, **config)
        for net in model.nets:
            copy_from_transformer(net, transformer)
        return match_device_dtype(model, transformer)


# x-flux ControlNetFlux parameter names -> diffusers FluxControlNetModel names (per net).
_XFLUX_RENAMES = (
    ("img_in.", "x_embedder."),
    ("txt_in.", "context_embedder."),
    ("time_in.in_layer.", "time_text_embed.timestep_embedder.linear_1."),
    ("time_in.out_layer.", "time_text_embed.timestep_embedder.linear_2."),
    ("vector_in.in_layer.", "time_text_embed.text_embedder.linear_1."),
    ("vector_in.out_layer.", "time_text_embed.text_embedder.linear_2."),
    ("guidance_in.in_layer.", "time_text_embed.guidance_embedder.linear_1."),
    ("guidance_in.out_layer.", "time_text_embed.guidance_embedder.linear_2."),
    ("pos_embed_input.", "controlnet_x_embedder."),
    ("controlnet_blocks.", "controlnet_blocks."),
)
# Inside double_blocks.N (x-flux DoubleStreamBlock) -> transformer_blocks.N (diffusers FluxTransformerBlock).
_XFLUX_DOUBLE_BLOCK = {
    "img_mod.lin.": "norm1.linear.",
    "txt_mod.lin.": "norm1_context.linear.",
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "img_attn.proj.": "attn.to_out.0.",
    "txt_attn.proj.": "attn.to_add_out.",
    "img_mlp.0.": "ff.net.0.proj.",
    "img_mlp.2.": "ff.net.2.",
    "txt_mlp.0.": "ff_context.net.0.proj.",
    "txt_mlp.2.": "ff_context.net.2.",
}
# Fused qkv projections split into three (x-flux packs them as (K H D) with K = q, k, v first).
_XFLUX_QKV = {
    "img_attn.qkv.": ("attn.to_q.", "attn.to_k.", "attn.to_v."),
    "txt_attn.qkv.": ("attn.add_q_proj.", "attn.add_k_proj.", "attn.add_v_proj."),
}
# x-flux's input_hint_block is an nn.Sequential with convs at even indices 0, 2, ..., 14.
_XFLUX_HINT_CONVS = {0: "conv_in"} | {2 * (j + 1): f"blocks.{j}" for j in range(6)} | {14: "conv_out"}


def _convert_net_key(key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """Map one x-flux ControlNetFlux entry to its diffusers name(s); raise KeyError if unknown."""
    for old, new in _XFLUX_RENAMES:
        if key.startswith(old):
            return {new + key[len(old):]: value}
    match = re.fullmatch(r"input_hint_block\.(\d+)\.(weight|bias)", key)
    if match and int(match.group(1)) in _XFLUX_HINT_CONVS:
        return {f"input_hint_block.{_XFLUX_HINT_CONVS[int(match.group(1))]}.{match.group(2)}": value}
    match = re.fullmatch(r"double_blocks\.(\d+)\.(.+)", key)
    if match:
        prefix, rest = f"transformer_blocks.{match.group(1)}.", match.group(2)
        for old, names in _XFLUX_QKV.items():
            if rest.startswith(old):
                suffix = rest[len(old):]
                return {prefix + name + suffix: part for name, part in zip(names, value.chunk(3, dim=0))}
        for old, new in _XFLUX_DOUBLE_BLOCK.items():
            if rest.startswith(old):
                return {prefix + new + rest[len(old):]: value}
    raise KeyError(key)


def convert_release_controlnet(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert the release's ``controlnet.bin`` (keys ``controlnet1.*`` / ``controlnet2.*`` in x-flux
    naming, optionally prefixed ``module.``) to :class:`FluxReleaseControlNet` keys.

    diffusers' own BFL converter (``convert_flux_transformer_checkpoint_to_diffusers``) expects a full
    transformer (single blocks, final layer), hence this per-net table.

    Raises:
        ValueError: listing keys that are not x-flux ControlNet parameters.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        match = re.fullmatch(r"(controlnet\d+)\.(.+)", key)
        try:
            if match is None:
                raise KeyError(key)
            for name, tensor in _convert_net_key(match.group(2), value).items():
                converted[f"{match.group(1)}.{name}"] = tensor
        except KeyError:
            unknown.append(key)
    if unknown:
        more = " ..." if len(unknown) > 8 else ""
        raise ValueError(f"not an x-flux dual ControlNet state dict; unexpected keys: {unknown[:8]}{more}")
    return converted


def load_release_controlnet(
    path: str | os.PathLike, transformer_config: Mapping, cue_groups: Sequence[Sequence[str]] = RELEASE_CUE_GROUPS
) -> FluxReleaseControlNet:
    """Load the release's ``controlnet.bin`` (a plain ``torch.save`` of the dual net) for a base whose
    config is ``transformer_config``; the number of blocks is read from the file. The model records
    ``trained_cues`` = :data:`RELEASE_TRAINED_CUES`.

    Raises:
        ValueError: if the file's tensors do not fit the model (names or shapes), naming the file.
    """
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    try:
        converted = convert_release_controlnet(state_dict)
        num_layers = 1 + max(int(k.split(".")[2]) for k in converted if k.split(".")[1] == "transformer_blocks")
        config = {key: transformer_config[key] for key in TRANSFORMER_KEYS}
        model = FluxReleaseControlNet(
            cue_groups=[list(g) for g in cue_groups], num_layers=num_layers, trained_cues=RELEASE_TRAINED_CUES, **config
        )
        model.load_state_dict(converted, strict=True)
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"{path} is not a PAM release ControlNet for this base model: {err}") from err
    return model
