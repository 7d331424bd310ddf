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
from typing import Callable, Sequence

import numpy as np
import scipy.sparse

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


_INCIDENCE_CACHE: dict[int, tuple[np.ndarray, int, scipy.sparse.csr_matrix]] = {}


def _incidence(faces: np.ndarray, num_vertices: int) -> scipy.sparse.csr_matrix:
    """(V, F) sparse vertex-face incidence of ``faces``, cached for the face arrays seen last.

    A cache entry holds its face array, so its ``id`` cannot be reused while cached; face arrays
    must not be modified in place between calls.
    """
    entry = _INCIDENCE_CACHE.get(id(faces))
    if entry is not None and entry[0] is faces and entry[1] == num_vertices:
        return entry[2]
    rows = faces.reshape(-1)
    cols = np.repeat(np.arange(len(faces)), 3)
    matrix = scipy.sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(num_vertices, len(faces))
    )
    if len(_INCIDENCE_CACHE) >= 16:
        _INCIDENCE_CACHE.pop(next(iter(_INCIDENCE_CACHE)))
    _INCIDENCE_CACHE[id(faces)] = (faces, num_vertices, matrix)
    return matrix


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) unnormalised face normals (length = twice the triangle area, right-hand winding)."""
    a = vertices[faces[:, 0]]
    b, c = vertices[faces[:, 1]] - a, vertices[faces[:, 2]] - a
    n = np.empty_like(b)  # the cross product b x c, written out: faster than np.cross
    n[:, 0] = b[:, 1] * c[:, 2] - b[:, 2] * c[:, 1]
    n[:, 1] = b[:, 2] * c[:, 0] - b[:, 0] * c[:, 2]
    n[:, 2] = b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0]
    return n


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals of a mesh (zero for unused vertices)."""
    n = _incidence(faces, len(vertices)) @ face_normals(vertices.astype(np.float32), faces)
    norm = np.sqrt(np.einsum("ij,ij->i", n, n))[:, None]
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


class Rasterizer(abc.ABC):
    """Renders lists of meshes; ``render`` for one frame, ``render_clip`` for many."""

    name: str

    def __init__(self, normals: str = "smooth") -> None:
        if normals not in NORMAL_MODES:
            raise ValueError(f"normals: expected one of {NORMAL_MODES}, got {normals!r}")
        self.normals = normals

    @abc.abstractmethod
    def _render_into(self, meshes: Sequence[Mesh], camera: Camera, frame: int, out: Render) -> None:
        """Draw into ``out`` (zero-filled arrays of the camera's size)."""

    def render(self, meshes: Sequence[Mesh], camera: Camera, frame: int = 0) -> Render:
        """Render ``meshes`` (world coordinates) with ``camera`` at ``frame`` (for a moving camera)."""
        out = Render(*_zeros((), camera.height, camera.width))
        self._render_into([m for m in meshes if len(m.faces)], camera, frame, out)
        return out

    def render_clip(
        self,
        meshes_per_frame: Sequence[Sequence[Mesh]],
        camera: Camera,
        on_frame: Callable[[int], None] | None = None,
    ) -> RenderedClip:
        """Render frame t with ``meshes_per_frame[t]`` and the camera pose of frame t.

        ``on_frame(t)`` is called after each frame (e.g. to advance a progress bar).
        """
        if not len(meshes_per_frame):
            raise RenderError("render_clip: no frames given")
        clip = RenderedClip(*_zeros((len(meshes_per_frame),), camera.height, camera.width))
        for t, meshes in enumerate(meshes_per_frame):
            out = Render(clip.depth[t], clip.ids[t], clip.normals[t])
            self._render_into([m for m in meshes if len(m.faces)], camera, t, out)
            if on_frame is not None:
                on_frame(t)
        return clip

    def close(self) -> None:
        """Release backend resources."""

    def __enter__(self) -> "Rasterizer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _zeros(lead: tuple[int, ...], height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero depth (float32), ids (uint16) and normals (float32, 3) arrays of shape lead + (H, W)."""
    return (
        np.zeros(lead + (height, width), np.float32),
        np.zeros(lead + (height, width), np.uint16),
        np.zeros(lead + (height, width, 3), np.float32),
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
layout(location = 0) out float out_depth;
layout(location = 1) out vec4 out_normal;
layout(location = 2) out float out_id;
void main() {
    vec3 face = cross(dFdx(v_pos), dFdy(v_pos));
    vec3 n = (flat_normals || dot(v_normal, v_normal) < 1e-12) ? face : v_normal;  // degenerate: flat
    n = normalize(n);
    if (dot(n, v_pos) > 0.0) n = -n;  // face the camera (the view ray is v_pos)
    out_depth = v_pos.z;
    out_normal = vec4(n, 0.0);
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
                    ctx.renderbuffer((width, height), components=1, dtype="f4"),  # depth
                    ctx.renderbuffer((width, height), components=4, dtype="f4"),  # normal
                    ctx.renderbuffer((width, height), components=1, dtype="f4"),  # id
                ],
                depth_attachment=ctx.depth_renderbuffer((width, height)),
            )
            self._size = (height, width)
            self._ids = np.empty((height, width), np.float32)
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

    def _render_into(self, meshes: Sequence[Mesh], camera: Camera, frame: int, out: Render) -> None:
        if not meshes:
            return
        cam_vertices = [camera.world_to_camera(m.vertices, frame) for m in meshes]
        sizes = np.cumsum([0] + [len(v) for v in cam_vertices])
        vertex_data = np.zeros((sizes[-1], 7), np.float32)  # position, normal, id
        index_data = np.concatenate([m.faces + o for m, o in zip(meshes, sizes)]).astype(np.uint32)
        for m, v, start, stop in zip(meshes, cam_vertices, sizes[:-1], sizes[1:]):
            vertex_data[start:stop, :3] = v
            if self.normals == "smooth":
                vertex_data[start:stop, 3:6] = vertex_normals(v, m.faces)
            vertex_data[start:stop, 6] = m.instance_id
        with self._ctx:  # make this context current: other contexts may have been created since
            self._draw(vertex_data, index_data, camera, out)

    def _draw(self, vertex_data: np.ndarray, index_data: np.ndarray, camera: Camera, out: Render) -> None:
        H, W = camera.height, camera.width
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

        fbo.read_into(out.depth, components=1, attachment=0, dtype="f4")
        fbo.read_into(out.normals, components=3, attachment=1, dtype="f4")
        fbo.read_into(self._ids, components=1, attachment=2, dtype="f4")
        out.ids[...] = self._ids

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self._ctx.release()
            self._ctx = None


# --- ray casting fallback ----------------------------------------------------------------------


def pixel_rays(camera: Camera) -> np.ndarray:
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

    def _render_into(self, meshes: Sequence[Mesh], camera: Camera, frame: int, out: Render) -> None:
        import trimesh

        if not meshes:
            return
        cam_vertices = [camera.world_to_camera(m.vertices, frame) for m in meshes]
        offsets = np.cumsum([0] + [len(v) for v in cam_vertices])
        vertices = np.concatenate(cam_vertices)
        faces = np.concatenate([m.faces + o for m, o in zip(meshes, offsets)])
        face_ids = np.concatenate([np.full(len(m.faces), m.instance_id, np.uint16) for m in meshes])
        scene = trimesh.Trimesh(vertices, faces, process=False, validate=False)

        dirs = pixel_rays(camera)
        hit_pos, hit_ray, hit_tri = self._intersector_cls(scene, scale_to_box=False).intersects_location(
            np.zeros_like(dirs), dirs, multiple_hits=False
        )

        n = face_normals(vertices, faces[hit_tri])
        if self.normals == "smooth":
            bary = trimesh.triangles.points_to_barycentric(vertices[faces[hit_tri]], hit_pos)
            vn = np.concatenate([vertex_normals(v, m.faces) for m, v in zip(meshes, cam_vertices)])[faces[hit_tri]]
            smooth = np.einsum("nk,nkc->nc", bary, vn)
            ok = np.einsum("nc,nc->n", smooth, smooth) >= 1e-12  # degenerate interpolation: keep flat
            n[ok] = smooth[ok]
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        n[np.einsum("nc,nc->n", n, hit_pos) > 0] *= -1

        out.depth.reshape(-1)[hit_ray] = hit_pos[:, 2]
        out.ids.reshape(-1)[hit_ray] = face_ids[hit_tri]
        out.normals.reshape(-1, 3)[hit_ray] = n


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
