"""Condition renderer: rasterizer (depth, instance ids, normals), condition encoders, video I/O."""

from pam.render.encoders import (
    encode_depth,
    encode_hand_keypoints,
    encode_normals,
    encode_segmentation,
)
from pam.render.palette import ADE20K_PALETTE, HAND_LABEL
from pam.render.rasterizer import (
    GLRasterizer,
    Mesh,
    RayRasterizer,
    Render,
    RenderedClip,
    RenderError,
    make_rasterizer,
)
from pam.render.video import VideoError, load_arrays, probe_video, read_video, save_arrays, write_video

__all__ = [
    "ADE20K_PALETTE",
    "HAND_LABEL",
    "GLRasterizer",
    "Mesh",
    "RayRasterizer",
    "Render",
    "RenderedClip",
    "RenderError",
    "VideoError",
    "encode_depth",
    "encode_hand_keypoints",
    "encode_normals",
    "encode_segmentation",
    "load_arrays",
    "make_rasterizer",
    "probe_video",
    "read_video",
    "save_arrays",
    "write_video",
]
