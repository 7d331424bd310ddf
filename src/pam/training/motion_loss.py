"""The Stage III training objective (REFERENCE.md, "Stage III"; the trainer is :mod:`pam.training.trainer`).

The base CogVideoX-5b-I2V transformer predicts v (v-prediction); the loss compares the clean latents
recovered from v, x0_hat = sqrt(abar_t) x_t - sqrt(1 - abar_t) v, with the true ones, weighted by
1 / (1 - abar_t). The base stays frozen; only the ControlNet trains; cues may be dropped at random
(``cue_dropout``, as in :func:`pam.training.appearance_loss.appearance_loss`).
"""

from __future__ import annotations

from typing import Mapping

import torch
from diffusers import CogVideoXDPMScheduler

from pam.models.cogvideox_control import ControlledTransformer
from pam.training.cue_masking import CUE_DROP_PROB, mask_cues


def motion_loss(
    model: ControlledTransformer,
    scheduler: CogVideoXDPMScheduler,
    video_latents: torch.Tensor,
    image_latents: torch.Tensor,
    cue_latents: torch.Tensor,
    prompt_embeds: torch.Tensor,
    image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
    generator: torch.Generator | None = None,
    cue_dropout: bool | Mapping[str, float] = False,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted x0 loss of one batch (a scalar).

    Args:
        model: the frozen base with the ControlNet attached (keep it attached until ``backward`` has run).
        video_latents: (B, F, C, H, W) clean video latents (x scaling factor).
        image_latents: (B, F, C, H, W) first-frame latents zero-padded in time.
        cue_latents: (B, K, F, 2C, H, W) cue latents in ``controlnet.cue_names`` order.
        prompt_embeds: (B, L, D_text).
        generator: CPU generator for the cue masks, timesteps and noise.
        cue_dropout: False (none), True (the release's: each cue ``CUE_DROP_PROB``) or ``{name: probability}``;
            with any, the first frame is dropped too with :func:`pam.training.cue_masking.mask_cues`' probability.
        timesteps / noise: given draws ``(B,)`` and ``(B, F, C, H, W)`` instead of the generator's (the trainer
            draws them per sample, so a batch split over processes sees the same values).
    """
    if cue_dropout:
        names = model.controlnet.cue_names
        drop = [CUE_DROP_PROB if cue_dropout is True else cue_dropout.get(name, 0.0) for name in names]
        cue_latents, image_latents, _, _ = mask_cues(cue_latents, image_latents, generator, drop)
    batch = video_latents.shape[0]
    device = video_latents.device
    if timesteps is None:
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator)
    if noise is None:
        noise = torch.randn(video_latents.shape, generator=generator, dtype=video_latents.dtype)
    timesteps, noise = timesteps.to(device), noise.to(device, video_latents.dtype)
    noisy = scheduler.add_noise(video_latents, noise, timesteps)

    velocity = model(
        torch.cat([noisy, image_latents], dim=2),
        prompt_embeds,
        timesteps,
        cue_latents,
        image_rotary_emb=image_rotary_emb,
    )
    alpha_bar = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)[timesteps].view(batch, 1, 1, 1, 1)
    x0_pred = alpha_bar.sqrt() * noisy.float() - (1 - alpha_bar).sqrt() * velocity.float()
    per_sample = ((x0_pred - video_latents.float()) ** 2 / (1 - alpha_bar)).flatten(1).mean(dim=1)
    return per_sample.mean()
