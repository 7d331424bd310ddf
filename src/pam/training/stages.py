"""The only stage-specific training code: what a cache record holds, the loss, and validation.

A :class:`Stage` knows its models (the frozen base, the trainable ControlNet, the encoders for the cache),
how to encode a clip folder into a :class:`~pam.training.latent_cache.LatentRecord`, and the loss of a
batch of records. The trainer and the cache filler are generic over it.

Randomness: every random draw of a sample (its frame, cue dropout, timestep, noise, first-frame noise)
comes from a generator seeded by ``(run seed, step, micro-step, position in the global batch)``, so
one process with batch 2 and two processes with batch 1 see the same draws, and a resumed run draws
what an uninterrupted one would.

Record tensors:
- appearance: ``image`` (N, 16, h, w) normalised Flux latents of the frames ``appearance.frames``,
  ``cue.<name>`` (N, 16, h, w), ``prompt_embeds`` (L, 4096) T5, ``pooled`` (768,) CLIP pooled;
  stage-wide ``null_cue.latent`` (1, 16, h, w) (the latent of an all -1 image).
- motion: ``video`` (F, C, h, w) scaled CogVideoX latents, ``image`` (1, C, h, w) the first frame
  encoded alone, ``cue.<name>`` (F, C, h, w) and ``cue_first.<name>`` (1, C, h, w), ``prompt_embeds``
  (226, 4096); stage-wide ``negative_prompt.prompt_embeds`` for validation.
Latents are the VAE posterior mean (the release caches fp32 moments and samples per step).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from pam.training.config import TrainConfig
from pam.training.latent_cache import CACHE_VERSION

FLUX_SOURCE = "https://huggingface.co/black-forest-labs/FLUX.1-dev (the whole diffusers-format repository)"
COGVIDEOX_SOURCE = "https://huggingface.co/THUDM/CogVideoX-5b-I2V"
FINGERPRINT_BYTES = 1 << 20
WEIGHT_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def sample_seed(seed: int, step: int, micro: int, index: int) -> int:
    """The seed of one sample's draws: a pure function of the run seed, the optimiser step, the micro-step
    and the sample's position in the global micro-batch."""
    return int(np.random.SeedSequence([seed, step, micro, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def files_fingerprint(root: Path, subfolders: Sequence[str]) -> str:
    """Identity of pretrained parts on disk: file names, sizes and the first and last MiB of each file
    (weights stay unread; a re-download of the same files gives the same hash)."""
    digest = hashlib.sha256()
    for sub in subfolders:
        for path in sorted((root / sub).rglob("*")):
            if not path.is_file():
                continue
            size = path.stat().st_size
            digest.update(f"{path.relative_to(root)}:{size}".encode())
            with open(path, "rb") as f:
                digest.update(f.read(FINGERPRINT_BYTES))
                if size > 2 * FINGERPRINT_BYTES:
                    f.seek(-FINGERPRINT_BYTES, 2)
                    digest.update(f.read())
    return digest.hexdigest()[:32]


def modules_fingerprint(modules: Sequence[Any]) -> str:
    """Identity of in-memory models (tiny smoke models): class, config and every weight's bytes."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(type(module).__name__.encode())
        if isinstance(module, nn.Module):
            for name, value in sorted(module.state_dict().items()):
                digest.update(name.encode())
                digest.update(value.detach().cpu().float().numpy().tobytes())
        else:  # tokenizers
            digest.update(repr(sorted(module.get_vocab().items())).encode())
    return digest.hexdigest()[:32]


def read_frames(path: Path, count: int) -> np.ndarray:
    """The first ``count`` frames of a video, (count, H, W, 3) uint8; ValueError if it is shorter."""
    from pam.render.video import read_video

    frames = read_video(path, max_frames=count)
    if len(frames) < count:
        raise ValueError(f"{path}: has {len(frames)} frames, {count} needed")
    return frames


def frames_to_tensor(frames: np.ndarray, height: int, width: int, label: bool) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, height, width) in [-1, 1] (plain resize; nearest for labels)."""
    from pam.pipelines.inputs import image_to_tensor, resize_tensor

    return resize_tensor(image_to_tensor(frames), height, width, nearest=label)


class Stage(Protocol):
    """What the trainer and the cache need of a stage."""

    name: str
    config: TrainConfig
    cache_files: tuple[str, ...]  # clip-folder files a record depends on
    encoder_parts: tuple[str, ...]  # the parts the cache runs (VAE, text encoders, tokenizers)
    extra_names: tuple[str, ...]  # stage-wide records (null cue, negative prompt)
    weight_dtype: torch.dtype  # of the frozen parts

    def part(self, name: str) -> Any: ...  # a base part (vae, text_encoder, ...), loaded once
    def release(self, *names: str) -> None: ...  # drop loaded parts to free memory
    def spec(self) -> dict: ...  # stage, encoder identity, size, dtype, version: the non-clip part of a key
    def encode(self, clip) -> dict[str, torch.Tensor]: ...  # one clip folder -> record tensors
    def extras(self) -> dict[str, dict[str, torch.Tensor]]: ...
    def build_module(self, device: torch.device, dtype: torch.dtype, extras: dict) -> "StageModule": ...
    def loss(self, module: "StageModule", batch: dict, seeds: Sequence[int]) -> torch.Tensor: ...
    def generate(self, module: "StageModule", clip, record: dict, extras: dict) -> np.ndarray: ...  # uint8 (T, H, W, 3)
    def reference(self, clip) -> np.ndarray: ...  # the clip's frames as the model sees them


class StageModule(nn.Module):
    """The trainable ControlNet with the frozen base beside it (not a registered submodule: it is neither
    in the state dict nor in the optimiser nor wrapped by DDP). ``forward(batch, seeds)`` is the loss, so
    one call through the DDP / FSDP wrapper covers the whole step."""

    def __init__(self, stage: "StageBase", controlnet: nn.Module, transformer: nn.Module, extras: dict):
        super().__init__()
        self.controlnet = controlnet
        object.__setattr__(self, "stage", stage)
        object.__setattr__(self, "transformer", transformer)
        object.__setattr__(self, "extras", extras)
        object.__setattr__(self, "_attached", None)

    def forward(self, batch: dict[str, torch.Tensor], seeds: Sequence[int]) -> torch.Tensor:
        return self.stage.loss(self, batch, seeds)

    def detach_base(self) -> None:
        """Remove hooks the loss attached to the base (before validation builds its own pipeline)."""
        if self._attached is not None:
            self._attached.remove()
            object.__setattr__(self, "_attached", None)


class StageBase:
    """Shared parts of the two stages: configuration, model loading, record specs."""

    name = ""
    base_default = ""
    base_source = ""
    encoder_parts: tuple[str, ...] = ()  # what the cache runs
    extra_names: tuple[str, ...] = ()  # stage-wide records

    def __init__(self, config: TrainConfig):
        self.config = config
        self.settings = config.settings
        self.cues = tuple(config.model.cues)
        self.weight_dtype = WEIGHT_DTYPES[config.mixed_precision]  # of the frozen parts
        self._parts: dict[str, Any] = {}
        self._encoder_id: str | None = None

    # -------------------------------------------------------------------------------- loading
    def base_dir(self) -> Path:
        from pam.home import locate

        return locate(self.config.model.base, self.base_default, f"the {self.base_default} base model", self.base_source)

    def tiny_parts(self) -> dict:
        raise NotImplementedError

    def load_part(self, name: str) -> Any:
        raise NotImplementedError

    def part(self, name: str) -> Any:
        """A base-model component (vae, transformer, text encoders, tokenizers, scheduler), loaded once."""
        if name not in self._parts:
            if self.config.model.tiny:  # built together; parts already handed out stay the same objects
                for key, value in self.tiny_parts().items():
                    self._parts.setdefault(key, value)
            else:
                self._parts[name] = self.load_part(name)
        return self._parts[name]

    def release(self, *names: str) -> None:
        """Forget components (e.g. the text encoders once the cache is full)."""
        for name in names:
            self._parts.pop(name, None)

    def encoder_id(self) -> str:
        if self._encoder_id is None:
            if self.config.model.tiny:
                self._encoder_id = "tiny-" + modules_fingerprint([self.part(p) for p in self.encoder_parts])
            else:
                self._encoder_id = files_fingerprint(self.base_dir(), self.encoder_parts)
        return self._encoder_id

    def size_spec(self) -> dict:
        raise NotImplementedError

    def spec(self) -> dict:
        return {
            "stage": self.name,
            "encoder": self.encoder_id(),
            "cues": sorted(self.cues),
            "dtype": self.config.cache.dtype,
            "encoder_dtype": str(self.weight_dtype).removeprefix("torch."),  # the encoders compute in it
            "version": CACHE_VERSION,
            **self.size_spec(),
        }

    @property
    def cache_files(self) -> tuple[str, ...]:
        from pam.data.clip_folder import CONDITIONS, PROMPT, VIDEO

        return (VIDEO, PROMPT, *(CONDITIONS[c] for c in self.cues))

    def new_controlnet(self, transformer: nn.Module) -> nn.Module:
        raise NotImplementedError

    def build_module(self, device: torch.device, dtype: torch.dtype, extras: dict) -> StageModule:
        """The base on ``device`` in ``dtype``, frozen; the ControlNet in float32 (master weights), trainable."""
        transformer = _to(self.part("transformer"), device, dtype)
        transformer.requires_grad_(False)
        transformer.eval()
        controlnet = _to(self.new_controlnet(transformer), device, torch.float32)
        controlnet.requires_grad_(True)
        controlnet.train()
        if self.config.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
            controlnet.enable_gradient_checkpointing()
        extras = {name: {k: v.to(device) for k, v in tensors.items()} for name, tensors in extras.items()}
        return StageModule(self, controlnet, transformer, extras)


# ===================================================================================== Stage II
class AppearanceStage(StageBase):
    """Stage II: FLUX.1-dev + :class:`~pam.models.flux_controlnet.FluxMultiConditionControlNet`."""

    name = "appearance"
    base_default = "FLUX.1-dev"
    base_source = FLUX_SOURCE
    encoder_parts = ("vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
    extra_names = ("null_cue",)

    def tiny_parts(self) -> dict:
        from pam.smoke import tiny_flux_parts

        return tiny_flux_parts(seed=0)

    def load_part(self, name: str) -> Any:
        import diffusers
        import transformers

        kinds = {
            "vae": diffusers.AutoencoderKL,
            "transformer": diffusers.FluxTransformer2DModel,
            "scheduler": diffusers.FlowMatchEulerDiscreteScheduler,
            "text_encoder": transformers.CLIPTextModel,
            "tokenizer": transformers.CLIPTokenizer,
            "text_encoder_2": transformers.T5EncoderModel,
            "tokenizer_2": transformers.T5TokenizerFast,
        }
        return _from_subfolder(kinds[name], self.base_dir(), name, self.base_source, self.weight_dtype)

    def size_spec(self) -> dict:
        s = self.settings
        return {"height": s.height, "width": s.width, "frames": list(s.frames), "text_length": s.max_sequence_length}

    def text_pipeline(self):
        from diffusers import FluxPipeline

        return FluxPipeline(
            scheduler=self.part("scheduler"), vae=None, text_encoder=self.part("text_encoder"),
            tokenizer=self.part("tokenizer"), text_encoder_2=self.part("text_encoder_2"),
            tokenizer_2=self.part("tokenizer_2"), transformer=None,
        )

    @torch.no_grad()
    def encode(self, clip) -> dict[str, torch.Tensor]:
        from pam.pipelines.appearance import encode_image_latents
        from pam.pipelines.inputs import LABEL_CUES

        s, vae = self.settings, self.part("vae")
        count = max(s.frames) + 1
        index = list(s.frames)
        out = {"image": encode_image_latents(vae, frames_to_tensor(read_frames(clip.video_path, count)[index], s.height, s.width, False))}
        for cue in self.cues:
            frames = read_frames(clip.condition_path(cue), count)[index]
            out[f"cue.{cue}"] = encode_image_latents(vae, frames_to_tensor(frames, s.height, s.width, cue in LABEL_CUES))
        embeds, pooled, _ = self.text_pipeline().encode_prompt(
            clip.prompt, device=vae.device, max_sequence_length=s.max_sequence_length
        )
        out["prompt_embeds"], out["pooled"] = embeds[0], pooled[0]
        return out

    @torch.no_grad()
    def extras(self) -> dict[str, dict[str, torch.Tensor]]:
        from pam.pipelines.appearance import encode_image_latents

        null = torch.full((1, 3, self.settings.height, self.settings.width), -1.0)
        return {"null_cue": {"latent": encode_image_latents(self.part("vae"), null)}}

    def new_controlnet(self, transformer: nn.Module) -> nn.Module:
        from pam.models.flux_controlnet import FluxMultiConditionControlNet

        if self.config.model.controlnet is not None:
            return FluxMultiConditionControlNet.from_pretrained(self.config.model.controlnet)
        return FluxMultiConditionControlNet.from_transformer(
            transformer, cues=self.cues, num_layers=self.settings.num_layers
        )

    def loss(self, module: StageModule, batch: dict, seeds: Sequence[int]) -> torch.Tensor:
        from pam.training.appearance_loss import NUM_TRAIN_TIMESTEPS, appearance_loss, drop_cues

        images = batch["image"]  # (B, N, 16, h, w)
        null = {cue: module.extras["null_cue"]["latent"] for cue in self.cues}
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        picks = [int(torch.randint(0, images.shape[1], (1,), generator=g)) for g in gens]
        rows = range(len(seeds))
        latents = torch.stack([images[i, picks[i]] for i in rows])
        cues: dict[str, list[torch.Tensor]] = {cue: [] for cue in self.cues}
        for i, g in zip(rows, gens):
            sample = {cue: batch[f"cue.{cue}"][i, picks[i]][None] for cue in self.cues}
            for cue, value in drop_cues(sample, null, self.settings.cue_dropout, g).items():
                cues[cue].append(value)
        t = torch.cat([torch.randint(0, NUM_TRAIN_TIMESTEPS, (1,), generator=g) for g in gens]) / (NUM_TRAIN_TIMESTEPS - 1)
        noise = torch.stack([torch.randn(latents.shape[1:], generator=g) for g in gens])
        return appearance_loss(
            module.transformer, module.controlnet, latents.float(), {c: torch.cat(v).float() for c, v in cues.items()},
            {c: v.float() for c, v in null.items()}, batch["prompt_embeds"].float(), batch["pooled"].float(),
            guidance=self.settings.guidance, t=t, noise=noise,
        )

    @torch.no_grad()
    def generate(self, module: StageModule, clip, record: dict, extras: dict) -> np.ndarray:
        """The first frame from the clip's frame-0 cues, (1, H, W, 3) uint8."""
        from pam.pipelines.appearance import AppearancePipeline

        s, v = self.settings, self.config.validation
        pipe = AppearancePipeline(
            vae=self.part("vae").to(module.transformer.device), text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
            transformer=module.transformer, controlnet=module.controlnet, scheduler=self.part("scheduler"),
        )
        pipe.set_progress_bar_config(disable=True)
        cues = {cue: read_frames(clip.condition_path(cue), 1)[0] for cue in self.cues}
        dtype = module.transformer.dtype
        image = pipe(
            cues=cues, height=s.height, width=s.width, num_inference_steps=v.steps or 28,
            guidance_scale=v.guidance if v.guidance is not None else s.guidance, seed=v.seed,
            prompt_embeds=record["prompt_embeds"][None].to(module.transformer.device, dtype),
            pooled_prompt_embeds=record["pooled"][None].to(module.transformer.device, dtype),
            output_type="np",
        ).images
        return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)

    def reference(self, clip) -> np.ndarray:
        frame = read_frames(clip.video_path, 1)
        return _resize_uint8(frame, self.settings.height, self.settings.width)


# ===================================================================================== Stage III
class MotionStage(StageBase):
    """Stage III: CogVideoX-5b-I2V + :class:`~pam.models.cogvideox_controlnet.CogVideoXControlNet`."""

    name = "motion"
    base_default = "CogVideoX-5b-I2V"
    base_source = COGVIDEOX_SOURCE
    encoder_parts = ("vae", "text_encoder", "tokenizer")
    extra_names = ("negative_prompt",)

    def tiny_parts(self) -> dict:
        from pam.smoke import tiny_cogvideox_parts

        return tiny_cogvideox_parts(seed=0)

    def load_part(self, name: str) -> Any:
        import diffusers
        import transformers

        if name == "scheduler":
            from diffusers import CogVideoXDPMScheduler

            return CogVideoXDPMScheduler.from_pretrained(self.base_dir() / "scheduler", timestep_spacing="trailing")
        kinds = {
            "vae": diffusers.AutoencoderKLCogVideoX,
            "transformer": diffusers.CogVideoXTransformer3DModel,
            "text_encoder": transformers.T5EncoderModel,
            "tokenizer": transformers.AutoTokenizer,
        }
        part = _from_subfolder(kinds[name], self.base_dir(), name, self.base_source, self.weight_dtype)
        if name == "vae":
            part.enable_tiling()
            part.enable_slicing()
        return part

    def size_spec(self) -> dict:
        s = self.settings
        return {"height": s.height, "width": s.width, "num_frames": s.num_frames, "text_length": s.max_sequence_length}

    def text_pipeline(self):
        from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import CogVideoXImageToVideoPipeline

        return CogVideoXImageToVideoPipeline(
            tokenizer=self.part("tokenizer"), text_encoder=self.part("text_encoder"), vae=None, transformer=None,
            scheduler=self.part("scheduler"),
        )

    def encode_video(self, frames: np.ndarray, label: bool) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> scaled latents (F, C, h, w) (posterior mean)."""
        vae = self.part("vae")
        video = frames_to_tensor(frames, self.settings.height, self.settings.width, label).transpose(0, 1)[None]
        latents = vae.encode(video.to(vae.device, vae.dtype)).latent_dist.mode()
        return (vae.config.scaling_factor * latents)[0].transpose(0, 1)

    def encode_prompt(self, text: str) -> torch.Tensor:
        embeds, _ = self.text_pipeline().encode_prompt(
            text, do_classifier_free_guidance=False, max_sequence_length=self.settings.max_sequence_length,
            device=self.part("vae").device,
        )
        return embeds[0]

    @torch.no_grad()
    def encode(self, clip) -> dict[str, torch.Tensor]:
        from pam.pipelines.inputs import LABEL_CUES

        count = self.settings.num_frames
        video = read_frames(clip.video_path, count)
        out = {"video": self.encode_video(video, False), "image": self.encode_video(video[:1], False)}
        for cue in self.cues:
            frames = read_frames(clip.condition_path(cue), count)
            out[f"cue.{cue}"] = self.encode_video(frames, cue in LABEL_CUES)
            out[f"cue_first.{cue}"] = self.encode_video(frames[:1], cue in LABEL_CUES)
        out["prompt_embeds"] = self.encode_prompt(clip.prompt)
        return out

    @torch.no_grad()
    def extras(self) -> dict[str, dict[str, torch.Tensor]]:
        from pam.pipelines.motion import DEFAULT_NEGATIVE_PROMPT

        return {"negative_prompt": {"prompt_embeds": self.encode_prompt(DEFAULT_NEGATIVE_PROMPT)}}

    def new_controlnet(self, transformer: nn.Module) -> nn.Module:
        from pam.models.cogvideox_controlnet import CogVideoXControlNet

        if self.config.model.controlnet is not None:
            return CogVideoXControlNet.from_pretrained(self.config.model.controlnet)
        layers = min(self.settings.num_layers, transformer.config.num_layers)
        return CogVideoXControlNet.from_transformer(transformer, num_layers=layers, cues=self.cues)

    def rotary(self, module: StageModule, frames: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import CogVideoXImageToVideoPipeline

        transformer = module.transformer
        if not transformer.config.use_rotary_positional_embeddings:
            return None
        key = ("rotary", frames)
        if key not in module.extras:
            helper = CogVideoXImageToVideoPipeline(None, None, self.part("vae"), transformer, self.part("scheduler"))
            module.extras[key] = helper._prepare_rotary_positional_embeddings(
                self.settings.height, self.settings.width, frames, transformer.device
            )
        return module.extras[key]

    def loss(self, module: StageModule, batch: dict, seeds: Sequence[int]) -> torch.Tensor:
        from pam.models.cogvideox_control import ControlledTransformer
        from pam.training.cue_masking import mask_cues
        from pam.training.motion_loss import motion_loss

        s = self.settings
        controlnet, transformer = module.controlnet, module.transformer
        video = batch["video"].float()  # (B, F, C, h, w); the base runs under the trainer's autocast
        frames = video.shape[1]
        pad = torch.zeros_like(video[:, 1:])
        slots = [
            torch.cat([batch[f"cue.{c}"].float(), torch.cat([batch[f"cue_first.{c}"].float(), pad], 1)], dim=2)
            for c in controlnet.cue_names
        ]
        cue_latents = torch.stack(slots, dim=1)  # (B, K, F, 2C, h, w)
        drop = [s.cue_dropout.get(c, 0.0) for c in controlnet.cue_names]
        gens = [torch.Generator().manual_seed(seed) for seed in seeds]
        images, cue_rows = [], []
        for i, g in enumerate(gens):
            image = batch["image"][i : i + 1].float()
            if s.first_frame_noise:
                sigma = torch.exp(s.noise_log_sigma_mean + s.noise_log_sigma_std * torch.randn(1, generator=g))
                image = image + sigma * torch.randn(image.shape, generator=g).to(image.device)
            image = torch.cat([image, pad[i : i + 1]], dim=1)
            masked = mask_cues(cue_latents[i : i + 1], image, g, drop, s.first_frame_drop)
            images.append(masked.image_latents)
            cue_rows.append(masked.cue_latents)
        num_train = self.part("scheduler").config.num_train_timesteps
        timesteps = torch.cat([torch.randint(0, num_train, (1,), generator=g) for g in gens])
        noise = torch.stack([torch.randn(video.shape[1:], generator=g) for g in gens])
        if module._attached is None:  # stays attached across forward and backward (checkpointed blocks)
            object.__setattr__(module, "_attached", ControlledTransformer(transformer, controlnet))
        return motion_loss(
            module._attached, self.part("scheduler"), video, torch.cat(images), torch.cat(cue_rows),
            batch["prompt_embeds"].float(), self.rotary(module, frames), timesteps=timesteps, noise=noise,
        )

    @torch.no_grad()
    def generate(self, module: StageModule, clip, record: dict, extras: dict) -> np.ndarray:
        """The video from the clip's real first frame and cue videos, (T, H, W, 3) uint8."""
        from pam.pipelines.motion import MotionPipeline

        s, v = self.settings, self.config.validation
        module.detach_base()
        pipe = MotionPipeline(
            tokenizer=None, text_encoder=None, vae=self.part("vae").to(module.transformer.device),
            transformer=module.transformer,
            controlnet=module.controlnet, scheduler=self.part("scheduler"),
        )
        pipe.set_progress_bar_config(disable=True)
        count = s.num_frames
        cues = {cue: read_frames(clip.condition_path(cue), count) for cue in self.cues}
        device, dtype = module.transformer.device, module.transformer.dtype
        video = pipe(
            image=read_frames(clip.video_path, 1)[0], cues=cues, height=s.height, width=s.width, num_frames=count,
            num_inference_steps=v.steps or 50, guidance_scale=v.guidance if v.guidance is not None else 6.0,
            seed=v.seed, prompt_embeds=record["prompt_embeds"][None].to(device, dtype),
            negative_prompt_embeds=extras["negative_prompt"]["prompt_embeds"][None].to(device, dtype),
            output_type="np",
        ).frames[0]
        return (np.clip(video, 0, 1) * 255).round().astype(np.uint8)

    def reference(self, clip) -> np.ndarray:
        return _resize_uint8(read_frames(clip.video_path, self.settings.num_frames), self.settings.height, self.settings.width)


STAGE_CLASSES = {"appearance": AppearanceStage, "motion": MotionStage}


def make_stage(config: TrainConfig) -> StageBase:
    """The stage object of ``config.stage``."""
    return STAGE_CLASSES[config.stage](config)


def _from_subfolder(kind, root: Path, name: str, source: str, dtype: torch.dtype):
    from pam.home import MissingWeightsError

    folder = root / name
    if not folder.is_dir():
        raise MissingWeightsError(f"{root} has no {name}/ folder: it must be a full diffusers-format copy of {source}")
    if name.startswith("tokenizer"):
        return kind.from_pretrained(folder)
    return kind.from_pretrained(folder, torch_dtype=dtype)


def _resize_uint8(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8 resized to (T, height, width, 3) uint8 as the models see it (plain resize)."""
    tensor = frames_to_tensor(frames, height, width, False)
    return ((tensor.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _to(module: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Move, and cast only where the dtype differs (diffusers warns on every cast)."""
    module = module.to(device)
    return module if module.dtype == dtype else module.to(dtype)
