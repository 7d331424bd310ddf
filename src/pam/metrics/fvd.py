"""Frechet Video Distance following StyleGAN-V (``src/metrics/frechet_video_distance.py`` there).

Detector: the Kinetics-400 I3D as TorchScript (``i3d_torchscript.pt``, a port of the TF-hub model
of the original FVD), called on (B, 3, T, H, W) float frames with values in [0, 255] and
``rescale=True, resize=True, return_features=True``: it rescales to [-1, 1], resizes to 224 and
returns the 400-d pre-softmax features. FVD is the Frechet distance between Gaussians fitted
to the real and generated feature sets:
``|mu_g - mu_r|^2 + tr(S_g + S_r - 2 sqrtm(S_g S_r))``, real part, with ``scipy.linalg.sqrtm``.
Videos shorter than the clip length are discarded; longer ones use their first frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import scipy.linalg
import torch

from pam.metrics.weights import WeightFile, find_weight

I3D_FILE = WeightFile(
    "i3d_torchscript.pt",
    "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt (StyleGAN-V's FVD detector)",
)
DETECTOR_KWARGS = dict(rescale=True, resize=True, return_features=True)


def load_i3d(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load the I3D TorchScript detector from ``path`` or ``$PAM_HOME/i3d_torchscript.pt``."""
    file = find_weight("FVD (I3D detector)", I3D_FILE, path)
    return torch.jit.load(str(file), map_location=device).eval()


@torch.no_grad()
def i3d_features(videos: Iterable[np.ndarray], detector: torch.nn.Module, num_frames: int,
                 batch_size: int = 4) -> tuple[np.ndarray, int]:
    """Detector features of uint8 videos (T, H, W, 3), the first ``num_frames`` frames of each.

    Returns ((N, D) float64 features, number of videos discarded for having fewer frames).
    """
    device = next(iter(detector.parameters()), torch.empty(0)).device
    feats, batch, discarded = [], [], 0

    def flush() -> None:
        x = torch.from_numpy(np.stack(batch)).to(device).permute(0, 4, 1, 2, 3).float()  # (B, 3, T, H, W)
        feats.append(detector(x, **DETECTOR_KWARGS).double().cpu().numpy())
        batch.clear()

    for video in videos:
        if len(video) < num_frames:
            discarded += 1
            continue
        if batch and batch[0].shape[1:] != video.shape[1:]:
            flush()  # frames of different sizes cannot share a batch
        batch.append(video[:num_frames])
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return (np.concatenate(feats) if feats else np.empty((0, 0))), discarded


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) (unbiased, as ``np.cov``) of (N, D) features, N >= 2."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"FVD needs at least 2 feature vectors, got features of shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): StyleGAN-V's formula.

    When ``sqrtm`` of the product is not finite (near-singular covariances), it is recomputed
    with 1e-6 added to both diagonals, the usual remedy of FID implementations.
    """
    mean_term = float(np.square(mu1 - mu2).sum())
    covmean, _ = scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * 1e-6
        covmean, _ = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset), disp=False)
    return float(np.real(mean_term + np.trace(sigma1 + sigma2 - 2.0 * covmean)))


def fvd(generated_features: np.ndarray, real_features: np.ndarray) -> float:
    """FVD between generated and real I3D feature sets, each (N, D)."""
    return frechet_distance(*gaussian_stats(generated_features), *gaussian_stats(real_features))
