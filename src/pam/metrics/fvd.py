"""Frechet Video Distance following StyleGAN-V (``src/metrics/frechet_video_distance.py`` there).

Detector: the Kinetics-400 I3D as TorchScript (``i3d_torchscript.pt``, a port of the TF-hub model
of the original FVD), called on (B, 3, T, H, W) float frames with values in [0, 255] and
``rescale=True, resize=True, return_features=True``: it rescales to [-1, 1], resizes to 224 and
returns the 400-d pre-softmax features. FVD is the Frechet distance between Gaussians fitted
to the real and generated feature sets, mean and covariance divided by N as StyleGAN-V's feature
statistics: ``|mu_g - mu_r|^2 + tr(S_g + S_r - 2 sqrtm(S_g S_r))``. StyleGAN-V takes the real part
of ``scipy.linalg.sqrtm``; here ``tr sqrtm(S_g S_r)`` is computed from eigenvalues (equal for
covariance matrices, and stable when they are singular). Videos shorter than the clip length are
discarded; longer ones use their first frames. With fewer videos than feature dimensions (400)
the covariances are singular and FVD is biased upwards: a warning says so (the paper uses 1,600
videos, StyleGAN-V 2,048).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import numpy as np
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
    """Mean (D,) and covariance (D, D) divided by N (StyleGAN-V's ``FeatureStats``) of (N, D) features, N >= 2."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"FVD needs at least 2 feature vectors, got features of shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False, bias=True)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrtm(sigma1 @ sigma2)`` of two symmetric positive semi-definite (D, D) matrices.

    ``sigma1 @ sigma2`` is similar to ``R sigma2 R`` with ``R = sigma1^(1/2)`` (symmetric), so its
    eigenvalues are real and non-negative: the trace is the sum of their square roots. Eigenvalues
    below the rounding level (``D * eps`` times the largest) are zeros of a singular matrix and count
    as 0, as a pseudo-inverse's cutoff does (their square roots would otherwise add ~1e-8 each).
    """

    def cutoff(w: np.ndarray) -> np.ndarray:
        return np.where(w > len(w) * np.finfo(w.dtype).eps * max(np.abs(w).max(), 1e-300), w, 0.0)

    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(cutoff(w))) @ v.T
    return float(np.sqrt(cutoff(np.linalg.eigvalsh(root @ sigma2 @ root))).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): StyleGAN-V's formula."""
    mean_term = float(np.square(mu1 - mu2).sum())
    return mean_term + float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * trace_sqrt_product(sigma1, sigma2)


def fvd(generated_features: np.ndarray, real_features: np.ndarray) -> float:
    """FVD between generated and real I3D feature sets, each (N, D); warns when N < D."""
    n = min(len(generated_features), len(real_features))
    if generated_features.ndim == 2 and n < generated_features.shape[1]:
        warnings.warn(f"FVD from {n} videos, fewer than the {generated_features.shape[1]} feature dimensions: "
                      "singular covariances, the value is biased upwards and not comparable with published "
                      "FVD (the paper uses 1,600 videos)", UserWarning, stacklevel=2)
    return frechet_distance(*gaussian_stats(generated_features), *gaussian_stats(real_features))
