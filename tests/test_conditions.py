"""The condition set of a clip: joint projection, encoding of a rendered clip, video writing."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from pam.render.conditions import (
    CONDITION_NAMES,
    iter_condition_frames,
    project_joints,
    stack_condition_frames,
    write_condition_videos,
)
from pam.render.palette import HAND_LABEL
from pam.render.rasterizer import Mesh, RayRasterizer
from pam.render.video import VideoError, probe_video, read_video
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import Camera


def moving_camera(T: int = 3) -> Camera:
    R = np.stack([axis_angle_to_matrix_np(np.array([0.0, 0.1 * t, 0.05])) for t in range(T)])
    t = np.stack([[0.01 * k, 0.0, 0.05] for k in range(T)])
    return Camera.from_fov(50.0, height=96, width=128, R=R, t=t)


def test_project_joints_matches_camera_per_frame():
    cam = moving_camera()
    rng = np.random.default_rng(0)
    joints = rng.uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.6], (3, 2, 21, 3))
    pix, cam_pts = project_joints(cam, joints)
    assert pix.shape == (3, 2, 21, 2) and cam_pts.shape == (3, 2, 21, 3)
    for t in range(3):
        np.testing.assert_allclose(pix[t], cam.project(joints[t], t), atol=1e-9)
        R, tr = cam.extrinsics(t)
        np.testing.assert_allclose(cam_pts[t], joints[t] @ R.T + tr, atol=1e-12)


def test_encode_and_write_conditions(tmp_path):
    cam = moving_camera()
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    frames = [
        [Mesh((ball.vertices + [0, 0, 0.5] - cam.t[t]) @ cam.R[t], ball.faces, 1),
         Mesh((ball.vertices * 2 + [0.05, 0, 0.7] - cam.t[t]) @ cam.R[t], ball.faces, 2)]
        for t in range(3)
    ]
    clip = RayRasterizer().render_clip(frames, cam)
    joints = np.zeros((3, 1, 21, 3))
    joints[..., 0] = np.linspace(-0.05, 0.05, 21)
    joints[..., 2] = 0.5
    joints_world = np.stack([(joints[t] - cam.t[t]) @ cam.R[t] for t in range(3)])
    pix, cam_pts = project_joints(cam, joints_world)
    labels = {1: HAND_LABEL, 2: 3}
    conditions = stack_condition_frames(iter_condition_frames(clip, labels, pix, cam_pts))
    assert tuple(conditions) == CONDITION_NAMES
    for name, video in conditions.items():
        assert video.shape == (3, 96, 128, 3) and video.dtype == np.uint8, name
    centre = (48, 64)
    np.testing.assert_array_equal(conditions["seg"][:, centre[0], centre[1]], np.tile([92, 0, 255], (3, 1)))
    assert conditions["hand_keypoints"][:, 48].any()
    assert not conditions["depth"][:, 0, 0].any() and not conditions["normal"][:, 0, 0].any()

    paths = write_condition_videos(tmp_path, iter_condition_frames(clip, labels, pix, cam_pts), fps=15.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.mp4" for n in CONDITION_NAMES)
    assert probe_video(paths["seg"]).fps == 15.0
    for name, path in paths.items():
        back = read_video(path)
        assert back.shape == (3, 96, 128, 3)
        assert np.abs(back.astype(int) - conditions[name]).mean() < 2, name
    back = read_video(paths["seg"])
    assert np.abs(back[:, 44:52, 60:68].astype(int) - [92, 0, 255]).max() <= 12


def test_failed_condition_write_leaves_nothing(tmp_path):
    def frames():
        yield {"seg": np.zeros((8, 8, 3), np.uint8), "depth": np.zeros((8, 8, 3), np.uint8)}
        yield {"seg": np.zeros((8, 8, 3), np.uint8), "depth": np.zeros((8, 8), np.uint8)}  # bad frame

    with pytest.raises(VideoError, match="depth.mp4"):
        write_condition_videos(tmp_path, frames(), fps=15.0)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="no frames"):
        write_condition_videos(tmp_path, [], fps=15.0)
