"""Stage III sampler: first frame + cue videos -> video, with CogVideoX-5b-I2V and the cue ControlNet.

:class:`MotionPipeline` is diffusers' ``CogVideoXImageToVideoPipeline`` (whose prompt encoding, first-frame
latents, rotary embeddings and decoding it reuses) plus a :class:`~pam.models.CogVideoXControlNet` and the
cue inputs. Defaults follow REFERENCE.md: 49 frames at 480 x 720, 50 steps of CogVideoXDPMScheduler with
trailing timesteps, dynamic classifier-free guidance with scale 6 and the release's fixed negative prompt.
Another scheduler (CogVideoX-5b-I2V ships a DDIM one, which ``from_pretrained`` passes) is replaced by a
CogVideoXDPMScheduler built from its config, the way diffusers pipelines swap compatible schedulers.

Each ControlNet records the cues it was trained with (:attr:`MotionPipeline.trained_cue_names`; the release's:
depth, seg, hand, its tracking and normal slots having always been zero); giving another cue is logged.

Memory switches are the usual diffusers ones: load in bf16 (``torch_dtype``), ``enable_model_cpu_offload()``
(the ControlNet, called every step, stays on the GPU once loaded, as diffusers does for its ControlNets),
``enable_sequential_cpu_offload()``, ``vae.enable_tiling()`` and ``vae.enable_slicing()``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import (
    CogVideoXImageToVideoPipeline,
    retrieve_latents,
    retrieve_timesteps,
)
from diffusers.pipelines.cogvideo.pipeline_output import CogVideoXPipelineOutput
from diffusers.utils import logging
from transformers import AutoTokenizer, T5EncoderModel

from pam.home import MissingWeightsError, locate
from pam.models.cogvideox_control import ControlledTransformer
from pam.models.cogvideox_controlnet import CogVideoXControlNet
from pam.models.cogvideox_release import load_release
from pam.pipelines.inputs import LABEL_CUES, ControlNetCues, ImageInput, image_to_tensor, resize_tensor

DEFAULT_NEGATIVE_PROMPT = (
    "The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
    "The background is solid. Strange body and strange trajectory. Distortion."
)
"""The fixed negative prompt of the official release's Stage III inference."""
logger = logging.get_logger(__name__)
BASE_SOURCE = "https://huggingface.co/THUDM/CogVideoX-5b-I2V"
RELEASE_SOURCE = "https://huggingface.co/GasaiYU/PAM (the Stage III transformer)"
BASE_SUBFOLDERS = ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")


VideoInput = np.ndarray | torch.Tensor


def dynamic_guidance_scale(guidance_scale: float, timestep: float, num_inference_steps: int) -> float:
    """CogVideoX's dynamic CFG: the scale ramps with a cosine of the (step-count-normalised) timestep."""
    ramp = (1 - math.cos(math.pi * ((num_inference_steps - timestep) / num_inference_steps) ** 5.0)) / 2
    return 1 + guidance_scale * ramp


def video_length(video: VideoInput, name: str) -> int:
    """Frame count of a uint8 (T, H, W, 3) array or a (3, T, H, W) / (1, 3, T, H, W) tensor."""
    if isinstance(video, np.ndarray) and video.ndim == 4:
        return video.shape[0]
    if isinstance(video, torch.Tensor) and video.ndim in (4, 5):
        return video.shape[-3]
    raise TypeError(f"{name}: expected a (T, H, W, 3) numpy array or a (3, T, H, W) tensor, got {type(video).__name__}")


def video_to_tensor(video: VideoInput, name: str, height: int, width: int, nearest: bool = False) -> torch.Tensor:
    """A video as a (1, 3, T, height, width) float tensor in [-1, 1] (plain resize; nearest for label videos).

    Accepts uint8 numpy ``(T, H, W, 3)`` or a float tensor in [-1, 1], ``(3, T, H, W)`` or ``(1, 3, T, H, W)``.
    """
    video_length(video, name)  # type and rank check
    if isinstance(video, torch.Tensor):
        if video.ndim == 5 and video.shape[0] != 1:
            raise ValueError(f"{name}: expected one video (1, 3, T, H, W), got {tuple(video.shape)}")
        video = video.reshape(video.shape[-4:]).transpose(0, 1)  # (T, 3, H, W)
    frames = resize_tensor(image_to_tensor(video, name), height, width, nearest=nearest)
    return frames.transpose(0, 1).unsqueeze(0)


class MotionPipeline(ControlNetCues, CogVideoXImageToVideoPipeline):
    """CogVideoX image-to-video with cue videos (depth, segmentation, hand keypoints, ...) via a ControlNet."""

    model_cpu_offload_seq = "text_encoder->transformer->vae"

    def __init__(
        self,
        tokenizer,
        text_encoder,
        vae: AutoencoderKLCogVideoX,
        transformer: CogVideoXTransformer3DModel,
        controlnet: CogVideoXControlNet,
        scheduler: CogVideoXDPMScheduler,
    ):
        if not isinstance(scheduler, CogVideoXDPMScheduler):
            logger.info(f"using CogVideoXDPMScheduler with the config of the given {type(scheduler).__name__}")
            scheduler = CogVideoXDPMScheduler.from_config(scheduler.config)
        super().__init__(tokenizer, text_encoder, vae, transformer, scheduler)
        controlnet.check_base(transformer)
        self.register_modules(controlnet=controlnet)

    @classmethod
    def from_pretrained_parts(
        cls,
        base: str | os.PathLike | None = None,
        controlnet: str | os.PathLike | None = None,
        torch_dtype: torch.dtype = torch.bfloat16,
    ) -> "MotionPipeline":
        """Assemble the pipeline from a CogVideoX-5b-I2V directory and a ControlNet (never downloaded here).

        Args:
            base: a full local copy of ``THUDM/CogVideoX-5b-I2V`` (default ``$PAM_HOME/CogVideoX-5b-I2V``).
            controlnet: our ControlNet (a ``CogVideoXControlNet.save_pretrained`` folder, recognised by its
                ``config.json``) or the release's Stage III transformer (a folder of ``.safetensors`` shards
                or one file, converted on load by :mod:`pam.models.cogvideox_release`); default
                ``$PAM_HOME/PAM/motion``.
            torch_dtype: weights dtype.
        Raises:
            MissingWeightsError: naming the missing part, where to get it and where to put it.

        Known cost: on the release path the base transformer is read from ``base`` and then overwritten by
        the checkpoint's base entries, so those weights are read twice and briefly held twice in memory.
        """
        base_dir = locate(base, "CogVideoX-5b-I2V", "CogVideoX-5b-I2V (diffusers format)", BASE_SOURCE)
        for sub in BASE_SUBFOLDERS:
            if not (base_dir / sub).is_dir():
                raise MissingWeightsError(
                    f"{base_dir} has no {sub}/ folder: it must be a full copy of {BASE_SOURCE} "
                    f"({', '.join(BASE_SUBFOLDERS)})"
                )
        transformer = CogVideoXTransformer3DModel.from_pretrained(base_dir / "transformer", torch_dtype=torch_dtype)
        if controlnet is not None and Path(controlnet, "config.json").is_file():
            control = CogVideoXControlNet.from_pretrained(controlnet, torch_dtype=torch_dtype)
        else:
            release_path = locate(controlnet, "PAM/motion", "the PAM release's Stage III checkpoint", RELEASE_SOURCE)
            control = load_release(release_path, transformer)
        scheduler = CogVideoXDPMScheduler.from_pretrained(base_dir / "scheduler", timestep_spacing="trailing")
        return cls(
            tokenizer=AutoTokenizer.from_pretrained(base_dir / "tokenizer"),
            text_encoder=T5EncoderModel.from_pretrained(base_dir / "text_encoder", torch_dtype=torch_dtype),
            vae=AutoencoderKLCogVideoX.from_pretrained(base_dir / "vae", torch_dtype=torch_dtype),
            transformer=transformer,
            controlnet=control,
            scheduler=scheduler,
        )

    def check_motion_inputs(self, cues: Mapping[str, VideoInput], num_frames: int, height: int, width: int) -> None:
        """Clear errors for frame counts, sizes and cue names the model cannot take."""
        if num_frames < 1 or (num_frames - 1) % self.vae_scale_factor_temporal != 0:
            raise ValueError(
                f"num_frames must be of the form {self.vae_scale_factor_temporal}k + 1 (e.g. 49), got {num_frames}"
            )
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size
        if height % multiple or width % multiple:
            raise ValueError(f"height and width must be multiples of {multiple}, got {height} x {width}")
        config = self.transformer.config
        if config.use_learned_positional_embeddings:
            scale = self.vae_scale_factor_spatial
            size = (config.sample_height * scale, config.sample_width * scale)
            if (height, width) != size:
                raise ValueError(f"this model only generates {size[0]} x {size[1]} videos, got {height} x {width}")
        self.check_cue_names(cues)

    def encode_frames(self, video: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(1, 3, T, H, W) in [-1, 1] -> VAE latents x scaling factor, (1, F, C, h, w)."""
        video = video.to(self._execution_device, self.vae.dtype)
        latents = retrieve_latents(self.vae.encode(video), generator)
        return (self.vae_scaling_factor_image * latents).permute(0, 2, 1, 3, 4)

    def prepare_cue_latents(
        self, cues: Mapping[str, torch.Tensor], latent_shape: tuple[int, ...], generator: torch.Generator | None
    ) -> torch.Tensor:
        """(1, K, F, 2C, h, w): per slot the cue latent and its first frame's latent zero-padded in time.

        ``latent_shape`` is that of the noise latents, (1, F, C, h, w); absent cues are zeros.
        """
        batch, frames, channels, height, width = latent_shape
        slots = torch.zeros(
            (batch, len(self.controlnet.cue_names), frames, 2 * channels, height, width),
            device=self._execution_device,
            dtype=self.vae.dtype,
        )
        for k, name in enumerate(self.controlnet.cue_names):
            if name in cues:
                slots[:, k, :, :channels] = self.encode_frames(cues[name], generator)
                slots[:, k, :1, channels:] = self.encode_frames(cues[name][:, :, :1], generator)
        return slots

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        cues: Mapping[str, VideoInput],
        prompt: str | None = None,
        negative_prompt: str | None = DEFAULT_NEGATIVE_PROMPT,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        height: int = 480,
        width: int = 720,
        num_frames: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 6.0,
        use_dynamic_cfg: bool = True,
        controlnet_conditioning_scale: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        max_sequence_length: int | None = None,
        callback_on_step_end: Callable | None = None,
    ) -> CogVideoXPipelineOutput | tuple:
        """Generate one video.

        Args:
            image: the first frame (Stage II output or any image).
            cues: cue name (of ``controlnet.cue_names``) -> video of ``num_frames`` frames, uint8 ``(T, H, W, 3)`` or a
                float tensor ``(3, T, H, W)`` in [-1, 1]; absent cues are zero latents (none given: no control).
            prompt / prompt_embeds: the text, or its (1, L, D) T5 embeddings.
            negative_prompt / negative_prompt_embeds: for classifier-free guidance.
            num_frames: 4k + 1; defaults to the cue videos' length, else 49.
            controlnet_conditioning_scale: multiplies the ControlNet residuals (0: the cues are ignored), as in
                ``AppearancePipeline``.
            generator / seed: randomness of the noise and VAE sampling (``seed`` makes a CPU generator).
            output_type: "np" ((1, T, H, W, 3) floats in [0, 1]), "pil", "pt" or "latent".
            callback_on_step_end: diffusers-style ``f(pipe, step, timestep, {"latents": ...}) -> dict`` after each
                step (a returned "latents" replaces them).
        Returns:
            ``CogVideoXPipelineOutput`` with ``frames`` (or a 1-tuple when ``return_dict`` is False).
        """
        if generator is None and seed is not None:
            generator = torch.Generator("cpu").manual_seed(seed)
        lengths = {name: video_length(video, f"cues[{name!r}]") for name, video in cues.items()}
        num_frames = num_frames or next(iter(lengths.values()), 49)
        self.check_motion_inputs(cues, num_frames, height, width)
        wrong = {name: length for name, length in lengths.items() if length != num_frames}
        if wrong:
            raise ValueError(f"every cue video must have num_frames={num_frames} frames; got {wrong}")
        if isinstance(prompt, list) or (prompt_embeds is not None and prompt_embeds.shape[0] != 1):
            raise ValueError("MotionPipeline generates one video per call: give one prompt")
        if negative_prompt_embeds is not None:
            negative_prompt = None
        first_frame = resize_tensor(image_to_tensor(image, "image"), height, width)
        self.check_inputs(
            first_frame, prompt, height, width, negative_prompt, None, None, prompt_embeds, negative_prompt_embeds
        )
        self._guidance_scale = guidance_scale
        self._attention_kwargs = attention_kwargs
        self._current_timestep = None
        self._interrupt = False
        device = self._execution_device
        do_cfg = guidance_scale > 1.0
        if max_sequence_length is None:
            max_sequence_length = self.transformer.config.max_text_seq_length

        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt,
            do_classifier_free_guidance=do_cfg,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            max_sequence_length=max_sequence_length,
            device=device,
        )
        if do_cfg:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds], dim=0)
        dtype = self.transformer.dtype
        prompt_embeds = prompt_embeds.to(device, dtype)

        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)
        self._num_timesteps = len(timesteps)

        latents, image_latents = self.prepare_latents(
            first_frame.to(device, self.vae.dtype),
            1,
            self.transformer.config.in_channels // 2,
            num_frames,
            height,
            width,
            dtype,
            device,
            generator,
            latents,
        )
        cue_videos = {
            name: video_to_tensor(video, f"cues[{name!r}]", height, width, nearest=name in LABEL_CUES)
            for name, video in cues.items()
        }
        cue_latents = self.prepare_cue_latents(cue_videos, tuple(latents.shape), generator).to(dtype)
        image_rotary_emb = (
            self._prepare_rotary_positional_embeddings(height, width, latents.size(1), device)
            if self.transformer.config.use_rotary_positional_embeddings
            else None
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, 0.0)
        copies = 2 if do_cfg else 1
        image_input = torch.cat([image_latents] * copies)
        cue_input = torch.cat([cue_latents] * copies)

        old_pred_original_sample = None
        with self.progress_bar(total=num_inference_steps) as progress_bar, ControlledTransformer(
            self.transformer, self.controlnet
        ) as model:
            for i, t in enumerate(timesteps):
                self._current_timestep = t
                model_input = self.scheduler.scale_model_input(torch.cat([latents] * copies), t)
                noise_pred = model(
                    torch.cat([model_input, image_input], dim=2),
                    prompt_embeds,
                    t.expand(model_input.shape[0]),
                    cue_input,
                    image_rotary_emb=image_rotary_emb,
                    attention_kwargs=attention_kwargs,
                    conditioning_scale=controlnet_conditioning_scale,
                ).float()
                if use_dynamic_cfg:
                    self._guidance_scale = dynamic_guidance_scale(guidance_scale, t.item(), num_inference_steps)
                if do_cfg:
                    uncond, cond = noise_pred.chunk(2)
                    noise_pred = uncond + self.guidance_scale * (cond - uncond)
                latents, old_pred_original_sample = self.scheduler.step(
                    noise_pred,
                    old_pred_original_sample,
                    t,
                    timesteps[i - 1] if i > 0 else None,
                    latents,
                    **extra_step_kwargs,
                    return_dict=False,
                )
                latents = latents.to(dtype)
                if callback_on_step_end is not None:
                    latents = callback_on_step_end(self, i, t, {"latents": latents}).get("latents", latents)
                progress_bar.update()
        self._current_timestep = None

        if output_type == "latent":
            video = latents
        else:
            video = self.decode_latents(latents.to(self.vae.dtype))
            video = self.video_processor.postprocess_video(video=video, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return CogVideoXPipelineOutput(frames=video)
