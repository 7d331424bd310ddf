import numpy as np
import pytest
from skimage.metrics import structural_similarity

from metrics_fixtures import dexycb_sample, textured_frame
from pam.metrics.image import psnr, ssim
from pam.render.video import read_video


def _pair(t=3, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    ref = np.stack([textured_frame(h, w, seed + i) for i in range(t)])
    noise = rng.normal(0, 12, ref.shape)
    return np.clip(ref + noise, 0, 255).astype(np.uint8), ref


def test_psnr_matches_closed_form():
    ref = np.full((2, 16, 16, 3), 100, np.uint8)
    gen = ref.copy()
    gen[0] += 10  # MSE 100
    gen[1, :8] += 20  # half the pixels off by 20: MSE 200
    np.testing.assert_allclose(psnr(gen, ref), 10 * np.log10(255.0**2 / np.array([100.0, 200.0])))


def test_psnr_is_capped_at_100_db_per_frame():
    ref = np.full((3, 256, 256, 3), 100, np.uint8)
    gen = ref.copy()
    gen[1, 0, 0, 0] += 1  # MSE 1 / 196608: 101.05 dB, capped
    gen[2] += 10  # MSE 100
    expected = [100.0, 100.0, 10 * np.log10(255.0**2 / 100.0)]
    assert 10 * np.log10(255.0**2 * 256 * 256 * 3) > 100
    np.testing.assert_allclose(psnr(gen, ref), expected)
    assert np.isfinite(psnr(gen, ref).mean()) and psnr(gen, ref).mean() == pytest.approx(np.mean(expected))


def test_ssim_matches_scikit_image():
    gen, ref = _pair()
    expected = [structural_similarity(g, r, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255) for g, r in zip(gen, ref)]
    np.testing.assert_allclose(ssim(gen, ref), expected, atol=1e-5)
    np.testing.assert_allclose(ssim(ref, ref), 1.0, atol=1e-6)


def test_ssim_matches_scikit_image_on_real_frames():
    video = read_video(dexycb_sample())[:2]
    shifted = np.roll(video, 3, axis=2)
    expected = [structural_similarity(g, r, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255) for g, r in zip(shifted, video)]
    np.testing.assert_allclose(ssim(shifted, video), expected, atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 16, 16, 3), np.float32), "uint8 video"),
    (np.zeros((16, 16, 3), np.uint8), "uint8 video"),
    (np.zeros((3, 16, 16, 3), np.uint8), "differ in shape"),
])
def test_bad_input_is_named(bad, match):
    ref = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=match):
        psnr(bad, ref)
    with pytest.raises(ValueError, match=match):
        ssim(bad, ref)
