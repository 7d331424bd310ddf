"""Condition renderer: rasterizer (depth, instance ids, normals), condition encoders, video I/O."""

from pam.render.encoders import (
    depth_range,
    draw_hand_skeleton,
    encode_depth,
    encode_hand_keypoints,
    encode_normals,
    encode_segmentation,
    resize_nearest,
)
from pam.render.palette import ADE20K_PALETTE, BACKGROUND_LABEL, HAND_LABEL
from pam.render.rasterizer import (
    GLRasterizer,
    Mesh,
    Rasterizer,
    RayRasterizer,
    Render,
    RenderedClip,
    RenderError,
    make_rasterizer,
)
from pam.render.video import (
    VideoError,
    VideoInfo,
    VideoWriter,
    probe_video,
    read_video,
    write_video,
    write_videos,
)

__all__ = [
    "ADE20K_PALETTE",
    "BACKGROUND_LABEL",
    "HAND_LABEL",
    "GLRasterizer",
    "Mesh",
    "Rasterizer",
    "RayRasterizer",
    "Render",
    "RenderedClip",
    "RenderError",
    "VideoError",
    "VideoInfo",
    "VideoWriter",
    "depth_range",
    "draw_hand_skeleton",
    "encode_depth",
    "encode_hand_keypoints",
    "encode_normals",
    "encode_segmentation",
    "make_rasterizer",
    "probe_video",
    "read_video",
    "resize_nearest",
    "write_video",
    "write_videos",
]
