"""Random cue masking for training the Stage III ControlNet (REFERENCE.md, "Stage III").

Each cue slot is dropped (its whole latent zeroed, as an absent cue is fed at inference) with probability
0.2; with probability 0.05 all first-frame latents (the image-to-video input and every cue's first-frame
half) are zeroed together. Draws are per sample and come from an optional ``torch.Generator``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

CUE_DROP_PROB = 0.2
FIRST_FRAME_DROP_PROB = 0.05


class MaskedCues(NamedTuple):
    cue_latents: torch.Tensor  # (B, K, F, 2C, H, W)
    image_latents: torch.Tensor  # (B, F, C, H, W)
    cue_kept: torch.Tensor  # (B, K) bool
    first_frame_kept: torch.Tensor  # (B,) bool


def mask_cues(
    cue_latents: torch.Tensor,
    image_latents: torch.Tensor,
    generator: torch.Generator | None = None,
    cue_drop_prob: float | Sequence[float] = CUE_DROP_PROB,
    first_frame_drop_prob: float = FIRST_FRAME_DROP_PROB,
) -> MaskedCues:
    """Masked copies of the cue and first-frame latents.

    Args:
        cue_latents: (B, K, F, 2C, H, W); channels [:C] the cue video latent, [C:] its first-frame latent
            zero-padded in time.
        image_latents: (B, F, C, H, W) the first-frame latent of the video, zero-padded in time.
        generator: a CPU generator for reproducible draws.
        cue_drop_prob: one probability for every slot, or one per slot.
    """
    batch, slots = cue_latents.shape[:2]
    channels = image_latents.shape[2]
    if image_latents.shape[0] != batch or cue_latents.shape[3] != 2 * channels:
        raise ValueError(
            f"cue_latents {tuple(cue_latents.shape)} and image_latents {tuple(image_latents.shape)} do not fit"
        )
    probs = torch.as_tensor(cue_drop_prob, dtype=torch.float64).expand(slots)
    if ((probs < 0) | (probs > 1)).any() or not 0 <= first_frame_drop_prob <= 1:
        raise ValueError("drop probabilities must lie in [0, 1]")
    cue_kept = torch.rand(batch, slots, generator=generator, dtype=torch.float64) >= probs
    first_frame_kept = torch.rand(batch, generator=generator, dtype=torch.float64) >= first_frame_drop_prob

    device = cue_latents.device
    cue_scale = cue_kept.to(device, cue_latents.dtype)[:, :, None, None, None, None]
    frame_scale = first_frame_kept.to(device, cue_latents.dtype)[:, None, None, None, None, None]
    channel_is_first_frame = torch.arange(2 * channels, device=device) >= channels
    cue_latents = cue_latents * cue_scale * torch.where(
        channel_is_first_frame[None, None, None, :, None, None], frame_scale, torch.ones_like(frame_scale)
    )
    image_latents = image_latents * first_frame_kept.to(device, image_latents.dtype)[:, None, None, None, None]
    return MaskedCues(cue_latents, image_latents, cue_kept, first_frame_kept)
