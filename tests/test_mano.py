"""ManoHand on a synthetic MANO file of the real structure; safe loading; conversion; model factory."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from pam.cli import app
from pam.hand import ManoHand, OpenHand, load_hand_model
from pam.hand.anatomy import KEYPOINT_ORDER, PARENTS
from pam.hand.mano import TIP_VERTICES, ManoFileError, find_mano_file, load_mano_arrays
from pam.home import MissingWeightsError

NUM_VERTS = 778


def _fake_chumpy_module() -> type:
    """A class pickled exactly as chumpy pickles ``Ch`` (module chumpy.ch, __getstate__ minus caches)."""

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = set()
            self._itr = None
            self._depends_on_deps = {}
            self._make_dense = False
            self._make_sparse = False
            self._parents = {}
            self._cache = {"r": None, "drs": {}}

        def __getstate__(self):
            state = dict(self.__dict__)
            del state["_parents"], state["_cache"]
            return state

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    return Ch


def _synthetic_mano(rng: np.random.Generator) -> dict:
    """Random arrays with MANO v1.2's keys, shapes and types (sparse regressor, chumpy shapedirs)."""
    regressor = np.zeros((16, NUM_VERTS))
    for j in range(16):
        idx = rng.choice(NUM_VERTS, size=20, replace=False)
        regressor[j, idx] = rng.dirichlet(np.ones(20))
    weights = rng.dirichlet(np.ones(16) * 0.3, size=NUM_VERTS)
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    return {
        "v_template": rng.normal(scale=0.05, size=(NUM_VERTS, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(NUM_VERTS, 3, 10)),
        "posedirs": rng.normal(scale=0.005, size=(NUM_VERTS, 3, 135)),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "J_regressor_prior": scipy.sparse.csc_matrix(regressor),
        "weights": weights,
        "weights_prior": weights,
        "f": rng.integers(0, NUM_VERTS, size=(1538, 3)).astype(np.uint32),
        "kintree_table": np.stack([np.where(PARENTS < 0, 4294967295, PARENTS), np.arange(16)]).astype(np.int64),
        "J": rng.normal(size=(16, 3)),
        "hands_components": components,
        "hands_coeffs": rng.normal(size=(30, 45)),
        "hands_mean": rng.normal(scale=0.2, size=45),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


class _Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 byte strings (BINSTRING), as the original MANO pickles hold them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_string(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = dispatch[bytes] = _save_py2_string


def _write_mano_pickle(path, arrays: dict, python2: bool = True, protocol: int = 2) -> None:
    """Pickle like MANO's files: protocol 2, shapedirs as a chumpy Ch, J_regressor as scipy.sparse, and
    (``python2``) Python 2 byte strings for keys and array data; else as Python 3 writes protocol 2."""
    Ch = _fake_chumpy_module()
    fake = {"chumpy": types.ModuleType("chumpy"), "chumpy.ch": types.ModuleType("chumpy.ch")}
    fake["chumpy.ch"].Ch = Ch
    content = dict(arrays, shapedirs=Ch(arrays["shapedirs"]))
    saved = {name: sys.modules.get(name) for name in fake}
    sys.modules.update(fake)
    try:
        buffer = io.BytesIO()
        (_Python2Pickler if python2 else pickle.Pickler)(buffer, protocol=protocol).dump(content)
        data = buffer.getvalue()
        if python2:  # the module paths of the NumPy and SciPy versions MANO was pickled with
            data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
            data = data.replace(b"scipy.sparse._csc\n", b"scipy.sparse.csc\n")
        path.write_bytes(data)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = module


def _mano_reference(arrays: dict, orient: np.ndarray, full_hand_pose: np.ndarray, betas: np.ndarray, transl: np.ndarray):
    """MANO's formula for one frame, written out plainly with NumPy and SciPy rotations."""
    v_shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    regressor = arrays["J_regressor"].toarray()
    joints = regressor @ v_shaped
    rots = Rotation.from_rotvec(np.concatenate([orient, full_hand_pose]).reshape(16, 3)).as_matrix()
    v_posed = v_shaped + arrays["posedirs"] @ (rots[1:] - np.eye(3)).ravel()
    world = np.zeros((16, 4, 4))
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = joints[j] - (joints[PARENTS[j]] if j else 0.0)
        world[j] = local if j == 0 else world[PARENTS[j]] @ local
    skinning = world.copy()
    skinning[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)
    homogeneous = np.concatenate([v_posed, np.ones((NUM_VERTS, 1))], axis=1)
    per_vertex = np.einsum("vj,jab->vab", arrays["weights"], skinning)
    vertices = np.einsum("vab,vb->va", per_vertex, homogeneous)[:, :3]
    keypoints = np.concatenate([world[:, :3, 3], vertices[list(TIP_VERTICES)]])[KEYPOINT_ORDER]
    return vertices + transl, keypoints + transl


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    rng = np.random.default_rng(0)
    arrays = _synthetic_mano(rng)
    folder = tmp_path_factory.mktemp("mano")
    _write_mano_pickle(folder / "MANO_RIGHT.pkl", arrays)
    return arrays, folder


def _random_inputs(rng, batch, pose_dim=45):
    return (
        rng.normal(scale=0.8, size=(batch, 3)),
        rng.normal(scale=0.4, size=(batch, pose_dim)),
        rng.normal(size=(batch, 10)),
        rng.normal(scale=0.1, size=(batch, 3)),
    )


def _run(hand, orient, pose, betas, transl):
    out = hand(*(torch.as_tensor(a, dtype=torch.float64) for a in (orient, pose, betas, transl)))
    return out.vertices.numpy(), out.joints.numpy()


@pytest.mark.parametrize("flat_hand_mean", [True, False])
def test_mano_matches_plain_numpy_formula(synthetic, flat_hand_mean):
    arrays, folder = synthetic
    hand = ManoHand(folder, side="right", flat_hand_mean=flat_hand_mean).double()
    rng = np.random.default_rng(1)
    orient, pose, betas, transl = _random_inputs(rng, 3)
    vertices, joints = _run(hand, orient, pose, betas, transl)
    assert vertices.shape == (3, NUM_VERTS, 3) and joints.shape == (3, 21, 3)
    assert hand.faces.dtype == np.int64 and hand.faces.shape == (1538, 3)
    for b in range(3):
        full = pose[b] + (0.0 if flat_hand_mean else arrays["hands_mean"])
        ref_v, ref_j = _mano_reference(arrays, orient[b], full, betas[b], transl[b])
        np.testing.assert_allclose(vertices[b], ref_v, atol=1e-5)
        np.testing.assert_allclose(joints[b], ref_j, atol=1e-5)
    assert "chumpy" not in sys.modules


@pytest.mark.parametrize("protocol", [0, 2])
def test_python3_written_pickles_load_alike(synthetic, tmp_path, protocol):
    arrays, folder = synthetic
    _write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays, python2=False, protocol=protocol)
    inputs = _random_inputs(np.random.default_rng(6), 2)
    for a, b in zip(_run(ManoHand(tmp_path).double(), *inputs), _run(ManoHand(folder).double(), *inputs)):
        np.testing.assert_array_equal(a, b)


def test_pca_pose_equals_full_pose(synthetic):
    arrays, folder = synthetic
    full = ManoHand(folder).double()
    rng = np.random.default_rng(2)
    for comps in (45, 6):
        pca = ManoHand(folder, use_pca=True, num_pca_comps=comps).double()
        orient, coeffs, betas, transl = _random_inputs(rng, 4, pose_dim=comps)
        as_axis_angle = coeffs @ arrays["hands_components"][:comps]
        for got, want in zip(_run(pca, orient, coeffs, betas, transl), _run(full, orient, as_axis_angle, betas, transl)):
            np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="hand_pose"):
        pca(torch.zeros(1, 3), torch.zeros(1, 45))


def test_batch_of_49_frames_equals_frame_by_frame(synthetic):
    _, folder = synthetic
    hand = ManoHand(folder).double()
    orient, pose, betas, transl = _random_inputs(np.random.default_rng(3), 49)
    betas = betas[0]  # one shape for the clip, as in HandTrack
    vertices, joints = _run(hand, orient, pose, betas, transl)
    for b in (0, 17, 48):
        vb, jb = _run(hand, orient[b : b + 1], pose[b : b + 1], betas, transl[b : b + 1])
        np.testing.assert_allclose(vertices[b], vb[0], atol=1e-12)
        np.testing.assert_allclose(joints[b], jb[0], atol=1e-12)


def test_convert_command_writes_an_equivalent_plain_npz(synthetic, tmp_path):
    _, folder = synthetic
    dst = tmp_path / "MANO_RIGHT.npz"
    result = CliRunner().invoke(app, ["mano", "convert", str(folder / "MANO_RIGHT.pkl"), str(dst)])
    assert result.exit_code == 0, result.output
    with np.load(dst, allow_pickle=False) as data:
        assert {"v_template", "shapedirs", "J_regressor"} <= set(data.files)
    inputs = _random_inputs(np.random.default_rng(4), 2)
    from_pkl = _run(ManoHand(folder / "MANO_RIGHT.pkl").double(), *inputs)
    from_npz = _run(ManoHand(tmp_path).double(), *inputs)  # directory lookup prefers the .npz
    for a, b in zip(from_pkl, from_npz):
        np.testing.assert_array_equal(a, b)
    bad = CliRunner().invoke(app, ["mano", "convert", str(tmp_path / "nope.pkl"), str(tmp_path / "x.npz")])
    assert bad.exit_code == 1 and not (tmp_path / "x.npz").exists()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_malicious_pickles_are_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "MANO_RIGHT.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Exploit(marker)}, protocol=2))
    with pytest.raises(ManoFileError, match="refusing to load (os|posix).system"):
        load_mano_arrays(evil)
    assert not marker.exists()
    for payload in ({"x": _Eval()}, types.SimpleNamespace(a=1)):
        evil.write_bytes(pickle.dumps(payload, protocol=2))
        with pytest.raises(ManoFileError, match="refusing"):
            ManoHand(evil)
    result = CliRunner().invoke(app, ["mano", "convert", str(evil), str(tmp_path / "out.npz")])
    assert result.exit_code == 1 and "refusing" in result.output
    assert not (tmp_path / "out.npz").exists()


def test_malformed_model_files_are_reported(synthetic, tmp_path):
    arrays, _ = synthetic
    broken = dict(arrays)
    del broken["posedirs"]
    _write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", broken)
    with pytest.raises(ManoFileError, match="posedirs"):
        ManoHand(tmp_path)
    (tmp_path / "MANO_LEFT.npz").write_bytes(b"not a zip")
    with pytest.raises(ManoFileError, match="not a readable"):
        ManoHand(tmp_path, side="left")


def test_left_is_the_mirror_of_right_with_the_v12_shapedirs_bug_fixed(synthetic, tmp_path):
    """A left file built as MANO v1.2's is (mirrored, but shapedirs x not negated) mirrors the right hand."""
    arrays, _ = synthetic
    flip = np.array([-1.0, 1.0, 1.0])
    pose_flip = np.tile([1.0, -1.0, -1.0], 15)
    right = dict(arrays, posedirs=np.zeros_like(arrays["posedirs"]))
    left = dict(
        right,
        v_template=arrays["v_template"] * flip,
        f=arrays["f"][:, ::-1],
        hands_components=arrays["hands_components"] * pose_flip,
        hands_mean=arrays["hands_mean"] * pose_flip,
    )  # shapedirs deliberately left unmirrored, as in MANO_LEFT.pkl v1.2
    _write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", right)
    _write_mano_pickle(tmp_path / "MANO_LEFT.pkl", left)
    orient, pose, betas, transl = _random_inputs(np.random.default_rng(5), 3)
    for kwargs in ({}, {"use_pca": True, "num_pca_comps": 12, "flat_hand_mean": False}):
        hand_pose = pose[:, : kwargs.get("num_pca_comps", 45)]
        v_r, j_r = _run(ManoHand(tmp_path, "right", **kwargs).double(), orient, hand_pose, betas, transl)
        mirrored_pose = hand_pose if kwargs else hand_pose * pose_flip
        v_l, j_l = _run(
            ManoHand(tmp_path, "left", **kwargs).double(), orient * [1, -1, -1], mirrored_pose, betas, transl * flip
        )
        np.testing.assert_allclose(v_l, v_r * flip, atol=1e-6)
        np.testing.assert_allclose(j_l, j_r * flip, atol=1e-6)


def test_missing_model_explains_where_to_get_and_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_MANO_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MissingWeightsError) as err:  # a FileNotFoundError, as for every missing pretrained part
        ManoHand(side="left")
    message = str(err.value)
    assert "https://mano.is.tue.mpg.de" in message and str(tmp_path / "nowhere") in message
    assert "MANO_LEFT" in message and "PAM_MANO_DIR" in message


def test_default_directory_and_factory(synthetic, monkeypatch, tmp_path):
    _, folder = synthetic
    monkeypatch.delenv("PAM_MANO_DIR", raising=False)
    monkeypatch.setenv("PAM_HOME", str(tmp_path))
    (tmp_path / "mano").symlink_to(folder, target_is_directory=True)
    assert ManoHand().path == tmp_path / "mano" / "MANO_RIGHT.pkl"
    assert isinstance(load_hand_model("mano", "right"), ManoHand)
    open_left = load_hand_model("open", "left")
    assert isinstance(open_left, OpenHand) and open_left.side == "left"
    with pytest.raises(ValueError, match="'open' or 'mano'"):
        load_hand_model("smplx")


def test_a_file_of_the_other_side_is_refused(tmp_path):
    right = tmp_path / "MANO_RIGHT.npz"
    right.write_bytes(b"")
    assert find_mano_file("right", right) == right
    with pytest.raises(ManoFileError, match="right hand's model; the left hand needs MANO_LEFT"):
        find_mano_file("left", right)
