"""Rasterizer against closed forms: planes, spheres, projected markers, areas; GL vs ray casting."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from pam.render.rasterizer import (
    BACKEND_ENV,
    GLRasterizer,
    Mesh,
    RayRasterizer,
    RenderError,
    gl_projection,
    make_rasterizer,
    pixel_rays,
)
from pam.rotations import axis_angle_to_matrix_np
from pam.sequence import Camera

H, W = 240, 320


@pytest.fixture(scope="module")
def gl():
    try:
        rast = GLRasterizer()
    except RenderError as exc:
        pytest.skip(f"no EGL context: {exc}")
    yield rast
    rast.close()


@pytest.fixture(params=["gl", "ray"])
def rasterizer(request):
    if request.param == "gl":
        return request.getfixturevalue("gl")
    return RayRasterizer()


def posed_camera() -> Camera:
    """A camera with a non-trivial pose and an off-centre principal point."""
    K = np.array([[300.0, 0.0, 150.3], [0.0, 310.0, 125.7], [0.0, 0.0, 1.0]])
    R = axis_angle_to_matrix_np(np.array([0.3, -0.2, 0.1]))
    return Camera(K=K, R=R, t=np.array([0.05, -0.02, 0.1]), height=H, width=W)


def to_world(camera: Camera, points_cam: np.ndarray, frame: int = 0) -> np.ndarray:
    R, t = camera.extrinsics(frame)
    return (points_cam - t) @ R


def sphere(camera: Camera, centre_cam, radius: float, instance_id: int, subdivisions: int = 4, frame: int = 0) -> Mesh:
    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(to_world(camera, s.vertices + np.asarray(centre_cam), frame), s.faces, instance_id)


def quad(camera: Camera, centre_cam, u_axis, v_axis, instance_id: int) -> Mesh:
    c, a, b = (np.asarray(x, float) for x in (centre_cam, u_axis, v_axis))
    corners = np.stack([c - a - b, c + a - b, c + a + b, c - a + b])
    return Mesh(to_world(camera, corners), np.array([[0, 1, 2], [0, 2, 3]]), instance_id)


def test_tilted_plane_depth_and_normal(rasterizer):
    cam = posed_camera()
    normal = np.array([0.3, -0.2, -1.0])
    normal /= np.linalg.norm(normal)
    point = np.array([0.0, 0.0, 0.8])
    a = np.cross(normal, [0.0, 1.0, 0.0])
    b = np.cross(normal, a)
    out = rasterizer.render([quad(cam, point, 3 * a, 3 * b, 7)], cam)
    dirs = pixel_rays(cam).reshape(H, W, 3)
    expected = (normal @ point) / (dirs @ normal)  # ray z = 1, so the ray parameter is the depth
    assert np.all(out.ids == 7)
    assert np.abs(out.depth - expected).max() < 1e-3
    np.testing.assert_allclose(out.normals.reshape(-1, 3), np.broadcast_to(normal, (H * W, 3)), atol=1e-4)


def test_sphere_depth_matches_ray_sphere_intersection(rasterizer):
    cam = posed_camera()
    centre, r = np.array([0.03, -0.02, 0.6]), 0.12
    out = rasterizer.render([sphere(cam, centre, r, 3)], cam)
    d = pixel_rays(cam)
    a = np.einsum("ij,ij->i", d, d)
    b = -2 * d @ centre
    c = centre @ centre - r * r
    disc = b * b - 4 * a * c
    ray_to_centre = np.sqrt(np.maximum(centre @ centre - (d @ centre) ** 2 / a, 0))
    inside = ray_to_centre < 0.9 * r  # well inside the silhouette
    t = (-b - np.sqrt(np.where(disc > 0, disc, 0))) / (2 * a)
    expected = t.reshape(H, W)  # d has z = 1
    inside = inside.reshape(H, W)
    assert inside.sum() > 5000
    assert np.all(out.ids[inside] == 3)
    assert np.abs(out.depth[inside] - expected[inside]).max() < 1e-3
    # smooth normals are radial, facing the camera
    hit = d.reshape(H, W, 3)[inside] * expected[inside][:, None]
    radial = (hit - centre) / r
    cos = np.einsum("ij,ij->i", out.normals[inside], radial)
    assert np.percentile(cos, 1) > 0.999


def test_disc_area_matches_analytic(rasterizer):
    f = 300.0
    cam = Camera(K=np.array([[f, 0, W / 2 - 0.5], [0, f, H / 2 - 0.5], [0, 0, 1]]), height=H, width=W)
    z, r = 0.7, 0.1
    out = rasterizer.render([sphere(cam, [0, 0, z], r, 1, subdivisions=5)], cam)
    rho = f * r / np.sqrt(z * z - r * r)
    assert abs((out.ids == 1).sum() / (np.pi * rho * rho) - 1) < 0.01
    assert np.all(out.ids[out.depth == 0] == 0) and np.all(out.depth[out.ids > 0] > 0)


def test_markers_land_on_projection(rasterizer):
    """Fronto-parallel squares project to squares centred on K (R X + t) of their centres."""
    cam = posed_camera()
    centres = np.array([[0.1, 0.05, 0.9], [-0.15, -0.1, 0.6], [0.02, 0.12, 1.3]])
    meshes = [quad(cam, c, [0.006, 0, 0], [0, 0.006, 0], i + 1) for i, c in enumerate(centres)]
    out = rasterizer.render(meshes, cam)
    expected = cam.project(to_world(cam, centres))
    for i in range(len(centres)):
        v, u = np.nonzero(out.ids == i + 1)
        assert len(u) > 4
        assert np.hypot(u.mean() - expected[i, 0], v.mean() - expected[i, 1]) < 0.5


def test_occlusion_and_moving_camera(rasterizer):
    base = posed_camera()
    Rs = np.stack([base.R, axis_angle_to_matrix_np(np.array([0.0, 0.4, 0.0]))])
    cam = Camera(K=base.K, R=Rs, t=np.stack([base.t, [0.1, 0.0, 0.3]]), height=H, width=W)
    u, v = np.rint(base.K[:2, 2]).astype(int)
    for frame in (0, 1):  # the same camera-frame layout seen from two camera poses
        near = sphere(cam, [0, 0, 0.5], 0.05, 1, frame=frame)
        far = sphere(cam, [0, 0, 0.8], 0.2, 2, frame=frame)
        out = rasterizer.render([far, near], cam, frame)
        assert out.ids[v, u] == 1
        assert abs(out.depth[v, u] - 0.45) < 1e-3
        assert (out.ids == 2).sum() > (out.ids == 1).sum() > 100


def test_render_clip_and_empty_frames(rasterizer):
    cam = posed_camera()
    done = []
    clip = rasterizer.render_clip([[sphere(cam, [0, 0, 0.5], 0.05, 4)], []], cam, on_frame=done.append)
    assert done == [0, 1]
    assert clip.depth.shape == (2, H, W) and clip.depth.dtype == np.float32
    assert clip.ids.shape == (2, H, W) and clip.ids.dtype == np.uint16
    assert clip.normals.shape == (2, H, W, 3) and clip.normals.dtype == np.float32
    assert (clip.ids[0] == 4).any() and not clip.ids[1].any() and not clip.depth[1].any()


def test_gl_and_ray_agree(gl):
    cam = posed_camera()
    box = trimesh.creation.box(extents=[0.2, 0.15, 0.1])
    box.apply_transform(trimesh.transformations.rotation_matrix(0.5, [1, 1, 0]))
    meshes = [
        sphere(cam, [0.05, 0.0, 0.55], 0.06, 1, subdivisions=3),
        Mesh(to_world(cam, box.vertices + [0.0, 0.02, 0.7]), box.faces, 2),
        quad(cam, [0, 0, 1.0], [1, 0, 0.2], [0, 1, 0], 3),
    ]
    with GLRasterizer(normals="flat") as gl_flat:
        renders = {"smooth": gl.render(meshes, cam), "flat": gl_flat.render(meshes, cam)}
    for mode, a in renders.items():
        b = RayRasterizer(normals=mode).render(meshes, cam)
        assert (a.ids == b.ids).mean() >= 0.99
        common = (a.depth > 0) & (b.depth > 0) & (a.ids == b.ids)
        assert np.abs(a.depth - b.depth)[common].max() < 1e-3
        cos = np.einsum("...c,...c->...", a.normals, b.normals)[common]
        assert np.percentile(cos, 1) > 0.99


def test_flat_normals_are_face_normals():
    cam = posed_camera()
    box = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    box.apply_transform(trimesh.transformations.rotation_matrix(0.6, [1, 2, 0]))
    out = RayRasterizer(normals="flat").render([Mesh(to_world(cam, box.vertices + [0, 0, 0.8]), box.faces, 1)], cam)
    n = out.normals[out.ids == 1]
    best = np.abs(n @ box.face_normals.T).max(axis=1)  # the box was built in the camera frame
    assert np.all(best > 0.9999)
    assert np.all(np.einsum("ij,ij->i", n, n) > 0.9999)


def test_projection_maps_pixel_centres():
    K = np.array([[500.0, 0, 359.5], [0, 500.0, 239.5], [0, 0, 1]])
    P = gl_projection(K, 480, 720, 0.01, 10.0)
    for u, v in [(0, 0), (719, 479), (359.5, 239.5)]:
        X = np.linalg.inv(K) @ [u, v, 1.0] * 2.0
        clip = P @ np.append(X, 1.0)
        ndc = clip[:3] / clip[3]
        np.testing.assert_allclose((ndc[:2] + 1) / 2 * [720, 480] - 0.5, [u, v], atol=1e-9)
        assert -1 < ndc[2] < 1


def test_make_rasterizer_choice(monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "ray")
    assert isinstance(make_rasterizer(), RayRasterizer)
    with pytest.raises(ValueError, match="render backend"):
        make_rasterizer("vulkan")

    def no_gl(self, *args, **kwargs):
        raise RenderError("cannot create a headless OpenGL (EGL) context: test")

    monkeypatch.setattr(GLRasterizer, "__init__", no_gl)
    monkeypatch.delenv(BACKEND_ENV)
    with pytest.warns(RuntimeWarning, match="falling back to ray casting"):
        assert isinstance(make_rasterizer(), RayRasterizer)
    with pytest.raises(RenderError, match="EGL"):
        make_rasterizer("gl")


@pytest.mark.parametrize(
    "vertices, faces, instance_id, match",
    [
        (np.zeros((3, 2)), [[0, 1, 2]], 1, "vertices must be"),
        (np.zeros((3, 3)), [[0, 1, 3]], 1, "out of range"),
        (np.full((3, 3), np.nan), [[0, 1, 2]], 1, "NaN"),
        (np.zeros((3, 3)), [[0.0, 1.0, 2.0]], 1, "integer"),
        (np.zeros((3, 3)), [[0, 1, 2]], 0, "instance_id"),
    ],
)
def test_mesh_validation(vertices, faces, instance_id, match):
    with pytest.raises(RenderError, match=match):
        Mesh(vertices, np.asarray(faces), instance_id)


def test_gl_context_reused_across_sizes_and_rasterizers(gl):
    """The framebuffer follows the camera size; a second context does not disturb the first."""
    with GLRasterizer() as other:
        for height, width in [(100, 150), (H, W), (100, 150)]:
            cam = Camera.from_fov(50.0, height=height, width=width)
            for rast, z in [(gl, 0.75), (other, 0.5)]:
                out = rast.render([quad(cam, [0, 0, z], [5, 0, 0], [0, 5, 0], 9)], cam)
                assert out.depth.shape == (height, width) and np.all(out.ids == 9)
                np.testing.assert_allclose(out.depth, z, atol=1e-6)


def test_degenerate_vertex_normals_fall_back_to_flat(rasterizer):
    """A quad whose smooth vertex normals cancel (a zero-area sliver vertex) still gets unit normals."""
    cam = posed_camera()
    q = quad(cam, [0, 0, 0.7], [0.3, 0, 0], [0, 0.3, 0], 1)
    # a second, back-to-back copy of the quad on the same vertices cancels every vertex normal
    faces = np.vstack([q.faces, q.faces[:, ::-1]])
    out = rasterizer.render([Mesh(q.vertices, faces, 1)], cam)
    n = out.normals[out.ids == 1]
    assert len(n) > 1000 and np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-4)
