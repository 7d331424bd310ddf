import numpy as np
import pytest
import scipy.linalg

from metrics_fixtures import tiny_i3d_expected, tiny_i3d_file
from pam.metrics.fvd import frechet_distance, fvd, gaussian_stats, i3d_features, load_i3d
from pam.metrics.weights import MissingWeightsError


def test_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a, b = rng.uniform(0.1, 5.0, size=(2, 6))
    b[:2] = 0.0  # one of them singular
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T  # same eigenvectors: tr sqrt(S1 S2) = sum sqrt(a b)
    mu1, mu2 = rng.normal(size=(2, 6))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_general_covariances_equal_stylegan_v_sqrtm():
    rng = np.random.default_rng(0)
    q1, q2 = rng.normal(size=(2, 5, 5))
    s1, s2 = q1 @ q1.T + np.eye(5), q2 @ q2.T + np.eye(5)
    mu1, mu2 = rng.normal(size=(2, 5))
    covmean = scipy.linalg.sqrtm(s1 @ s2)  # StyleGAN-V's route (real part of the trace)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_covariance_divided_by_n():
    features = np.random.default_rng(3).normal(size=(16, 4))
    centred = features - features.mean(axis=0)
    mu, sigma = gaussian_stats(features)
    np.testing.assert_allclose(mu, features.mean(axis=0))
    np.testing.assert_allclose(sigma, centred.T @ centred / 16, rtol=1e-12)


def test_symmetric_and_zero_for_identical_sets():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 8)), rng.normal(1.0, 2.0, size=(60, 8))
    assert fvd(a, b) == pytest.approx(fvd(b, a), rel=1e-8)
    assert fvd(a, b) > 1.0
    assert fvd(a, a) == pytest.approx(0.0, abs=1e-8)


def test_singular_covariances_fewer_videos_than_dims_warn():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(10, 400)), rng.normal(0.5, 1.0, size=(12, 400))  # ranks 9 and 11 of 400
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    # S1 = Ac^T Ac and S2 = Bc^T Bc (centred features over sqrt N): the eigenvalues of S1 S2 are the
    # squared singular values of Ac Bc^T, so tr sqrt(S1 S2) is its nuclear norm
    ac, bc = (a - mu1) / np.sqrt(len(a)), (b - mu2) / np.sqrt(len(b))
    nuclear = np.linalg.svd(ac @ bc.T, compute_uv=False).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * nuclear
    with pytest.warns(UserWarning, match="fewer than the 400 feature dimensions"):
        got = fvd(a, b)
    assert got == pytest.approx(expected, rel=1e-9)
    with pytest.warns(UserWarning):
        assert fvd(a, a) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))


def test_needs_two_videos():
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_stats(np.zeros((1, 4)))


def test_detector_called_with_protocol(tmp_path):
    detector = load_i3d(tiny_i3d_file(tmp_path / "i3d_torchscript.pt"))
    rng = np.random.default_rng(3)
    videos = [rng.integers(0, 256, (t, 8, 12, 3), dtype=np.uint8) for t in (6, 5, 3, 7, 6)]
    videos.append(rng.integers(0, 256, (6, 10, 10, 3), dtype=np.uint8))  # another frame size
    feats, discarded = i3d_features(videos, detector, num_frames=5, batch_size=2)
    kept = [v for v in videos if len(v) >= 5]
    assert discarded == 1
    np.testing.assert_allclose(feats, [tiny_i3d_expected(v, 5) for v in kept], atol=1e-5)


def test_detector_found_in_weights_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="i3d_torchscript.pt") as err:
        load_i3d()
    assert "dropbox" in str(err.value)
    tiny_i3d_file(tmp_path / "i3d_torchscript.pt")
    video = np.random.default_rng(0).integers(0, 256, (5, 8, 12, 3), dtype=np.uint8)
    feats, _ = i3d_features([video], load_i3d(), 5)
    np.testing.assert_allclose(feats[0], tiny_i3d_expected(video, 5), atol=1e-5)
