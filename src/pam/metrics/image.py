"""Per-frame full-reference image metrics on uint8 RGB videos: PSNR and SSIM.

Both take two videos of equal shape (T, H, W, 3), uint8, and return one value per frame
(float64 array of shape (T,)); the paper reports the mean over frames and videos.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

#: SSIM constants of Wang et al. 2004 for 8-bit data: C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255.
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2
#: PSNR of a frame equal to its reference (mse 0), and the cap of every frame, in dB.
PSNR_MAX_DB = 100.0
#: Gaussian window: sigma 1.5, 11 x 11 taps (scikit-image's ``truncate=3.5`` gives radius 5).
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5


def check_video_pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("generated", "reference")) -> None:
    """Raise ValueError unless ``a`` and ``b`` are uint8 videos (T, H, W, 3) of the same shape."""
    for name, video in zip(names, (a, b)):
        if not isinstance(video, np.ndarray) or video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            desc = f"{video.dtype} {video.shape}" if isinstance(video, np.ndarray) else type(video).__name__
            raise ValueError(f"{name}: expected a uint8 video of shape (T, H, W, 3), got {desc}")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in shape: {a.shape} vs {b.shape}")


def psnr(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio per frame in dB, over all pixels and channels, peak 255.

    Each frame is capped at :data:`PSNR_MAX_DB` (100 dB), so a frame equal to its reference (the
    conditioning frame of image-to-video output) gives 100, not ``inf`` that would swamp the mean.
    Returns (T,) float64.
    """
    check_video_pair(generated, reference)
    n = generated[0].size
    mse = np.array([cv2.norm(g, r, cv2.NORM_L2SQR) / n for g, r in zip(generated, reference)])
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(255.0**2 / mse), PSNR_MAX_DB)


_KERNEL = cv2.getGaussianKernel(2 * SSIM_RADIUS + 1, SSIM_SIGMA)
_CROP = (slice(SSIM_RADIUS, -SSIM_RADIUS),) * 2
_buffers = threading.local()


def _ssim_frame(g: np.ndarray, r: np.ndarray) -> float:
    """Mean SSIM of two uint8 frames (H, W, 3), averaged over channels.

    All intermediate maps live in per-thread float32 buffers reused from frame to frame:
    allocating fresh 4 MB arrays for each step costs more than the arithmetic.
    """
    if getattr(_buffers, "shape", None) != g.shape:
        _buffers.shape, _buffers.maps = g.shape, np.empty((7,) + g.shape, np.float32)
    mx, my, e_sq, e_xy, a, b, c = _buffers.maps

    def blur(src: np.ndarray, dst: np.ndarray) -> None:
        cv2.sepFilter2D(src, cv2.CV_32F, _KERNEL, _KERNEL, dst=dst, borderType=cv2.BORDER_REFLECT)

    blur(g, mx)
    blur(r, my)
    # blur is linear: one blur of x^2 + y^2 gives E[x^2] + E[y^2], all the denominator needs
    cv2.multiply(g, g, dst=a, dtype=cv2.CV_32F)
    cv2.multiply(r, r, dst=b, dtype=cv2.CV_32F)
    blur(cv2.add(a, b, dst=c), e_sq)
    blur(cv2.multiply(g, r, dst=a, dtype=cv2.CV_32F), e_xy)
    cv2.multiply(mx, my, dst=a)  # mx my
    cv2.multiply(mx, mx, dst=b)
    cv2.add(b, cv2.multiply(my, my, dst=c), dst=b)  # mx^2 + my^2
    cv2.addWeighted(e_xy, 2.0, a, -2.0, SSIM_C2, dst=c)  # 2 cov + C2
    cv2.multiply(cv2.addWeighted(a, 2.0, a, 0.0, SSIM_C1, dst=a), c, dst=a)  # numerator
    cv2.addWeighted(e_sq, 1.0, b, -1.0, SSIM_C2, dst=c)  # var_x + var_y + C2
    cv2.multiply(cv2.add(b, SSIM_C1, dst=b), c, dst=b)  # denominator
    cv2.divide(a, b, dst=a)
    return float(np.mean(cv2.mean(a[_CROP])[:3]))


def ssim(generated: np.ndarray, reference: np.ndarray, workers: int | None = None) -> np.ndarray:
    """Structural similarity per frame (Wang et al. 2004), the mean of the three RGB channels.

    Gaussian-weighted local statistics (sigma 1.5, 11 x 11 window), population (not sample)
    covariances, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, and the SSIM map averaged over the
    image after cropping the 5-pixel border the window does not fully cover. This is what
    ``skimage.metrics.structural_similarity(g, r, channel_axis=-1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=255)`` computes (tests check it), done
    with OpenCV filters in float32 for speed, frames spread over ``workers`` threads (default:
    up to 4, as many as CPUs; OpenCV releases the GIL). Returns (T,) float64 in [-1, 1].
    """
    check_video_pair(generated, reference)
    if min(generated.shape[1:3]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"ssim: frames must be at least {2 * SSIM_RADIUS + 1} pixels on each side, got {generated.shape[1:3]}")
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        return np.fromiter(pool.map(_ssim_frame, generated, reference), np.float64, len(generated))
