"""Condition encoders: rendered depth, ids, normals and 2D joints -> the RGB images PAM conditions on.

The encodings follow the official PAM release (REFERENCE.md, "Condition encodings") so that its
checkpoints can be used. All outputs are uint8 RGB, (..., H, W, 3), black where nothing is.
"""

from __future__ import annotations

import math
from typing import Mapping

import cv2
import matplotlib
import numpy as np

from pam.hand.base import BONES, NUM_JOINTS
from pam.render.palette import ADE20K_PALETTE, BACKGROUND_LABEL, skeleton_color

#: Half-widths in pixels of the limb ellipses, (thumb limbs 0-3, other limbs), per dataset style.
LIMB_HALF_WIDTHS = {"dexycb": (6, 3), "oakink2": (4, 2)}
JOINT_RADIUS = 3
#: Limbs are drawn only when their projected length lies strictly inside this range (pixels).
LIMB_LENGTH_RANGE = (5.0, 150.0)
#: Colour-map position of the farthest foreground depth; the nearest maps to 1. The official
#: DexYCB sample's foreground spans about 0.15..0.95 of inferno, and 0 (black) is the background.
DEPTH_FAR_LEVEL = 0.15

_INFERNO = np.round(matplotlib.colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


# --- hand keypoints --------------------------------------------------------------------------


def draw_hand_skeleton(canvas: np.ndarray, joints_2d: np.ndarray, reverse: bool = False, style: str = "dexycb") -> np.ndarray:
    """Draw one hand's skeleton on ``canvas`` (H, W, 3) uint8 RGB, in place; returns ``canvas``.

    joints_2d: (21, 2) pixel coordinates (x right, y down) in MANO/DexYCB joint order.
    Joints are filled circles (radius 3) drawn first; then each of the 20 limbs of
    ``pam.hand.base.BONES`` is a filled ellipse at its midpoint with half-axes (length / 2, w),
    drawn only when 5 < length < 150 px, in limb order or, with ``reverse``, in reverse order.
    """
    if style not in LIMB_HALF_WIDTHS:
        raise ValueError(f"style: expected one of {sorted(LIMB_HALF_WIDTHS)}, got {style!r}")
    joints_2d = np.asarray(joints_2d, dtype=np.float64)
    if joints_2d.shape != (NUM_JOINTS, 2) or not np.all(np.isfinite(joints_2d)):
        raise ValueError(f"joints_2d: expected finite ({NUM_JOINTS}, 2), got {joints_2d.shape}")
    pts = np.rint(np.clip(joints_2d, -1e6, 1e6)).astype(np.int64)  # far off-canvas points stay int32-safe
    for j, (x, y) in enumerate(pts):
        cv2.circle(canvas, (int(x), int(y)), JOINT_RADIUS, skeleton_color(j), thickness=-1)
    thumb_w, other_w = LIMB_HALF_WIDTHS[style]
    order = range(len(BONES) - 1, -1, -1) if reverse else range(len(BONES))
    for limb in order:
        (x1, y1), (x2, y2) = pts[BONES[limb][0]], pts[BONES[limb][1]]
        length = math.hypot(x1 - x2, y1 - y2)
        if not LIMB_LENGTH_RANGE[0] < length < LIMB_LENGTH_RANGE[1]:
            continue
        angle = int(math.degrees(math.atan2(y1 - y2, x1 - x2)))
        centre = (int((x1 + x2) / 2), int((y1 + y2) / 2))
        width = thumb_w if limb < 4 else other_w
        polygon = cv2.ellipse2Poly(centre, (int(length / 2), width), angle, 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, skeleton_color(limb))
    return canvas


def encode_hand_keypoints(
    joints_2d: np.ndarray, joints_cam: np.ndarray, height: int, width: int, style: str = "dexycb"
) -> np.ndarray:
    """Keypoint skeleton images of all hands on one black canvas per frame.

    Args:
        joints_2d: (T, N, 21, 2) projected joints of N hands (pixels).
        joints_cam: (T, N, 21, 3) the same joints in the camera frame (metres), for draw order.
        height, width: canvas size.
        style: "dexycb" (limb half-widths 6 / 3) or "oakink2" (4 / 2).
    Returns:
        (T, H, W, 3) uint8 RGB.

    Per hand, limbs are drawn in reverse order when the wrist is nearer to the camera than the
    little fingertip (the release's test ``z[wrist] < z[little tip]`` on camera-frame joints).
    Hands are painted far to near (mean joint depth); a hand with a joint behind the camera is
    not drawn.
    """
    joints_2d = np.asarray(joints_2d, dtype=np.float64)
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    if joints_2d.ndim != 4 or joints_2d.shape[2:] != (NUM_JOINTS, 2):
        raise ValueError(f"joints_2d: expected (T, N, {NUM_JOINTS}, 2), got {joints_2d.shape}")
    if joints_cam.shape != joints_2d.shape[:3] + (3,):
        raise ValueError(f"joints_cam: expected {joints_2d.shape[:3] + (3,)}, got {joints_cam.shape}")
    out = np.zeros((len(joints_2d), height, width, 3), np.uint8)
    for t in range(len(joints_2d)):
        z = joints_cam[t, :, :, 2]
        for hand in np.argsort(-z.mean(axis=1), kind="stable"):
            if np.all(z[hand] > 0):
                draw_hand_skeleton(out[t], joints_2d[t, hand], reverse=bool(z[hand, 0] < z[hand, -1]), style=style)
    return out


# --- segmentation, depth, normals ------------------------------------------------------------


def encode_segmentation(ids: np.ndarray, labels: Mapping[int, int], size: tuple[int, int] | None = None) -> np.ndarray:
    """Colour instance ids with the ADE20K palette.

    Args:
        ids: (..., H, W) integer instance ids, 0 = background.
        labels: instance id -> palette index (``palette.HAND_LABEL`` = 149 for hands, the object's
            ``seg_id`` for objects). Id 0 is always background (black).
        size: optional (height, width) to resize to, nearest neighbour.
    Returns:
        (..., H, W, 3) uint8 RGB.
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids: expected an integer array, got {ids.dtype}")
    lut = np.full(max([int(ids.max(initial=0))] + list(labels)) + 1, -1, np.int64)
    lut[0] = BACKGROUND_LABEL
    for instance, label in labels.items():
        if instance == 0 or not 0 <= label < len(ADE20K_PALETTE):
            raise ValueError(f"labels: bad entry {instance} -> {label} (ids >= 1, palette index 0..150)")
        lut[instance] = label
    present = np.flatnonzero(np.bincount(ids.reshape(-1), minlength=len(lut)))
    unknown = present[lut[present] < 0]
    if unknown.size:
        raise ValueError(f"ids: instance ids {unknown.tolist()} have no entry in labels")
    if size is not None:
        ids = resize_nearest(ids, *size)
    colours = ADE20K_PALETTE[np.maximum(lut, 0)]
    out = np.empty(ids.shape + (3,), np.uint8)
    for frame, rgb in zip(ids.reshape(-1, *ids.shape[-2:]), out.reshape(-1, *out.shape[-3:])):
        np.take(colours, frame, axis=0, out=rgb)  # per frame: much faster than one huge gather
    return out


def resize_nearest(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (..., H, W) label images by nearest neighbour (source index floor(i * H / height), as
    PyTorch's "nearest" mode used by the release); no new values appear."""
    labels = np.asarray(labels)
    h, w = labels.shape[-2:]
    rows = np.arange(height) * h // height
    cols = np.arange(width) * w // width
    return labels[..., rows[:, None], cols[None, :]]


def depth_range(depth: np.ndarray) -> tuple[float, float] | None:
    """(nearest, farthest) positive depth of an array (a whole clip), or None when all is background."""
    depth = np.asarray(depth, dtype=np.float32)
    fg = depth > 0
    if not fg.any():
        return None
    return float(np.min(depth, where=fg, initial=np.inf)), float(np.max(depth, where=fg, initial=0.0))


def encode_depth(
    depth: np.ndarray, far_level: float = DEPTH_FAR_LEVEL, near_far: tuple[float, float] | None = None
) -> np.ndarray:
    """Inferno colour map of per-clip normalised depth: near = bright, background (depth 0) black.

    Args:
        depth: (T, H, W) or (H, W) metric depth, 0 on background.
        far_level: colour-map position of the farthest depth (the nearest maps to 1).
        near_far: the clip's (nearest, farthest) foreground depth, for encoding a clip frame by
            frame; default ``depth_range(depth)``.
    Returns:
        (..., H, W, 3) uint8 RGB.
    """
    depth = np.asarray(depth, dtype=np.float32)
    out = np.zeros(depth.shape + (3,), np.uint8)
    near_far = near_far or depth_range(depth)
    if near_far is None:
        return out
    near, far = near_far
    # colour-map index 255 * (far_level + (1 - far_level) * (far - d) / (far - near)), rounded and clipped
    scale = -255.0 * (1.0 - far_level) / max(far - near, 1e-9)
    offset = 255.0 * far_level - scale * far
    for d, mask, rgb in _frames(depth, depth > 0, out):
        _masked_copy(np.take(_INFERNO, cv2.convertScaleAbs(d, alpha=scale, beta=offset), axis=0), mask, rgb)
    return out


def encode_normals(normals: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Normals as RGB, matching the official sample ``dexycb/val_normal.mp4``.

    rgb = (1 - n) / 2 * 255 for a unit normal n in the OpenCV camera frame, i.e. red grows with
    left-facing, green with upward-facing and blue with camera-facing surfaces (a surface facing
    the camera is (128, 128, 255)). Background is black.

    Args:
        normals: (..., H, W, 3) float.
        mask: (..., H, W) bool foreground; default: where the normal is non-zero.
    Returns:
        (..., H, W, 3) uint8.
    """
    normals = np.asarray(normals, dtype=np.float32)
    if mask is None:
        mask = np.any(normals != 0, axis=-1)
    out = np.zeros(normals.shape, np.uint8)
    for n, fg, rgb in _frames(normals, np.asarray(mask, dtype=bool), out):
        _masked_copy(cv2.convertScaleAbs(n, alpha=-127.5, beta=127.5), fg, rgb)
    return out


def _frames(values: np.ndarray, mask: np.ndarray, out: np.ndarray):
    """Iterate (value, mask, out) per image over the leading axes of (..., H, W[, C]) arrays."""
    h, w = mask.shape[-2:]
    return zip(values.reshape(-1, h, w, *values.shape[mask.ndim :]), mask.reshape(-1, h, w), out.reshape(-1, h, w, 3))


def _masked_copy(src: np.ndarray, mask: np.ndarray, dst: np.ndarray) -> None:
    """dst[mask] = src[mask] for (H, W, 3) uint8 images and an (H, W) bool mask, in place."""
    cv2.copyTo(src, mask.view(np.uint8), dst)
