"""Per-frame depth, instance ids and normals of triangle meshes seen by a pinhole camera.

Two backends with the same interface and the same pixel convention (a pixel is covered when
its centre, at integer OpenCV coordinates ``(u, v)``, falls inside a projected triangle):

- ``GLRasterizer``: OpenGL 3.3 through moderngl on a headless EGL context (Mesa llvmpipe works
  without a GPU). The camera-frame z is written to a float32 colour attachment, so the depth read
  back is exact (the nonlinear depth buffer only decides visibility).
- ``RayRasterizer``: the fallback when no GL context can be made; one ray per pixel centre cast
  with trimesh's Embree intersector (``embreex``).

``make_rasterizer()`` picks GL and falls back with a warning; ``backend=`` or the environment
variable ``PAM_RENDER_BACKEND`` (``auto``, ``gl`` or ``ray``) forces one.

Outputs per frame (``Render``): ``depth`` (H, W) float32 metres along the camera z axis, 0 on
background; ``ids`` (H, W) uint16 instance ids, 0 on background; ``normals`` (H, W, 3) float32
unit surface normals in the OpenCV camera frame, turned to face the camera, 0 on background.
Normals are ``"smooth"`` (area-weighted vertex normals interpolated over each triangle, the
default) or ``"flat"`` (the triangle's own normal).
"""

from __future__ import annotations

import abc
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from pam.sequence import Camera

BACKEND_ENV = "PAM_RENDER_BACKEND"
NORMAL_MODES = ("smooth", "flat")


class RenderError(RuntimeError):
    """A rendering backend cannot be used, or the input meshes are malformed."""


@dataclass
class Mesh:
    """A triangle mesh to draw, in world coordinates.

    Attributes:
        vertices: (V, 3) positions in metres (world frame).
        faces: (F, 3) vertex indices.
        instance_id: 1..65535, written to ``Render.ids`` where this mesh is visible.
    """

    vertices: np.ndarray
    faces: np.ndarray
    instance_id: int

    def __post_init__(self) -> None:
        self.vertices = np.asarray(self.vertices, dtype=np.float64)
        self.faces = np.asarray(self.faces)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise RenderError(f"mesh {self.instance_id}: vertices must be (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or not np.issubdtype(self.faces.dtype, np.integer):
            raise RenderError(f"mesh {self.instance_id}: faces must be integer (F, 3), got {self.faces.dtype} {self.faces.shape}")
        if not np.all(np.isfinite(self.vertices)):
            raise RenderError(f"mesh {self.instance_id}: vertices contain NaN or inf")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise RenderError(f"mesh {self.instance_id}: face indices out of range 0..{len(self.vertices) - 1}")
        if not 1 <= int(self.instance_id) <= 65535:
            raise RenderError(f"mesh instance_id must be in 1..65535, got {self.instance_id}")
        self.instance_id = int(self.instance_id)


@dataclass
class Render:
    """One rendered frame; see the module docstring for units and conventions."""

    depth: np.ndarray
    ids: np.ndarray
    normals: np.ndarray


@dataclass
class RenderedClip:
    """Renders of T frames stacked: depth (T, H, W), ids (T, H, W), normals (T, H, W, 3)."""

    depth: np.ndarray
    ids: np.ndarray
    normals: np.ndarray


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a mesh (zero for unused vertices)."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    idx = faces.reshape(-1)
    n = np.stack(
        [np.bincount(idx, weights=np.repeat(face_n[:, k], 3), minlength=len(vertices)) for k in range(3)], axis=1
    )
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


def _to_camera(meshes: Sequence[Mesh], camera: Camera, frame: int) -> list[np.ndarray]:
    R, t = camera.extrinsics(frame)
    return [m.vertices @ R.T + t for m in meshes]


class Rasterizer(abc.ABC):
    """Renders lists of meshes; ``render`` for one frame, ``render_clip`` for many."""

    name: str

    def __init__(self, normals: str = "smooth") -> None:
        if normals not in NORMAL_MODES:
            raise ValueError(f"normals: expected one of {NORMAL_MODES}, got {normals!r}")
        self.normals = normals

    @abc.abstractmethod
    def render(self, meshes: Sequence[Mesh], camera: Camera, frame: int = 0) -> Render:
        """Render ``meshes`` (world coordinates) with ``camera`` at ``frame`` (for a moving camera)."""

    def render_clip(self, meshes_per_frame: Iterable[Sequence[Mesh]], camera: Camera) -> RenderedClip:
        """Render frame t with ``meshes_per_frame[t]`` and the camera pose of frame t."""
        frames = [self.render(meshes, camera, t) for t, meshes in enumerate(meshes_per_frame)]
        if not frames:
            raise RenderError("render_clip: no frames given")
        return RenderedClip(
            depth=np.stack([f.depth for f in frames]),
            ids=np.stack([f.ids for f in frames]),
            normals=np.stack([f.normals for f in frames]),
        )

    def close(self) -> None:
        """Release backend resources."""

    def __enter__(self) -> "Rasterizer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _empty(height: int, width: int) -> Render:
    return Render(
        depth=np.zeros((height, width), np.float32),
        ids=np.zeros((height, width), np.uint16),
        normals=np.zeros((height, width, 3), np.float32),
    )


# --- OpenGL ------------------------------------------------------------------------------------

_VERTEX_SHADER = """
#version 330
uniform mat4 proj;
in vec3 in_pos;
in vec3 in_normal;
in float in_id;
out vec3 v_pos;
out vec3 v_normal;
flat out float v_id;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_id = in_id;
    gl_Position = proj * vec4(in_pos, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform bool flat_normals;
in vec3 v_pos;
in vec3 v_normal;
flat in float v_id;
layout(location = 0) out vec4 out_depth_normal;
layout(location = 1) out float out_id;
void main() {
    vec3 n = flat_normals ? cross(dFdx(v_pos), dFdy(v_pos)) : v_normal;
    n = normalize(n);
    if (dot(n, v_pos) > 0.0) n = -n;  // face the camera (the view ray is v_pos)
    out_depth_normal = vec4(v_pos.z, n);
    out_id = v_id;
}
"""


def gl_projection(K: np.ndarray, height: int, width: int, near: float, far: float) -> np.ndarray:
    """(4, 4) clip matrix for OpenCV camera-frame points.

    Pixel centre ``(u, v)`` maps to the centre of GL pixel ``(u, v)``; y is not flipped, so row 0
    of the framebuffer read back is image row 0 (top).
    """
    fx, fy, cx, cy, s = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    P = np.zeros((4, 4))
    P[0, 0], P[0, 1], P[0, 2] = 2 * fx / width, 2 * s / width, (2 * cx + 1) / width - 1
    P[1, 1], P[1, 2] = 2 * fy / height, (2 * cy + 1) / height - 1
    P[2, 2], P[2, 3] = (far + near) / (far - near), -2 * far * near / (far - near)
    P[3, 2] = 1.0
    return P


class GLRasterizer(Rasterizer):
    """OpenGL rasterizer on a headless EGL context, created once and reused across frames.

    ``near``/``far`` (metres) bound the camera-frame z range that is drawn.
    """

    name = "gl"

    def __init__(self, normals: str = "smooth", near: float = 0.01, far: float = 100.0) -> None:
        super().__init__(normals)
        if not 0 < near < far:
            raise ValueError(f"near/far: need 0 < near < far, got {near}, {far}")
        self.near, self.far = near, far
        try:
            import moderngl

            self._ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:  # missing libEGL, no device, ...
            raise RenderError(f"cannot create a headless OpenGL (EGL) context: {exc}") from exc
        self._moderngl = moderngl
        self._prog = self._ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self._fbo = None
        self._size: tuple[int, int] | None = None
        self._vbo = self._ibo = self._vao = None

    def _framebuffer(self, height: int, width: int):
        if self._size != (height, width):
            if self._fbo is not None:
                for att in (*self._fbo.color_attachments, self._fbo.depth_attachment):
                    att.release()
                self._fbo.release()
            ctx = self._ctx
            self._fbo = ctx.framebuffer(
                color_attachments=[
                    ctx.renderbuffer((width, height), components=4, dtype="f4"),
                    ctx.renderbuffer((width, height), components=1, dtype="f4"),
                ],
                depth_attachment=ctx.depth_renderbuffer((width, height)),
            )
            self._size = (height, width)
        return self._fbo

    def _upload(self, vertex_data: np.ndarray, index_data: np.ndarray) -> None:
        """Write the interleaved vertices and indices, growing the buffers when needed."""
        vbytes, ibytes = vertex_data.tobytes(), index_data.tobytes()
        if self._vbo is None or self._vbo.size < len(vbytes) or self._ibo.size < len(ibytes):
            for obj in (self._vao, self._vbo, self._ibo):
                if obj is not None:
                    obj.release()
            self._vbo = self._ctx.buffer(reserve=max(len(vbytes), 1 << 16) * 2)
            self._ibo = self._ctx.buffer(reserve=max(len(ibytes), 1 << 16) * 2)
            self._vao = self._ctx.vertex_array(
                self._prog, [(self._vbo, "3f 3f 1f", "in_pos", "in_normal", "in_id")], index_buffer=self._ibo,
                index_element_size=4,
            )
        self._vbo.write(vbytes)
        self._ibo.write(ibytes)

    def render(self, meshes: Sequence[Mesh], camera: Camera, frame: int = 0) -> Render:
        H, W = camera.height, camera.width
        meshes = [m for m in meshes if len(m.faces)]
        if not meshes:
            return _empty(H, W)
        cam_vertices = _to_camera(meshes, camera, frame)
        parts, indices, offset = [], [], 0
        for m, v in zip(meshes, cam_vertices):
            n = vertex_normals(v, m.faces) if self.normals == "smooth" else np.zeros_like(v)
            ids = np.full((len(v), 1), m.instance_id, np.float64)
            parts.append(np.hstack([v, n, ids]))
            indices.append(m.faces + offset)
            offset += len(v)
        vertex_data = np.concatenate(parts).astype(np.float32)
        index_data = np.concatenate(indices).astype(np.uint32)
        self._upload(vertex_data, index_data)

        fbo = self._framebuffer(H, W)
        fbo.use()
        fbo.viewport = (0, 0, W, H)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._ctx.enable(self._moderngl.DEPTH_TEST)
        self._ctx.disable(self._moderngl.CULL_FACE)
        self._prog["proj"].write(gl_projection(camera.K, H, W, self.near, self.far).T.astype("f4").tobytes())
        self._prog["flat_normals"].value = self.normals == "flat"
        self._vao.render(self._moderngl.TRIANGLES, vertices=index_data.size)

        dn = np.frombuffer(fbo.read(components=4, attachment=0, dtype="f4"), np.float32).reshape(H, W, 4)
        ids = np.frombuffer(fbo.read(components=1, attachment=1, dtype="f4"), np.float32).reshape(H, W)
        return Render(depth=dn[..., 0].copy(), ids=np.rint(ids).astype(np.uint16), normals=dn[..., 1:].copy())

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self._ctx.release()
            self._ctx = None


# --- ray casting fallback ----------------------------------------------------------------------


def pixel_rays(camera: Camera, frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame ray directions (H*W, 3) through the pixel centres, row-major, with z = 1."""
    H, W = camera.height, camera.width
    v, u = np.mgrid[0:H, 0:W]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(H * W)], axis=1).astype(np.float64)
    return pix @ np.linalg.inv(camera.K).T


class RayRasterizer(Rasterizer):
    """Ray-casting fallback (trimesh + Embree): one ray per pixel centre, nearest hit wins."""

    name = "ray"

    def __init__(self, normals: str = "smooth") -> None:
        super().__init__(normals)
        try:
            from trimesh.ray.ray_pyembree import RayMeshIntersector  # needs embreex
        except Exception as exc:
            raise RenderError(f"ray-casting fallback needs embreex: {exc}") from exc
        self._intersector_cls = RayMeshIntersector

    def render(self, meshes: Sequence[Mesh], camera: Camera, frame: int = 0) -> Render:
        import trimesh

        H, W = camera.height, camera.width
        out = _empty(H, W)
        meshes = [m for m in meshes if len(m.faces)]
        if not meshes:
            return out
        cam_vertices = _to_camera(meshes, camera, frame)
        offsets = np.cumsum([0] + [len(v) for v in cam_vertices])
        vertices = np.concatenate(cam_vertices)
        faces = np.concatenate([m.faces + o for m, o in zip(meshes, offsets)])
        face_ids = np.concatenate([np.full(len(m.faces), m.instance_id, np.uint16) for m in meshes])
        scene = trimesh.Trimesh(vertices, faces, process=False, validate=False)

        dirs = pixel_rays(camera, frame)
        hit_pos, hit_ray, hit_tri = self._intersector_cls(scene, scale_to_box=False).intersects_location(
            np.zeros_like(dirs), dirs, multiple_hits=False
        )
        keep = hit_pos[:, 2] > 0
        hit_tri, hit_ray, hit_pos = hit_tri[keep], hit_ray[keep], hit_pos[keep]

        if self.normals == "smooth":
            bary = trimesh.triangles.points_to_barycentric(vertices[faces[hit_tri]], hit_pos)
            vn = vertex_normals(vertices, faces)[faces[hit_tri]]
            n = np.einsum("nk,nkc->nc", bary, vn)
        else:
            tri = vertices[faces[hit_tri]]
            n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        n[np.einsum("nc,nc->n", n, hit_pos) > 0] *= -1

        out.depth.reshape(-1)[hit_ray] = hit_pos[:, 2]
        out.ids.reshape(-1)[hit_ray] = face_ids[hit_tri]
        out.normals.reshape(-1, 3)[hit_ray] = n
        return out


# --- backend choice ----------------------------------------------------------------------------


def make_rasterizer(backend: str | None = None, normals: str = "smooth") -> Rasterizer:
    """A rasterizer: ``backend`` "gl", "ray" or "auto" (default: ``$PAM_RENDER_BACKEND`` or "auto").

    "auto" tries OpenGL and falls back to ray casting with a warning.
    """
    backend = (backend or os.environ.get(BACKEND_ENV) or "auto").lower()
    if backend == "gl":
        return GLRasterizer(normals=normals)
    if backend == "ray":
        return RayRasterizer(normals=normals)
    if backend != "auto":
        raise ValueError(f"render backend: expected 'auto', 'gl' or 'ray', got {backend!r} (from {BACKEND_ENV}?)")
    try:
        return GLRasterizer(normals=normals)
    except RenderError as exc:
        warnings.warn(f"{exc}; falling back to ray casting (slower)", RuntimeWarning, stacklevel=2)
        return RayRasterizer(normals=normals)
