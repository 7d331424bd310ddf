import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metrics_fixtures import random_lpips_files, textured_frame
from pam.metrics.lpips import LPIPS, lpips
from pam.metrics.weights import MissingWeightsError


def reference_lpips(x0, x1, alex, lin):
    """LPIPS v0.1 written out with plain functional ops, from the same state dicts."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def conv(x, i, stride=1, padding=1):
        return F.relu(F.conv2d(x, alex[f"features.{i}.weight"], alex[f"features.{i}.bias"], stride, padding))

    def taps(x):
        x = (x - shift) / scale
        r1 = conv(x, 0, stride=4, padding=2)
        r2 = conv(F.max_pool2d(r1, 3, 2), 3, padding=2)
        r3 = conv(F.max_pool2d(r2, 3, 2), 6)
        r4 = conv(r3, 8)
        return [r1, r2, r3, r4, conv(r4, 10)]

    total = 0
    for i, (a, b) in enumerate(zip(taps(x0), taps(x1))):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        w = lin[f"lin{i}.model.1.weight"].view(1, -1, 1, 1)
        total = total + ((a - b) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
    return total


@pytest.fixture
def weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    return random_lpips_files(tmp_path)


def _videos():
    ref = np.stack([textured_frame(64, 96, s) for s in range(3)])
    gen = np.clip(ref.astype(int) + np.random.default_rng(1).integers(-40, 40, ref.shape), 0, 255).astype(np.uint8)
    return gen, ref


def test_matches_independent_formula(weights):
    alex, lin = weights
    model = LPIPS.from_pretrained()
    gen, ref = _videos()
    x0 = torch.from_numpy(gen).permute(0, 3, 1, 2).float() / 127.5 - 1
    x1 = torch.from_numpy(ref).permute(0, 3, 1, 2).float() / 127.5 - 1
    expected = reference_lpips(x0, x1, alex, lin).numpy()
    got = lpips(gen, ref, model, batch_size=2)
    assert got.shape == (3,)
    assert (got > 0).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_identical_frames_score_zero(weights):
    _, ref = _videos()
    np.testing.assert_allclose(lpips(ref, ref, LPIPS.from_pretrained()), 0.0, atol=1e-7)


def test_missing_weights_name_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth") as err:
        LPIPS.from_pretrained()
    assert str(tmp_path / "lpips" / "alexnet-owt-7be5be79.pth") in str(err.value)
    assert "download.pytorch.org" in str(err.value)


def test_explicit_missing_path_is_an_error(weights, tmp_path):
    with pytest.raises(MissingWeightsError, match="alex.pth"):
        LPIPS.from_pretrained(linear_path=tmp_path / "nowhere" / "alex.pth")


def test_linear_weights_with_wrong_keys_are_rejected(weights):
    alex, _ = weights
    with pytest.raises(KeyError, match="lin0.model.1.weight"):
        LPIPS().load_weights(alex, {"lin0.weight": torch.zeros(1, 64, 1, 1)})
