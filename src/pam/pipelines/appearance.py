"""Stage II sampler: FLUX.1-dev + a multi-condition ControlNet -> the first frame of the video.

``AppearancePipeline`` follows diffusers' FluxPipeline (text encoding, 2x2 latent packing, flow-matching
Euler sampling with Flux's resolution-dependent shift, guidance embedding) and reuses its helpers; the
transformer runs with ControlNet residuals at every step. It accepts either ControlNet:

- :class:`~pam.models.flux_controlnet.FluxMultiConditionControlNet` (the paper's design): each cue image
  is VAE-encoded (mean of the posterior, shifted and scaled like image latents) and packed.
- :class:`~pam.models.flux_release.FluxReleaseControlNet` (the authors' checkpoint): cue pixels as they are.

Missing cues get the null input the nets were trained with for a dropped cue: an all -1 image
(for the latent net, the VAE latent of that image). ``cue_scales[name] = s`` feeds
``null + s * (cue - null)`` in the space the net reads, so 0 drops the cue and 1 uses it as given;
``controlnet_conditioning_scale`` multiplies all residuals. Each checkpoint records the cues it was trained
with (:attr:`AppearancePipeline.trained_cue_names`; the release's: depth, seg, hand, its ``normal`` input
having always been the null image); giving another cue works but is logged as untrained.

Timestep shift (:func:`shift_mu`): FluxPipeline's rule (mu from the number of image tokens) for the paper's
net, x-flux's ``get_schedule`` rule for the release weights, which were sampled with it.

Memory switches: ``torch_dtype=torch.bfloat16`` when loading, ``pipe.enable_model_cpu_offload()``,
``pipe.vae.enable_tiling()`` and ``pipe.vae.enable_slicing()``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
)
from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps
from diffusers.pipelines.flux.pipeline_output import FluxPipelineOutput
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import logging
from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

from pam.models.flux_controlnet import FluxMultiConditionControlNet, controlled_transformer_forward
from pam.models.flux_release import FluxReleaseControlNet, load_release_controlnet
from pam.home import MissingWeightsError, locate
from pam.pipelines.inputs import LABEL_CUES, ImageInput, image_to_tensor, resize_tensor

logger = logging.get_logger(__name__)
FLUX_SOURCE = "https://huggingface.co/black-forest-labs/FLUX.1-dev (the whole diffusers-format repository)"
RELEASE_SOURCE = "https://huggingface.co/GasaiYU/PAM (the appearance ControlNet `controlnet.bin`)"
DEFAULT_SIZE = {"latent": (480, 720), "pixel": (480, 640)}  # paper design / release weights
HUB_ID = r"[\w.-]+/[\w.-]+"
FLUX_EXTRAS = ("image_encoder", "feature_extractor")  # FluxPipeline's optional IP-adapter parts, unused here
SHIFT_RULES = ("flux", "x-flux")


def shift_mu(height: int, width: int, rule: str, config: Mapping, vae_scale_factor: int = 8) -> float:
    """The exponent mu of Flux's resolution-dependent timestep shift, sigma' = e^mu / (e^mu + 1/sigma - 1).

    mu is linear in a sequence length L, from ``base_shift`` (0.5) at ``base_image_seq_len`` (256) to
    ``max_shift`` (1.15) at ``max_image_seq_len`` (4096), as in the scheduler ``config``. The rules differ in L:

    - ``"flux"`` (diffusers' FluxPipeline, BFL's reference): L = number of image tokens = (H/16)(W/16);
      mu = 0.66 at 480 x 640.
    - ``"x-flux"`` (the PAM release, via x-flux's ``get_schedule``): L = (W//8)(H//8)//256, i.e. the tokens
      divided by 64 once more; mu = 0.46 at 480 x 640.

    (8 and 16 stand for ``vae_scale_factor`` and twice it.)
    """
    f = vae_scale_factor
    if rule == "flux":
        seq_len = (height // (2 * f)) * (width // (2 * f))
    elif rule == "x-flux":
        seq_len = (width // f) * (height // f) // 256
    else:
        raise ValueError(f"shift rule must be one of {SHIFT_RULES}, got {rule!r}")
    return calculate_shift(
        seq_len,
        config.get("base_image_seq_len", 256),
        config.get("max_image_seq_len", 4096),
        config.get("base_shift", 0.5),
        config.get("max_shift", 1.15),
    )


def encode_image_latents(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] -> normalised latents ``(B, 16, H/8, W/8)``: the posterior mean, shifted and
    scaled as Flux's image latents (used for cues, and by the trainer's cache for images too)."""
    latents = vae.encode(images.to(vae.device, vae.dtype)).latent_dist.mode()
    return (latents - vae.config.shift_factor) * vae.config.scaling_factor


class AppearancePipeline(DiffusionPipeline):
    """Text + cue images -> images. See the module docstring for cue handling and memory switches."""

    model_cpu_offload_seq = "text_encoder->text_encoder_2->transformer->vae"
    # The ControlNet (0.7 B parameters) runs before the transformer at every step: with model offload it
    # stays on the GPU instead of being moved back and forth each step.
    _exclude_from_cpu_offload = ["controlnet"]
    _optional_components = []

    # FluxPipeline's text encoding, latent preparation and packing helpers, reused as they are.
    _get_t5_prompt_embeds = FluxPipeline._get_t5_prompt_embeds
    _get_clip_prompt_embeds = FluxPipeline._get_clip_prompt_embeds
    encode_prompt = FluxPipeline.encode_prompt
    prepare_latents = FluxPipeline.prepare_latents
    _prepare_latent_image_ids = staticmethod(FluxPipeline._prepare_latent_image_ids)
    _pack_latents = staticmethod(FluxPipeline._pack_latents)
    _unpack_latents = staticmethod(FluxPipeline._unpack_latents)

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        text_encoder_2: T5EncoderModel,
        tokenizer_2: T5TokenizerFast,
        transformer: FluxTransformer2DModel,
        controlnet: FluxMultiConditionControlNet | FluxReleaseControlNet,
        scheduler: FlowMatchEulerDiscreteScheduler,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            transformer=transformer,
            controlnet=controlnet,
            scheduler=scheduler,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor * 2)
        self.tokenizer_max_length = self.tokenizer.model_max_length if self.tokenizer is not None else 77

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained_parts(
        cls,
        flux: str | os.PathLike | None = None,
        controlnet: str | os.PathLike | None = None,
        torch_dtype: torch.dtype = torch.bfloat16,
    ) -> AppearancePipeline:
        """Assemble the pipeline from a FLUX.1-dev base and a ControlNet.

        Args:
            flux: a local diffusers-format FLUX.1-dev directory, or a hub id (used only where a hub is
                reachable); default ``$PAM_HOME/FLUX.1-dev``.
            controlnet: a directory saved by ``FluxMultiConditionControlNet.save_pretrained`` (or
                ``FluxReleaseControlNet``), or the release's ``controlnet.bin``; default
                ``$PAM_HOME/PAM/controlnet.bin``.
            torch_dtype: weights dtype (bfloat16 by default; float32 on CPU for exactness).
        Raises:
            MissingWeightsError: naming the missing part, where to get it and where to put it.
        """
        is_hub_id = flux is not None and not Path(flux).expanduser().exists() and re.fullmatch(HUB_ID, str(flux))
        flux_path = str(flux) if is_hub_id else locate(flux, "FLUX.1-dev", "The FLUX.1-dev base model", FLUX_SOURCE)
        cn_path = locate(controlnet, "PAM/controlnet.bin", "The PAM appearance ControlNet", RELEASE_SOURCE)
        try:
            base = FluxPipeline.from_pretrained(flux_path, torch_dtype=torch_dtype)
        except OSError as err:
            raise MissingWeightsError(
                f"Could not load the FLUX.1-dev base model from {flux_path}: {err}. Get it from {FLUX_SOURCE} and "
                "put the whole repository (model_index.json, transformer/, vae/, text_encoder*/, tokenizer*/, "
                "scheduler/) there."
            ) from err
        if cn_path.is_dir():
            config = json.loads((cn_path / "config.json").read_text()) if (cn_path / "config.json").exists() else {}
            is_release = config.get("_class_name") == FluxReleaseControlNet.__name__
            kind = FluxReleaseControlNet if is_release else FluxMultiConditionControlNet
            net = kind.from_pretrained(cn_path, torch_dtype=torch_dtype)
        else:
            net = load_release_controlnet(cn_path, base.transformer.config).to(dtype=torch_dtype)
        parts = {name: part for name, part in base.components.items() if name not in FLUX_EXTRAS}
        return cls(controlnet=net, **parts)

    # ------------------------------------------------------------------------------------------ inputs
    @property
    def cue_names(self) -> tuple[str, ...]:
        return self.controlnet.cue_names

    @property
    def trained_cue_names(self) -> tuple[str, ...]:
        """The cues the ControlNet was trained with (the others were always the null input)."""
        return self.controlnet.trained_cue_names

    @property
    def default_size(self) -> tuple[int, int]:
        """(height, width): 480 x 720 for the paper's net, 480 x 640 for the release weights."""
        return DEFAULT_SIZE[self.controlnet.cue_space]

    def check_inputs(self, prompt, prompt_embeds, pooled_prompt_embeds, cues, height, width, cue_scales) -> None:
        if (prompt is None) == (prompt_embeds is None):
            raise ValueError("pass exactly one of `prompt` and `prompt_embeds`")
        if prompt_embeds is not None and pooled_prompt_embeds is None:
            raise ValueError("`prompt_embeds` needs `pooled_prompt_embeds` (the CLIP pooled output) too")
        multiple = self.vae_scale_factor * 2
        if height % multiple or width % multiple or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {multiple}, got {height} x {width}")
        unknown = sorted(set(cues) - set(self.cue_names))
        if unknown:
            raise ValueError(f"unknown cue(s) {unknown}; this ControlNet reads {list(self.cue_names)}")
        unknown = sorted(set(cue_scales or {}) - set(self.cue_names))
        if unknown:
            raise ValueError(f"cue_scales names unknown cue(s) {unknown}; this ControlNet reads {list(self.cue_names)}")
        untrained = sorted(set(cues) - set(self.trained_cue_names))
        if untrained:
            logger.warning(
                f"cue(s) {untrained} were never given in this ControlNet's training (trained with "
                f"{list(self.trained_cue_names)}): the result is out of distribution"
            )

    def cue_tensors(self, cues: Mapping[str, ImageInput], height: int, width: int) -> dict[str, torch.Tensor]:
        """Cue images -> ``{name: (B, 3, height, width)}`` in [-1, 1] by a plain resize (as the release);
        a cue whose aspect ratio differs from the output's by more than 10 % is stretched, with a warning.
        """
        tensors = {name: image_to_tensor(image, name=f"cue {name!r}") for name, image in cues.items()}
        batches = {name: t.shape[0] for name, t in tensors.items()}
        if len(set(batches.values())) > 1:
            raise ValueError(f"cues hold different numbers of images: {batches}")
        for name, tensor in tensors.items():
            h, w = tensor.shape[-2:]
            if abs((w / h) / (width / height) - 1) > 0.1:
                logger.warning(f"cue {name!r} is {h} x {w} (H x W); it is stretched to {height} x {width}")
        return {name: resize_tensor(t, height, width, nearest=name in LABEL_CUES) for name, t in tensors.items()}

    def encode_cue_latents(self, images: torch.Tensor) -> torch.Tensor:
        """VAE-encode ``(B, 3, H, W)`` in [-1, 1] to normalised latents ``(B, 16, H/8, W/8)`` (posterior mean)."""
        return encode_image_latents(self.vae, images.to(device=self._execution_device))

    def prepare_condition(
        self,
        cues: Mapping[str, torch.Tensor],
        cue_scales: Mapping[str, float] | None,
        height: int,
        width: int,
        batch: int,
        num_images_per_prompt: int = 1,
    ):
        """Cue tensors ``{name: (1 or batch, 3, height, width)}`` -> the ControlNet's ``controlnet_cond`` for
        ``batch * num_images_per_prompt`` samples. Missing cues are the null input; ``cue_scales``
        interpolate towards it (see the module docstring).
        """
        n = next(iter(cues.values())).shape[0] if cues else 1
        if n not in (1, batch):
            raise ValueError(f"cues hold {n} images per cue but there are {batch} prompts; pass 1 or {batch}")
        latent = self.controlnet.cue_space == "latent"
        null = torch.full((1, 3, height, width), -1.0)
        null = self.encode_cue_latents(null) if latent else null.to(self._execution_device)
        total = batch * num_images_per_prompt
        inputs = {}
        for name in self.cue_names:
            value = null
            if name in cues:
                value = self.encode_cue_latents(cues[name]) if latent else cues[name].to(self._execution_device)
                scale = (cue_scales or {}).get(name, 1.0)
                value = value if scale == 1.0 else null + scale * (value - null)
            if value.shape[0] == 1:
                value = value.expand(total, *value.shape[1:])
            else:
                value = value.repeat_interleave(num_images_per_prompt, dim=0)
            inputs[name] = value.to(self.controlnet.dtype)
        return self.controlnet.pack_condition(inputs)

    # ------------------------------------------------------------------------------------------ sampling
    def set_timesteps(self, num_inference_steps: int, height: int, width: int, device=None) -> torch.Tensor:
        """Set the scheduler's shifted schedule for this size (rule of the ControlNet, see :func:`shift_mu`);
        returns the timesteps (sigma x 1000). ``self.scheduler.sigmas`` then ends with the terminal 0."""
        sigmas = np.linspace(1.0, 1 / num_inference_steps, num_inference_steps)
        mu = shift_mu(height, width, self.controlnet.shift_rule, self.scheduler.config, self.vae_scale_factor)
        timesteps, _ = retrieve_timesteps(self.scheduler, num_inference_steps, device, sigmas=sigmas, mu=mu)
        return timesteps

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        cues: Mapping[str, ImageInput] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 28,
        guidance_scale: float = 4.0,
        controlnet_conditioning_scale: float = 1.0,
        cue_scales: Mapping[str, float] | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        prompt_embeds: torch.Tensor | None = None,
        pooled_prompt_embeds: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
        max_sequence_length: int = 512,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
    ) -> FluxPipelineOutput | tuple:
        """Generate images of ``height`` x ``width`` (default :attr:`default_size`).

        Args:
            prompt: text, or a list of texts (one image batch each); or pass ``prompt_embeds`` (T5,
                ``(B, L, 4096)``) and ``pooled_prompt_embeds`` (CLIP, ``(B, 768)``).
            cues: ``{name: image}``; names from :attr:`cue_names`; images PIL, uint8 ``(H, W, 3)`` or
                float tensors in [-1, 1] ``(3, H, W)`` / ``(B, 3, H, W)``, resized to the output size.
            guidance_scale: Flux's guidance embedding (4, as the release; no true CFG).
            controlnet_conditioning_scale: multiplies the ControlNet residuals.
            cue_scales: per-cue strength in [0, 1] (0 = dropped, 1 = as given).
            generator / seed: randomness of the initial noise (``seed`` makes a CPU generator).
            output_type: "pil", "np", "pt" or "latent" (packed latents).
            callback_on_step_end: diffusers-style ``f(pipe, step, timestep, {"latents": ...}) -> dict``;
                a returned "latents" entry replaces the latents.
        Returns:
            ``FluxPipelineOutput(images=...)`` or ``(images,)``.
        """
        cues = dict(cues or {})
        default_h, default_w = self.default_size
        height, width = height or default_h, width or default_w
        self.check_inputs(prompt, prompt_embeds, pooled_prompt_embeds, cues, height, width, cue_scales)
        if generator is None and seed is not None:
            generator = torch.Generator("cpu").manual_seed(seed)
        device = self._execution_device
        batch = (1 if isinstance(prompt, str) else len(prompt)) if prompt is not None else prompt_embeds.shape[0]
        total = batch * num_images_per_prompt

        prompt_embeds, pooled_prompt_embeds, text_ids = self.encode_prompt(
            prompt=prompt,
            prompt_2=None,
            prompt_embeds=prompt_embeds,
            pooled_prompt_embeds=pooled_prompt_embeds,
            device=device,
            num_images_per_prompt=num_images_per_prompt,
            max_sequence_length=max_sequence_length,
        )
        cue_images = self.cue_tensors(cues, height, width)
        condition = self.prepare_condition(cue_images, cue_scales, height, width, batch, num_images_per_prompt)

        num_channels_latents = self.transformer.config.in_channels // 4
        latents, latent_image_ids = self.prepare_latents(
            total, num_channels_latents, height, width, prompt_embeds.dtype, device, generator, latents
        )
        timesteps = self.set_timesteps(num_inference_steps, height, width, device)
        guidance = (
            torch.full((total,), guidance_scale, device=device, dtype=torch.float32)
            if self.transformer.config.guidance_embeds
            else None
        )
        self.scheduler.set_begin_index(0)
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                noise_pred = controlled_transformer_forward(
                    self.transformer,
                    self.controlnet,
                    latents,
                    condition,
                    timestep=t.expand(total).to(latents.dtype) / 1000,
                    guidance=guidance,
                    pooled_projections=pooled_prompt_embeds,
                    encoder_hidden_states=prompt_embeds,
                    txt_ids=text_ids,
                    img_ids=latent_image_ids,
                    conditioning_scale=controlnet_conditioning_scale,
                )
                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]
                if callback_on_step_end is not None:
                    latents = callback_on_step_end(self, i, t, {"latents": latents}).get("latents", latents)
                progress_bar.update()

        if output_type == "latent":
            images = latents
        else:
            latents = self._unpack_latents(latents, height, width, self.vae_scale_factor)
            latents = latents / self.vae.config.scaling_factor + self.vae.config.shift_factor
            images = self.vae.decode(latents.to(self.vae.dtype), return_dict=False)[0]
            images = self.image_processor.postprocess(images, output_type=output_type)
        self.maybe_free_model_hooks()
        return FluxPipelineOutput(images=images) if return_dict else (images,)
