"""Per-frame full-reference image metrics on uint8 RGB videos: PSNR and SSIM.

Both take two videos of equal shape (T, H, W, 3), uint8, and return one value per frame
(float64 array of shape (T,)); the paper reports the mean over frames and videos.
"""

from __future__ import annotations

import cv2
import numpy as np

#: SSIM constants of Wang et al. 2004 for 8-bit data: C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255.
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2
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

    Identical frames give ``inf``. Returns (T,) float64.
    """
    check_video_pair(generated, reference)
    n = generated[0].size
    mse = np.array([cv2.norm(g, r, cv2.NORM_L2SQR) / n for g, r in zip(generated, reference)])
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def ssim(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Structural similarity per frame (Wang et al. 2004), the mean of the three RGB channels.

    Gaussian-weighted local statistics (sigma 1.5, 11 x 11 window), population (not sample)
    covariances, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, and the SSIM map averaged over the
    image after cropping the 5-pixel border the window does not fully cover. This is what
    ``skimage.metrics.structural_similarity(g, r, channel_axis=-1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=255)`` computes (tests check it), done
    with OpenCV filters in float32 for speed. Returns (T,) float64 in [-1, 1].
    """
    check_video_pair(generated, reference)
    if min(generated.shape[1:3]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"ssim: frames must be at least {2 * SSIM_RADIUS + 1} pixels on each side, got {generated.shape[1:3]}")
    kernel = cv2.getGaussianKernel(2 * SSIM_RADIUS + 1, SSIM_SIGMA)
    crop = (slice(SSIM_RADIUS, -SSIM_RADIUS or None),) * 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(img, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT)[crop]

    out = np.empty(len(generated))
    for i, (g, r) in enumerate(zip(generated, reference)):
        x = g.astype(np.float32)
        y = r.astype(np.float32)
        mx, my = blur(x), blur(y)
        # blur is linear: one blur of x^2 + y^2 gives E[x^2] + E[y^2], all the denominator needs
        e_sq = blur(cv2.add(cv2.multiply(x, x), cv2.multiply(y, y)))
        e_xy = blur(cv2.multiply(x, y))
        mxy = cv2.multiply(mx, my)
        m_sq = cv2.add(cv2.multiply(mx, mx), cv2.multiply(my, my))
        num = cv2.multiply(cv2.addWeighted(mxy, 2.0, mxy, 0.0, SSIM_C1), cv2.addWeighted(e_xy, 2.0, mxy, -2.0, SSIM_C2))
        den = cv2.multiply(cv2.add(m_sq, SSIM_C1), cv2.addWeighted(e_sq, 1.0, m_sq, -1.0, SSIM_C2))
        out[i] = np.mean(cv2.mean(cv2.divide(num, den))[:3])
    return out
