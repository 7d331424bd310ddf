"""Condition renderer: rasterizer (depth, instance ids, normals), condition encoders, video I/O."""

from pam.render.conditions import CONDITION_NAMES, encode_conditions, project_joints, write_condition_videos
from pam.render.encoders import (
    draw_hand_skeleton,
    encode_depth,
    encode_hand_keypoints,
    encode_normals,
    encode_segmentation,
    resize_nearest,
)
from pam.render.palette import ADE20K_PALETTE, BACKGROUND_LABEL, HAND_LABEL
from pam.render.preview import contact_sheet, tile_videos
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
from pam.render.video import VideoError, VideoInfo, load_arrays, probe_video, read_video, save_arrays, write_video

__all__ = [
    "ADE20K_PALETTE",
    "BACKGROUND_LABEL",
    "CONDITION_NAMES",
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
    "contact_sheet",
    "draw_hand_skeleton",
    "encode_conditions",
    "encode_depth",
    "encode_hand_keypoints",
    "encode_normals",
    "encode_segmentation",
    "load_arrays",
    "make_rasterizer",
    "probe_video",
    "project_joints",
    "read_video",
    "resize_nearest",
    "save_arrays",
    "tile_videos",
    "write_condition_videos",
    "write_video",
]
