"""The official PAM release's Stage III checkpoint <-> our base transformer + :class:`CogVideoXControlNet`.

The release (GitHub ``GasaiYU/PAM``, ``models/cogvidex_combination.py``) subclasses the CogVideoX transformer
and saves one state dict holding the base model's keys plus:

- ``transformer_blocks_copy.{i}.*``: the copied blocks            -> our ``transformer_blocks.{i}.*``
- ``combine_linears.{i}.weight|bias``: per-block zero projections -> our ``controlnet_blocks.{i}.*``
- ``initial_combine_linear.weight|bias``: Linear(5*D -> D) over the slots tracking, normal, depth, seg, hand
  (the release's noisy-input-plus-cue combination)                -> our ``cue_combine.*``

Everything else is the (frozen) base transformer. The conversion is a renaming: no tensor is changed. The
converted ControlNet records ``trained_cues`` = depth, seg, hand (the release's ``used_conditions``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers.models.model_loading_utils import load_state_dict
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXTransformer3DModel

from pam.models.cogvideox_controlnet import BLOCK_CONFIG_KEYS, RELEASE_CUES, RELEASE_TRAINED_CUES, CogVideoXControlNet

_RENAMES = (  # (release prefix, our ControlNet prefix)
    ("transformer_blocks_copy.", "transformer_blocks."),
    ("combine_linears.", "controlnet_blocks."),
    ("initial_combine_linear.", "cue_combine."),
)


def split_release_state_dict(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a release state dict into (base transformer state dict, ControlNet state dict)."""
    base, controlnet = {}, {}
    for key, value in state_dict.items():
        for release_prefix, our_prefix in _RENAMES:
            if key.startswith(release_prefix):
                controlnet[our_prefix + key[len(release_prefix) :]] = value
                break
        else:
            base[key] = value
    if not controlnet:
        raise ValueError(
            "no ControlNet weights found: expected keys starting with "
            + ", ".join(prefix for prefix, _ in _RENAMES)
            + " (is this the PAM release's Stage III transformer?)"
        )
    return base, controlnet


def join_release_state_dict(
    base: dict[str, torch.Tensor], controlnet: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The inverse of :func:`split_release_state_dict`: one state dict with the release's key names."""
    joined = dict(base)
    for key, value in controlnet.items():
        for release_prefix, our_prefix in _RENAMES:
            if key.startswith(our_prefix):
                joined[release_prefix + key[len(our_prefix) :]] = value
                break
        else:
            raise ValueError(f"unexpected ControlNet key {key!r}")
    return joined


def controlnet_from_release(
    state_dict: dict[str, torch.Tensor],
    base_config: dict,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[CogVideoXControlNet, dict[str, torch.Tensor]]:
    """Build our ControlNet (slots tracking, normal, depth, seg, hand; trained cues depth, seg, hand) from a
    release state dict.

    Args:
        state_dict: the release's combination-transformer state dict.
        base_config: the base ``CogVideoXTransformer3DModel`` config (width, heads, ...).
        dtype, device: where the ControlNet's weights go (default: as stored).
    Returns:
        (ControlNet holding the release's weights, the remaining base-transformer entries of the state dict).
    """
    base, controlnet_state = split_release_state_dict(state_dict)
    num_layers = 1 + max(
        int(key.split(".")[1]) for key in controlnet_state if key.startswith("transformer_blocks.")
    )
    inner_dim = base_config["num_attention_heads"] * base_config["attention_head_dim"]
    expected = (inner_dim, len(RELEASE_CUES) * inner_dim)
    found = tuple(controlnet_state["cue_combine.weight"].shape)
    if found != expected:
        raise ValueError(f"initial_combine_linear.weight has shape {found}, expected {expected} for this base model")
    with torch.device("meta"):
        controlnet = CogVideoXControlNet(
            num_layers=num_layers,
            cues=RELEASE_CUES,
            trained_cues=RELEASE_TRAINED_CUES,
            **{key: base_config[key] for key in BLOCK_CONFIG_KEYS},
        )
    controlnet_state = {key: value.to(device=device, dtype=dtype) for key, value in controlnet_state.items()}
    controlnet.load_state_dict(controlnet_state, strict=True, assign=True)
    return controlnet, base


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint: one ``.safetensors``/``.bin``/``.pt`` file, or a directory of such shards."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        if not files:
            raise FileNotFoundError(f"no .safetensors or .bin weights in {path}")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state_dict: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            state_dict.update(load_state_dict(str(file)))
        except Exception as error:  # corrupt or foreign file: name it
            raise ValueError(f"cannot read checkpoint file {file}: {error}") from error
    return state_dict


def load_release(
    path: str | os.PathLike, base: CogVideoXTransformer3DModel
) -> CogVideoXControlNet:
    """Load the release's Stage III checkpoint: its ControlNet, and its base weights into ``base`` if present.

    ``base`` is a CogVideoX-5b-I2V transformer (already holding its pretrained weights, or random ones that the
    checkpoint's base entries replace). Returns the ControlNet in ``base``'s dtype and device.
    """
    controlnet, base_state = controlnet_from_release(
        read_state_dict(path), dict(base.config), dtype=base.dtype, device=base.device
    )
    if base_state:
        missing, unexpected = base.load_state_dict(base_state, strict=False)
        if unexpected:
            raise ValueError(f"{path}: keys unknown to the CogVideoX transformer: {unexpected[:5]} ...")
        if missing and len(missing) != len(base.state_dict()):
            raise ValueError(f"{path}: holds only part of the base transformer; missing {missing[:5]} ...")
    return controlnet
