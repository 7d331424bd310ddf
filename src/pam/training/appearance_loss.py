"""Stage II training objective: rectified flow for the ControlNet, the Flux base frozen.

With normalised image latents x and noise eps, t is drawn uniformly from the 1000-point grid
{0, 1/999, ..., 1}; x_t = (1 - t) x + t eps, and the controlled transformer (guidance embedding 4)
regresses the velocity eps - x with a plain MSE (REFERENCE.md, release training).

Cue dropout (a flag): each cue of each sample is replaced by its null input with probability p
(release: depth 0.2, seg 0.2, hand 0.05, normal always). The null input is an all -1 image, in the
space the ControlNet reads: for ``FluxMultiConditionControlNet`` the normalised VAE latent of that
image (``AppearancePipeline.encode_cue_latents`` of a -1 image), for the release nets the -1 pixels.
The base stays frozen by the caller (``transformer.requires_grad_(False)``); only the ControlNet's
parameters receive gradients.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from diffusers import FluxPipeline, FluxTransformer2DModel
from torch import nn

from pam.models.flux_controlnet import controlled_transformer_forward

RELEASE_CUE_DROPOUT = {"depth": 0.2, "seg": 0.2, "hand": 0.05, "normal": 1.0}
NUM_TRAIN_TIMESTEPS = 1000
TRAIN_GUIDANCE = 4.0


def drop_cues(
    cues: Mapping[str, torch.Tensor],
    null_cues: Mapping[str, torch.Tensor],
    probabilities: Mapping[str, float],
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Replace each cue of each sample by its null input with probability ``probabilities[name]``.

    ``cues[name]`` is ``(B, ...)``; ``null_cues[name]`` has the same shape or batch 1.
    """
    out = {}
    for name, cue in cues.items():
        p = probabilities.get(name, 0.0)
        draw = torch.rand(cue.shape[0], generator=generator).to(cue.device)
        keep = (draw >= p).view(-1, *([1] * (cue.ndim - 1)))
        out[name] = torch.where(keep, cue, null_cues[name].to(cue))
    return out


def appearance_loss(
    transformer: FluxTransformer2DModel,
    controlnet: nn.Module,
    latents: torch.Tensor,
    cues: Mapping[str, torch.Tensor],
    null_cues: Mapping[str, torch.Tensor],
    prompt_embeds: torch.Tensor,
    pooled_prompt_embeds: torch.Tensor,
    *,
    cue_dropout: bool | Mapping[str, float] = False,
    guidance: float = TRAIN_GUIDANCE,
    generator: torch.Generator | None = None,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rectified-flow MSE of the controlled transformer on one batch.

    Args:
        latents: normalised image latents x ``(B, 16, h, w)`` (h, w even).
        cues: ``{name: cue}`` in the ControlNet's space (``(B, 16, h, w)`` latents for the paper's net,
            ``(B, 3, 8h, 8w)`` pixels for the release); cues it reads but not given get their null input.
        null_cues: ``{name: null input}`` for every cue the ControlNet reads (batch 1 or B).
        prompt_embeds / pooled_prompt_embeds: T5 ``(B, L, D)`` and CLIP pooled ``(B, P)`` embeddings.
        cue_dropout: False (none), True (release probabilities) or ``{name: probability}``.
        generator: a CPU generator; makes t, the noise and the dropout reproducible.
        t / noise: given draws instead of the generator's: t ``(B,)`` on the grid, noise ``(B, 16, h, w)``
            (the trainer draws them per sample, so a batch split over processes sees the same values).
    Returns:
        the scalar loss.
    """
    b, c, h, w = latents.shape
    device = latents.device
    x = FluxPipeline._pack_latents(latents, b, c, h, w)
    if t is None:
        t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (b,), generator=generator) / (NUM_TRAIN_TIMESTEPS - 1)
    t = t.to(device, x.dtype)
    if noise is None:
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(device)
    else:
        eps = FluxPipeline._pack_latents(noise.to(device, x.dtype), b, c, h, w)
    x_t = (1 - t[:, None, None]) * x + t[:, None, None] * eps

    inputs = {name: cues.get(name, null_cues[name]) for name in controlnet.cue_names}
    inputs = {name: value.expand(b, *value.shape[1:]) for name, value in inputs.items()}
    if cue_dropout:
        probabilities = RELEASE_CUE_DROPOUT if cue_dropout is True else cue_dropout
        inputs = drop_cues(inputs, null_cues, probabilities, generator)
    condition = controlnet.pack_condition({k: v.to(controlnet.dtype) for k, v in inputs.items()})

    pred = controlled_transformer_forward(
        transformer,
        controlnet,
        x_t,
        condition,
        timestep=t,
        guidance=torch.full((b,), guidance, device=device) if transformer.config.guidance_embeds else None,
        pooled_projections=pooled_prompt_embeds,
        encoder_hidden_states=prompt_embeds,
        txt_ids=torch.zeros(prompt_embeds.shape[1], 3, device=device, dtype=x.dtype),
        img_ids=FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, device, x.dtype),
    )
    return F.mse_loss(pred.float(), (eps - x).float())
