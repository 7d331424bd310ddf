"""LPIPS v0.1 (Zhang et al. 2018, the ``lpips`` package) with the AlexNet backbone.

The backbone is torchvision's AlexNet feature stack, defined here (torchvision does not import
beside this torch build) with the same module indices, so torchvision's ImageNet checkpoint
``alexnet-owt-7be5be79.pth`` (keys ``features.0.weight`` ... ``features.10.bias``) loads as is.
The learned linear heads are the ``lpips`` package's ``weights/v0.1/alex.pth`` (keys
``lin0.model.1.weight`` ... ``lin4.model.1.weight``, each (1, C, 1, 1)).

Distance for images x0, x1 in [-1, 1]: scale each by the ScalingLayer (shift
(-0.030, -0.088, -0.188), scale (0.458, 0.448, 0.450)), take the ReLU outputs of the five conv
layers, normalise each feature vector over channels (x / (||x|| + 1e-10)), square the
difference, weight channels with the linear head, average over space and sum over layers.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pam.metrics.image import check_video_pair
from pam.metrics.weights import WeightFile, find_weight

ALEXNET_FILE = WeightFile(
    "lpips/alexnet-owt-7be5be79.pth",
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth (torchvision's ImageNet AlexNet)",
)
LINEAR_FILE = WeightFile(
    "lpips/alex.pth",
    "the lpips package (github.com/richzhang/PerceptualSimilarity, lpips/weights/v0.1/alex.pth)",
)
#: Channels of the five tapped AlexNet layers (relu1 ... relu5).
CHANNELS = (64, 192, 384, 256, 256)
#: End index (exclusive) in ``features`` of each tapped slice: relu1, relu2, relu3, relu4, relu5.
SLICE_ENDS = (2, 5, 8, 10, 12)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def alexnet_features() -> nn.Sequential:
    """torchvision's ``AlexNet.features`` layout (indices match its state dict keys)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


class _LinearHead(nn.Module):
    """lpips' NetLinLayer: dropout (inactive at eval) then a 1x1 conv to one channel, no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


class LPIPS(nn.Module):
    """LPIPS v0.1, AlexNet. ``forward(x0, x1)``: (B, 3, H, W) in [-1, 1] -> (B,) distances."""

    def __init__(self):
        super().__init__()
        self.features = alexnet_features()
        for i, c in enumerate(CHANNELS):
            self.add_module(f"lin{i}", _LinearHead(c))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_pretrained(cls, alexnet_path: str | os.PathLike | None = None,
                        linear_path: str | os.PathLike | None = None) -> "LPIPS":
        """Load the two standard weight files (see the module docstring for where they are searched)."""
        torchvision_cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(ALEXNET_FILE.relpath).name
        alex = find_weight("LPIPS (AlexNet backbone)", ALEXNET_FILE, alexnet_path, [torchvision_cache])
        spec = find_spec("lpips")
        pkg = [Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"] if spec and spec.origin else []
        lin = find_weight("LPIPS (v0.1 linear layers)", LINEAR_FILE, linear_path, pkg)
        model = cls()
        model.load_weights(torch.load(alex, map_location="cpu", weights_only=True),
                           torch.load(lin, map_location="cpu", weights_only=True))
        return model

    def load_weights(self, alexnet_state: dict[str, torch.Tensor], linear_state: dict[str, torch.Tensor]) -> None:
        """Load a torchvision AlexNet state dict (``classifier.*`` ignored) and lpips v0.1 linear layers."""
        backbone = {k[len("features."):]: v for k, v in alexnet_state.items() if k.startswith("features.")}
        self.features.load_state_dict(backbone, strict=True)
        heads = {k: v for k, v in linear_state.items() if k.startswith("lin")}
        missing = {f"lin{i}.model.1.weight" for i in range(len(CHANNELS))} - set(heads)
        if missing:
            raise KeyError(f"LPIPS linear weights lack {sorted(missing)}; expected lpips v0.1 'alex.pth'")
        for i in range(len(CHANNELS)):
            getattr(self, f"lin{i}").load_state_dict({"model.1.weight": heads[f"lin{i}.model.1.weight"]})

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        h0, h1 = (x0 - self.shift) / self.scale, (x1 - self.shift) / self.scale
        total = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        start = 0
        for i, end in enumerate(SLICE_ENDS):
            block = self.features[start:end]
            h0, h1 = block(h0), block(h1)
            start = end
            d = (_unit(h0) - _unit(h1)) ** 2
            total = total + getattr(self, f"lin{i}").model(d).mean(dim=(1, 2, 3))
        return total


def _unit(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


@torch.no_grad()
def lpips(generated: np.ndarray, reference: np.ndarray, model: LPIPS, batch_size: int = 8) -> np.ndarray:
    """LPIPS per frame between two uint8 videos (T, H, W, 3); returns (T,) float64 (0 = identical)."""
    check_video_pair(generated, reference)
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(generated), batch_size):
        a, b = (torch.from_numpy(v[s:s + batch_size]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
                for v in (generated, reference))
        out.append(model(a, b).double().cpu().numpy())
    return np.concatenate(out)
