"""The metrics on real footage: the DexYCB sample against altered copies of itself (skips without the sample)."""

import numpy as np
import pytest

from metrics_fixtures import dexycb_sample
from pam.metrics.image import psnr, ssim
from pam.metrics.motion_fidelity import motion_fidelity
from pam.render.video import read_video, write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    video = read_video(dexycb_sample())[:40]
    path = tmp_path_factory.mktemp("sample") / "reencoded.mp4"
    write_video(path, video, crf=28)
    shifted = np.concatenate([np.repeat(video[:, :, :1], 4, axis=2), video[:, :, :-4]], axis=2)
    return video, read_video(path), shifted


def test_reencoded_copy_scores_close(clips):
    video, reencoded, shifted = clips
    assert psnr(reencoded, video).mean() > 30
    assert ssim(reencoded, video).mean() > 0.85
    assert psnr(shifted, video).mean() < psnr(reencoded, video).mean()
    assert ssim(shifted, video).mean() < ssim(reencoded, video).mean()


def test_motion_fidelity_ranks_copies(clips):
    video, reencoded, shifted = clips
    assert motion_fidelity(video, video) == pytest.approx(1.0)
    reenc = motion_fidelity(reencoded, video)
    assert reenc > 0.8
    assert motion_fidelity(video[::-1].copy(), video) < reenc - 0.1
