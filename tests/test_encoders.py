"""Condition encoders against REFERENCE.md: skeleton colours and widths, palette, depth, normals."""

from __future__ import annotations


import matplotlib
import numpy as np
import pytest

from pam.render.encoders import (
    depth_range,
    draw_hand_skeleton,
    encode_depth,
    encode_hand_keypoints,
    encode_normals,
    encode_segmentation,
    resize_nearest,
)
from pam.render.palette import ADE20K_PALETTE, HAND_LABEL, skeleton_color
from samples import SAMPLES

H, W = 400, 600


def fan_hand(length: float = 40.0) -> np.ndarray:
    """(21, 2) joints: five straight fingers of 4 collinear horizontal limbs, 40 px apart vertically."""
    joints = np.zeros((21, 2))
    joints[0] = [60, 200]
    for finger in range(5):
        y = 120 + 40 * finger
        for k in range(4):
            joints[1 + 4 * finger + k] = [100 + length * (k + 1), y]
    return joints


def thickness(img: np.ndarray, x: int, y0: int, y1: int) -> int:
    """Number of non-black pixels in column x between rows y0 and y1."""
    return int(np.any(img[y0:y1, x] > 0, axis=-1).sum())


def test_reference_colours():
    assert skeleton_color(0) == (139, 53, 255)
    assert skeleton_color(5) == (35, 91, 255)
    assert skeleton_color(11) == (148, 245, 255)  # base[2] + 105, blue saturates at 255
    assert skeleton_color(19) == (252, 252, 105)
    assert skeleton_color(20) == (70, 17, 145)  # joint 20 uses base[5]
    np.testing.assert_array_equal(ADE20K_PALETTE[HAND_LABEL], [92, 0, 255])
    np.testing.assert_array_equal(ADE20K_PALETTE[1], [180, 120, 120])
    assert len(ADE20K_PALETTE) == 151 and not ADE20K_PALETTE[150].any()


@pytest.mark.parametrize("style, widths", [("dexycb", (13, 7)), ("oakink2", (9, 5))])
def test_limb_colours_and_widths(style, widths):
    joints = fan_hand()
    img = draw_hand_skeleton(np.zeros((H, W, 3), np.uint8), joints, style=style)
    for finger in range(5):
        y = 120 + 40 * finger
        for k in range(1, 4):  # limbs between finger joints: horizontal, 40 px long
            limb = 4 * finger + k
            x = int(100 + 40 * (k + 0.5))
            assert tuple(img[y, x]) == skeleton_color(limb)
            assert thickness(img, x, y - 15, y + 15) == (widths[0] if finger == 0 else widths[1])


def test_joints_are_radius_3_discs_and_limb_length_limits():
    joints = fan_hand(length=4.0)  # finger limbs 4 px: too short to draw
    joints[0] = [560, 380]  # wrist 150+ px from every finger base: those limbs are skipped too
    img = draw_hand_skeleton(np.zeros((H, W, 3), np.uint8), joints)
    wrist = img[370:391, 550:571]
    assert tuple(wrist[10, 10]) == skeleton_color(0)
    assert thickness(img, 560, 370, 391) == 7 and np.any(wrist[10] > 0, axis=-1).sum() == 7  # radius 3
    assert {tuple(c) for c in wrist.reshape(-1, 3) if c.any()} == {skeleton_color(0)}
    # only joint discs are on the canvas: every coloured pixel has a joint colour
    colours = {tuple(c) for c in img.reshape(-1, 3) if c.any()}
    assert colours <= {skeleton_color(j) for j in range(21)}


def test_draw_order_follows_wrist_and_little_tip_depth():
    """Two crossing limbs: the later-drawn one is on top; reverse order flips it."""
    joints = fan_hand()
    joints[1:5] = [[210, 220], [210, 180], [210, 140], [210, 100]]  # a vertical thumb
    cam = np.zeros((1, 1, 21, 3))
    cam[..., 2] = 0.5
    cross = (210, 160)  # the middle of thumb limb 2 and of index limb 6
    cam[0, 0, 0, 2], cam[0, 0, 20, 2] = 0.6, 0.5  # wrist farther: normal order, index (later) on top
    img = encode_hand_keypoints(joints[None, None], cam, H, W)[0]
    assert tuple(img[cross[1], cross[0]]) == skeleton_color(6)
    cam[0, 0, 0, 2], cam[0, 0, 20, 2] = 0.4, 0.5  # wrist nearer: reverse order, thumb on top
    img = encode_hand_keypoints(joints[None, None], cam, H, W)[0]
    assert tuple(img[cross[1], cross[0]]) == skeleton_color(2)


def test_two_hands_one_canvas_near_on_top():
    a = fan_hand()
    b = a + [10, 0]  # overlapping second hand
    z = np.full((1, 2, 21, 3), 0.5)
    z[0, 1, :, 2] = 0.4  # hand 1 nearer
    img = encode_hand_keypoints(np.stack([a, b])[None], z, H, W)
    assert img.shape == (1, H, W, 3)
    canvas = lambda: np.zeros((H, W, 3), np.uint8)  # noqa: E731
    np.testing.assert_array_equal(img[0], draw_hand_skeleton(draw_hand_skeleton(canvas(), a), b))  # far first
    z[0, 1, :, 2] = 0.6  # now hand 0 is nearer: it is drawn last
    img2 = encode_hand_keypoints(np.stack([a, b])[None], z, H, W)
    np.testing.assert_array_equal(img2[0], draw_hand_skeleton(draw_hand_skeleton(canvas(), b), a))
    assert np.any(img2[0] != img[0])
    behind = z.copy()
    behind[0, 1, 3, 2] = -0.1  # a joint behind the camera: that hand is not drawn
    only_a = encode_hand_keypoints(np.stack([a, b])[None], behind, H, W)[0]
    np.testing.assert_array_equal(only_a, draw_hand_skeleton(np.zeros((H, W, 3), np.uint8), a, reverse=False))


def test_far_off_canvas_joints_are_harmless():
    joints = fan_hand()
    joints[8] = [3e12, -4e12]  # a fingertip nearly on the camera plane projects far away
    img = draw_hand_skeleton(np.zeros((H, W, 3), np.uint8), joints)
    assert tuple(img[160, 210]) == skeleton_color(6)  # the rest of the hand is drawn


def test_hand_keypoint_input_errors():
    with pytest.raises(ValueError, match="joints_2d"):
        encode_hand_keypoints(np.zeros((1, 21, 2)), np.zeros((1, 21, 3)), H, W)
    with pytest.raises(ValueError, match="joints_cam"):
        encode_hand_keypoints(np.zeros((1, 1, 21, 2)), np.zeros((1, 1, 21, 2)), H, W)
    with pytest.raises(ValueError, match="style"):
        draw_hand_skeleton(np.zeros((H, W, 3), np.uint8), fan_hand(), style="ho3d")


def test_segmentation_palette_and_resize():
    ids = np.zeros((2, 6, 8), np.uint16)
    ids[:, 1:3, 1:4] = 1  # hand
    ids[:, 3:5, 4:7] = 2  # object with seg_id 1
    ids[1, 0, 0] = 3  # object with seg_id 14
    seg = encode_segmentation(ids, {1: HAND_LABEL, 2: 1, 3: 14})
    assert seg.shape == (2, 6, 8, 3) and seg.dtype == np.uint8
    np.testing.assert_array_equal(seg[0, 1, 1], [92, 0, 255])
    np.testing.assert_array_equal(seg[0, 3, 4], [180, 120, 120])
    np.testing.assert_array_equal(seg[1, 0, 0], ADE20K_PALETTE[14])
    assert not seg[0, 0, 0].any()
    big = encode_segmentation(ids, {1: HAND_LABEL, 2: 1, 3: 14}, size=(12, 16))
    np.testing.assert_array_equal(big, np.repeat(np.repeat(seg, 2, axis=1), 2, axis=2))
    with pytest.raises(ValueError, match=r"\[3\]"):
        encode_segmentation(ids, {1: HAND_LABEL, 2: 1})


def test_resize_nearest_keeps_labels():
    import torch

    labels = np.arange(12).reshape(3, 4)
    out = resize_nearest(labels, 7, 9)
    reference = torch.nn.functional.interpolate(torch.tensor(labels, dtype=torch.float32)[None, None], size=(7, 9), mode="nearest")
    np.testing.assert_array_equal(out, reference[0, 0].numpy().astype(int))  # PyTorch's "nearest", as the release
    np.testing.assert_array_equal(resize_nearest(labels, 3, 4), labels)


def test_depth_monotone_near_bright_background_black():
    depth = np.tile(np.linspace(0.3, 1.2, 200, dtype=np.float32), (2, 10, 1))
    depth[:, :, :20] = 0  # background
    depth[1][depth[1] > 0] += 0.1
    rgb = encode_depth(depth)
    assert rgb.shape == (2, 10, 200, 3)
    assert not rgb[:, :, :20].any()
    luma = rgb[0, 0, 20:].astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(luma) <= 0) and luma[0] > luma[-1] + 150
    inferno = matplotlib.colormaps["inferno"]
    np.testing.assert_allclose(rgb[0, 0, 20], np.array(inferno(1.0)[:3]) * 255, atol=1)  # clip's nearest
    np.testing.assert_allclose(rgb[1, 0, -1], np.array(inferno(0.15)[:3]) * 255, atol=2)  # clip's farthest
    assert rgb[1, 0, -1].any()  # the farthest foreground stays distinct from the background
    assert not encode_depth(np.zeros((1, 4, 4))).any()
    # frame by frame with the clip's range gives the clip encoding
    assert depth_range(depth) == (depth[depth > 0].min(), depth.max())
    np.testing.assert_array_equal(encode_depth(depth[1], near_far=depth_range(depth)), rgb[1])


def test_normals_encoding_convention():
    n = np.array([[[0, 0, -1], [-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 0, 0]]], np.float32)
    rgb = encode_normals(n)[0]
    np.testing.assert_array_equal(encode_normals(n, mask=np.array([[True] * 4 + [False]]))[0], rgb)
    np.testing.assert_array_equal(encode_normals(np.stack([n, n]))[1, 0], rgb)
    np.testing.assert_array_equal(rgb[0], [128, 128, 255])  # facing the camera: blue
    assert rgb[1, 0] == 255 and rgb[2, 0] == 0  # left-facing: red; right-facing: no red
    assert rgb[3, 1] == 255  # upward-facing (-y in OpenCV): green
    assert not rgb[4].any()  # background


@pytest.mark.skipif(not (SAMPLES / "dexycb").is_dir(), reason="official samples absent (set PAM_SHARED_DIR)")
def test_official_keypoint_sample_uses_the_palette():
    """The release's DexYCB keypoint video uses the base colours as RGB (not BGR)."""
    from pam.render.video import read_video

    frame = read_video(SAMPLES / "dexycb" / "val_hand_keypoints.mp4")[10].astype(float)
    fg = frame[frame.sum(-1) > 150]
    palette = np.array([skeleton_color(i) for i in range(21)], float)

    def distance(pal):
        return np.linalg.norm(fg[:, None] - pal[None], axis=-1).min(axis=1)

    rgb, bgr = distance(palette), distance(palette[:, ::-1])
    assert np.percentile(rgb, 25) < 30 and np.median(rgb) < np.median(bgr) - 20
