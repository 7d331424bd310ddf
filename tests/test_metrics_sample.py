"""The metrics on real footage: the DexYCB sample against altered copies of itself (skips without the sample)."""

import cv2
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


def _copies(video: np.ndarray, path) -> dict[str, np.ndarray]:
    write_video(path, video, crf=28)
    return {"reencoded": read_video(path), "frozen": np.repeat(video[:1], len(video), axis=0),
            "reversed": video[::-1].copy()}


def test_motion_fidelity_ranks_copies_small(tmp_path):
    """24 frames at half size: a faithful copy scores far above a frozen or time-reversed one."""
    video = np.stack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in read_video(dexycb_sample())[:24]])
    mf = {name: motion_fidelity(copy, video) for name, copy in _copies(video, tmp_path / "re.mp4").items()}
    assert motion_fidelity(video, video) == pytest.approx(1.0)
    assert mf["reencoded"] > 0.75
    assert mf["frozen"] < 0.1
    assert mf["reencoded"] > mf["reversed"] + 0.3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["both", "generated_to_reference"])
def test_motion_fidelity_ranks_copies_full_size_with_mask(tmp_path, mode):
    """The paper's 49 frames at 640 x 480, points in the first-frame segmentation mask."""
    video = read_video(dexycb_sample())[:49]
    seg = read_video(dexycb_sample("val_seg_mask.mp4"))[0]
    mask = cv2.resize(seg, (640, 480), interpolation=cv2.INTER_NEAREST).max(axis=-1) > 32
    mf = {name: motion_fidelity(copy, video, mask=mask, mode=mode) for name, copy in _copies(video, tmp_path / "re.mp4").items()}
    assert mf["reencoded"] > 0.6
    assert mf["frozen"] < 0.1
    assert mf["reencoded"] > mf["reversed"] + 0.3
