"""pam.smoke: the tiny pipelines run end to end and their ControlNets are switched on."""

from __future__ import annotations

import numpy as np
import torch

from pam import smoke


def test_tiny_appearance_pipeline_makes_an_image_that_the_cues_change():
    pipe = smoke.tiny_appearance_pipeline()
    h, w = smoke.APPEARANCE_HEIGHT, smoke.APPEARANCE_WIDTH
    rng = np.random.default_rng(0)
    cues = {"depth": rng.integers(0, 256, (h, w, 3), dtype=np.uint8)}
    call = dict(height=h, width=w, num_inference_steps=2, seed=0, output_type="np", max_sequence_length=16)
    with_cue = pipe("a hand holds the mug", cues, **call).images
    without = pipe("a hand holds the mug", {}, **call).images
    assert with_cue.shape == (1, h, w, 3) and not np.allclose(with_cue, without)


def test_tiny_motion_pipeline_makes_a_video_of_the_smoke_size():
    pipe = smoke.tiny_motion_pipeline()
    frame = np.random.default_rng(0).integers(0, 256, (smoke.HEIGHT, smoke.WIDTH, 3), dtype=np.uint8)
    cues = {"depth": torch.rand(3, smoke.NUM_FRAMES, smoke.HEIGHT, smoke.WIDTH) * 2 - 1}
    video = pipe(frame, cues, "a hand holds the mug", seed=0, height=smoke.HEIGHT, width=smoke.WIDTH,
                 num_frames=smoke.NUM_FRAMES, num_inference_steps=2).frames
    assert video.shape == (1, smoke.NUM_FRAMES, smoke.HEIGHT, smoke.WIDTH, 3)
