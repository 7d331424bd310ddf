import warnings

import numpy as np
import pytest
import trimesh

from pam.objects import BUILTIN_OBJECTS, MeshError, NotWatertightWarning, load_mesh, load_object, object_seg_id


@pytest.mark.parametrize("name", sorted(BUILTIN_OBJECTS))
def test_builtin_objects_are_watertight_and_real_sized(name):
    mesh = load_object(name)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert 0.03 < mesh.extents.max() < 0.25  # hand-held household objects
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # resting on the table
    np.testing.assert_allclose((mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2, 0.0, atol=1e-9)


def test_builtin_sizes_match_closed_forms():
    can = load_object("soup_can")
    assert can.volume == pytest.approx(np.pi * 0.033**2 * 0.101, rel=0.01)
    assert load_object("ball").volume == pytest.approx(4 / 3 * np.pi * 0.0325**3, rel=0.02)
    np.testing.assert_allclose(np.sort(load_object("cracker_box").extents), [0.060, 0.158, 0.210])
    # a mug is a hollow cup: much less volume than its solid bounding cylinder
    mug = load_object("mug")
    assert mug.volume < 0.4 * np.pi * 0.04**2 * 0.082 and mug.extents[0] > 0.1  # handle sticks out on +x


def test_builtins_are_fresh_copies_and_scalable():
    a = load_object("mug")
    a.apply_translation([1, 0, 0])
    assert load_object("mug").bounds[0, 2] == 0.0
    assert load_object("ball", scale=2.0).extents.max() == pytest.approx(2 * load_object("ball").extents.max())
    assert object_seg_id("mug") == 14 and object_seg_id("my.obj") == 1


@pytest.mark.parametrize("ext", ["obj", "ply", "stl", "glb"])
def test_load_mesh_formats_and_mm_scale(tmp_path, ext):
    box = trimesh.creation.box(extents=(60.0, 80.0, 100.0))  # millimetres
    path = tmp_path / f"box.{ext}"
    box.export(path)
    mesh = load_mesh(path, scale=0.001)
    np.testing.assert_allclose(np.sort(mesh.extents), [0.06, 0.08, 0.1], rtol=1e-6)
    assert mesh.volume == pytest.approx(0.06 * 0.08 * 0.1, rel=1e-6)


def test_mm_mesh_without_scale_warns(tmp_path):
    path = tmp_path / "big.stl"
    trimesh.creation.box(extents=(60.0, 80.0, 100.0)).export(path)
    with pytest.warns(UserWarning, match="millimetres"):
        load_mesh(path)


def test_bad_meshes(tmp_path):
    open_box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # remove one side
    open_box.export(tmp_path / "open.ply")
    with pytest.warns(NotWatertightWarning):
        load_mesh(tmp_path / "open.ply")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(MeshError, match="empty.obj"):
        load_mesh(tmp_path / "empty.obj")
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], [[0, 1, 2], [1, 2, 3]], process=False)
    flat.export(tmp_path / "line.ply")
    with pytest.raises(MeshError, match="degenerate"):
        load_mesh(tmp_path / "line.ply")
    (tmp_path / "corrupt.glb").write_bytes(b"glTF garbage")
    with pytest.raises(MeshError, match="corrupt.glb"):
        load_mesh(tmp_path / "corrupt.glb")
    with pytest.raises(FileNotFoundError):
        load_mesh(tmp_path / "missing.obj")
    with pytest.raises(KeyError, match="choose from"):
        load_object("teapot")
