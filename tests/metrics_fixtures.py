"""Helpers for the metrics tests: sample folder, video writing, tiny random-weight detector files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pam.metrics.lpips import CHANNELS, alexnet_features
from samples import SAMPLES



def dexycb_sample(name: str = "val_video.mp4") -> Path:
    """A file of the official DexYCB sample; skips the test when the shared folder is absent."""
    path = SAMPLES / "dexycb" / name
    if not path.is_file():
        pytest.skip(f"sample {path} absent (set PAM_SHARED_DIR)")
    return path


def textured_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (H, W, 3) uint8 with corners to track."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return cv2.resize(small, (w + 16, h + 16), interpolation=cv2.INTER_CUBIC)[8:8 + h, 8:8 + w]


def moving_video(frame: np.ndarray, steps: int, velocity: tuple[float, float]) -> np.ndarray:
    """``frame`` translated by ``velocity`` (dx, dy) pixels per frame, (T, H, W, 3), borders replicated."""
    h, w = frame.shape[:2]
    out = [cv2.warpAffine(frame, np.float32([[1, 0, velocity[0] * t], [0, 1, velocity[1] * t]]), (w, h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for t in range(steps)]
    return np.stack(out)


def random_lpips_files(folder: Path, seed: int = 0) -> tuple[dict, dict]:
    """Random AlexNet and lpips-head state dicts saved under the standard names in ``folder``/lpips."""
    torch.manual_seed(seed)
    features = alexnet_features()
    alex = {f"features.{k}": v for k, v in features.state_dict().items()}
    alex["classifier.1.weight"] = torch.randn(4, 9216)  # present in torchvision's file, unused by LPIPS
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(CHANNELS)}
    (folder / "lpips").mkdir(parents=True, exist_ok=True)
    torch.save(alex, folder / "lpips" / "alexnet-owt-7be5be79.pth")
    torch.save(lin, folder / "lpips" / "alex.pth")
    return alex, lin


class TinyI3D(nn.Module):
    """Same call signature as StyleGAN-V's I3D TorchScript; features: per-channel means of the
    rescaled clip and of its first frame (6-d). Refuses calls without the protocol's flags."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if not (rescale and resize and return_features):
            raise RuntimeError("expected rescale=True, resize=True, return_features=True")
        x = x / 127.5 - 1.0
        return torch.cat([x.mean(dim=(2, 3, 4)), x[:, :, 0].mean(dim=(2, 3))], dim=1)


def tiny_i3d_file(path: Path) -> Path:
    torch.jit.script(TinyI3D()).save(str(path))
    return path


def tiny_i3d_expected(video: np.ndarray, num_frames: int) -> np.ndarray:
    clip = video[:num_frames].astype(np.float64) / 127.5 - 1.0
    return np.concatenate([clip.mean(axis=(0, 1, 2)), clip[0].mean(axis=(0, 1))])
