"""Condition renderer: rasterizer (depth, instance ids, normals), condition encoders, video I/O."""

from pam.render.conditions import (
    CONDITION_NAMES,
    iter_condition_frames,
    project_joints,
    stack_condition_frames,
    write_condition_videos,
)
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
from pam.render.video import (
    VideoError,
    VideoInfo,
    VideoWriter,
    load_arrays,
    probe_video,
    read_video,
    save_arrays,
    write_video,
)

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
    "VideoWriter",
    "contact_sheet",
    "depth_range",
    "draw_hand_skeleton",
    "encode_depth",
    "encode_hand_keypoints",
    "encode_normals",
    "encode_segmentation",
    "iter_condition_frames",
    "load_arrays",
    "make_rasterizer",
    "probe_video",
    "project_joints",
    "read_video",
    "resize_nearest",
    "save_arrays",
    "stack_condition_frames",
    "tile_videos",
    "write_condition_videos",
    "write_video",
]
