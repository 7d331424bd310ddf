"""ManoHand: the real MANO hand model (Romero et al., SIGGRAPH Asia 2017) from user-supplied files.

MANO's licence does not allow redistribution: register at https://mano.is.tue.mpg.de, download
"Models & Code" (v1.2) and put ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (from its ``models/`` folder)
in the MANO directory, which is, in order of precedence:

1. the ``model_path_or_dir`` argument (a file or a directory),
2. ``$PAM_MANO_DIR``,
3. ``$PAM_HOME/mano``,
4. ``~/.cache/pam/mano``.

In a directory, ``MANO_<SIDE>.npz`` (made once by ``pam mano convert``) is preferred over the
``.pkl``. The original pickles are read with a restricted unpickler that only rebuilds NumPy arrays,
SciPy sparse matrices and chumpy ``Ch`` objects (as plain arrays, without importing chumpy); any
other object in the file is refused, so loading cannot run code. MANO v1.2's left file has a known
sign error in its shape directions; it is corrected when ``MANO_RIGHT`` lies next to ``MANO_LEFT``.

The forward pass is MANO's: shape blend shapes (10 betas), the joint regressor, pose-corrective
blend shapes, then linear blend skinning along the 16-joint tree (:mod:`pam.hand.lbs`). The 21
keypoints are the 16 transformed joints plus the fingertip vertices 745, 317, 444, 556, 673
(thumb, index, middle, ring, little), in the MANO/DexYCB order of ``pam.hand.JOINT_NAMES``.
"""

from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from pam import safe_pickle
from pam.fileio import load_arrays, save_arrays
from pam.home import MissingWeightsError, pam_home
from pam.hand import anatomy, lbs
from pam.hand.base import HandModel, HandOutput
from pam.hand.inputs import hand_inputs

#: Fingertip vertex ids (thumb, index, middle, ring, little) used as keypoints 4, 8, 12, 16, 20.
TIP_VERTICES = (745, 317, 444, 556, 673)
#: Arrays a MANO model file must provide, with the names used in the .npz conversion.
MANO_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f", "kintree_table", "hands_components", "hands_mean")
OBTAIN_MANO = (
    "MANO is not redistributable: register at https://mano.is.tue.mpg.de, download 'Models & Code' (v1.2) and "
    "copy MANO_RIGHT.pkl and MANO_LEFT.pkl from its models/ folder into {where} (or set $PAM_MANO_DIR to their "
    "folder, or pass the file path). Optionally convert once with `pam mano convert MANO_RIGHT.pkl MANO_RIGHT.npz`."
)


class ManoFileError(ValueError):
    """A MANO model file is missing, malformed or unsafe."""


def default_mano_dir() -> Path:
    """The MANO directory: $PAM_MANO_DIR, else ``pam_home() / "mano"`` ($PAM_HOME or ~/.cache/pam)."""
    if os.environ.get("PAM_MANO_DIR"):
        return Path(os.environ["PAM_MANO_DIR"]).expanduser()
    return pam_home() / "mano"


def find_mano_file(side: str, model_path_or_dir: str | os.PathLike | None = None) -> Path:
    """Locate ``MANO_<SIDE>.npz`` or ``.pkl`` (see the module docstring); raise a helpful error if absent."""
    location = Path(model_path_or_dir).expanduser() if model_path_or_dir is not None else default_mano_dir()
    stem = f"MANO_{side.upper()}"
    if location.is_file():
        other = "LEFT" if side == "right" else "RIGHT"
        if f"MANO_{other}" in location.name.upper():
            raise ManoFileError(f"{location} is the {other.lower()} hand's model; the {side} hand needs {stem}")
        return location
    for folder in (location, location / "mano", location / "models"):
        for suffix in (".npz", ".pkl"):
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    raise MissingWeightsError(f"No {stem}.pkl or {stem}.npz found in {location}. " + OBTAIN_MANO.format(where=location))


class _ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch``: keeps the pickled state, of which only the value ``x`` is used."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _SparseMatrix:
    """Stand-in for a pickled ``scipy.sparse`` csc/csr matrix: keeps its state for a safe rebuild."""

    kind = "csc"

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _CsrMatrix(_SparseMatrix):
    kind = "csr"


def _reconstructor(cls, base, state):
    """Protocol 0/1 object creation (``copyreg._reconstructor``), limited to the stand-in classes."""
    if cls not in (_ChumpyArray, _SparseMatrix, _CsrMatrix) or base is not object or state is not None:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r} from a MANO file")
    return object.__new__(cls)


#: Globals a MANO v1.2 pickle needs beyond plain arrays: stand-ins for chumpy's ``Ch`` and SciPy's
#: sparse matrices, and the helpers Python 2 pickles use for plain objects.
MANO_GLOBALS = {
    **{(module, "Ch"): _ChumpyArray for module in ("chumpy", "chumpy.ch")},
    **{
        (f"scipy.sparse.{module}", name): _CsrMatrix if name == "csr_matrix" else _SparseMatrix
        for module in ("csc", "_csc", "csr", "_csr", "compressed", "_compressed")
        for name in ("csc_matrix", "csr_matrix")
    },
    **{(module, "_reconstructor"): _reconstructor for module in ("copy_reg", "copyreg")},
    **{(module, name): getattr(builtins, name) for module in ("__builtin__", "builtins") for name in ("object", "set", "frozenset")},
}


def _plain(value):
    """Stand-ins -> NumPy arrays (sparse matrices densified); other values unchanged."""
    if isinstance(value, _ChumpyArray):
        if "x" not in value.state:
            raise ManoFileError("a chumpy object in the MANO file has no plain value 'x'")
        return np.asarray(_plain(value.state["x"]))
    if isinstance(value, _SparseMatrix):
        state = value.state
        shape = state.get("_shape", state.get("shape"))
        matrix_cls = scipy.sparse.csr_matrix if value.kind == "csr" else scipy.sparse.csc_matrix
        return matrix_cls((state["data"], state["indices"], state["indptr"]), shape=shape).toarray()
    return value


def read_mano_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Safely read an original MANO ``.pkl`` into plain arrays (see :data:`MANO_KEYS`)."""
    data = Path(path).read_bytes()
    try:
        content = safe_pickle.loads(data, MANO_GLOBALS, what="a MANO file (only arrays are allowed)")
    except pickle.UnpicklingError as err:
        raise ManoFileError(f"{path}: {err}") from None
    except Exception as err:  # truncated or corrupt files
        raise ManoFileError(f"{path}: not a readable MANO pickle ({err})") from None
    if not isinstance(content, dict):
        raise ManoFileError(f"{path}: expected a dict of MANO arrays, got {type(content).__name__}")
    return _checked({k: _plain(content[k]) for k in MANO_KEYS if k in content}, path)


def _checked(arrays: dict, path) -> dict[str, np.ndarray]:
    """Validate the MANO arrays' presence and shapes; return them as float64/int64 arrays."""
    missing = [k for k in MANO_KEYS if k not in arrays]
    if missing:
        raise ManoFileError(f"{path}: not a MANO model file, missing {missing}")
    out = {k: np.asarray(arrays[k], dtype=np.int64 if k in ("f", "kintree_table") else np.float64) for k in MANO_KEYS}
    num_verts = out["v_template"].shape[0]
    expected = {
        "v_template": (num_verts, 3),
        "shapedirs": (num_verts, 3, None),
        "posedirs": (num_verts, 3, 135),
        "J_regressor": (16, num_verts),
        "weights": (num_verts, 16),
        "f": (None, 3),
        "kintree_table": (2, 16),
        "hands_components": (None, 45),
        "hands_mean": (45,),
    }
    for key, shape in expected.items():
        got = out[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            raise ManoFileError(f"{path}: {key} has shape {got}, expected {shape} (None = any)")
    if num_verts <= max(TIP_VERTICES):
        raise ManoFileError(f"{path}: {num_verts} vertices, but MANO's fingertip vertices go up to {max(TIP_VERTICES)}")
    return out


def load_mano_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a MANO model from an original ``.pkl`` or a ``pam mano convert`` ``.npz``."""
    path = Path(path)
    if path.suffix != ".npz":
        return read_mano_pickle(path)
    try:
        arrays = load_arrays(path)
    except ValueError as err:
        raise ManoFileError(f"{path}: not a readable MANO .npz ({err.__cause__})") from None
    return _checked(arrays, path)


def convert_mano_pkl(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert an original MANO ``.pkl`` once into a plain ``.npz`` (no pickle, no chumpy)."""
    arrays = read_mano_pickle(src)
    dst = Path(dst)
    if dst.suffix != ".npz":
        raise ManoFileError(f"destination {dst} must end in .npz")
    return save_arrays(dst, compresslevel=9, **arrays)


def _fix_left_shapedirs(left: dict[str, np.ndarray], left_path: Path) -> None:
    """Undo MANO v1.2's known left-hand bug in place: ``MANO_LEFT``'s shape directions have the right
    hand's x sign. As smplx users (InterHand2.6M, HaMeR) do, compare with ``MANO_RIGHT`` next to it and
    negate the x component when the two agree instead of mirroring."""
    right_path = left_path.with_name(left_path.name.replace("LEFT", "RIGHT"))
    if right_path == left_path or not right_path.is_file():
        return
    right = load_mano_arrays(right_path)["shapedirs"]
    if right.shape == left["shapedirs"].shape and np.abs(left["shapedirs"][:, 0] - right[:, 0]).sum() < 1.0:
        left["shapedirs"][:, 0] *= -1.0


class ManoHand(HandModel):
    """The MANO hand layer.

    Args:
        model_path_or_dir: a MANO ``.pkl``/``.npz`` file or a directory holding ``MANO_<SIDE>.*``
            directly or in its ``mano/`` or ``models/`` subfolder (default: :func:`default_mano_dir`).
        side: ``"right"`` or ``"left"``.
        use_pca: if True, ``hand_pose`` holds ``num_pca_comps`` PCA coefficients instead of 45 axis-angles.
        num_pca_comps: number of PCA components (1..45) when ``use_pca``.
        flat_hand_mean: if True (the default, as in ``HOISequence`` and OpenHand) a zero pose is the flat
            hand; if False MANO's mean pose ``hands_mean`` is added, as in smplx/manopth's defaults.
    """

    def __init__(
        self,
        model_path_or_dir: str | os.PathLike | None = None,
        side: str = "right",
        use_pca: bool = False,
        num_pca_comps: int = 45,
        flat_hand_mean: bool = True,
    ) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        if use_pca and not 1 <= num_pca_comps <= 45:
            raise ValueError(f"num_pca_comps must be in 1..45, got {num_pca_comps}")
        self.path = find_mano_file(side, model_path_or_dir)
        arrays = load_mano_arrays(self.path)
        if side == "left":
            _fix_left_shapedirs(arrays, self.path)
        self.side = side
        self.use_pca = use_pca
        self.num_pca_comps = num_pca_comps if use_pca else 45
        self.faces = np.ascontiguousarray(arrays["f"], dtype=np.int64)
        parents = arrays["kintree_table"][0].copy()
        parents[0] = -1
        f32 = torch.float32
        self.register_buffer("v_template", torch.as_tensor(arrays["v_template"], dtype=f32))
        self.register_buffer("shapedirs", torch.as_tensor(arrays["shapedirs"][:, :, :10], dtype=f32))
        self.register_buffer("posedirs", torch.as_tensor(arrays["posedirs"], dtype=f32))
        self.register_buffer("J_regressor", torch.as_tensor(arrays["J_regressor"], dtype=f32))
        self.register_buffer("weights", torch.as_tensor(arrays["weights"], dtype=f32))
        self.register_buffer("parents", torch.as_tensor(parents))
        self.register_buffer("hand_components", torch.as_tensor(arrays["hands_components"][: self.num_pca_comps], dtype=f32))
        mean = np.zeros(45) if flat_hand_mean else arrays["hands_mean"]
        self.register_buffer("pose_mean", torch.as_tensor(mean, dtype=f32))
        self.keypoint_order = list(anatomy.KEYPOINT_ORDER)

    def forward(
        self,
        global_orient: torch.Tensor,
        hand_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandOutput:
        """global_orient (B, 3), hand_pose (B, 45) or (B, num_pca_comps) with PCA, betas (B, 10) | (10,) | None,
        transl (B, 3) | None -> HandOutput (vertices (B, 778, 3), joints (B, 21, 3))."""
        global_orient, hand_pose, betas, transl = hand_inputs(
            self.v_template, global_orient, hand_pose, betas, transl, pose_dim=self.num_pca_comps,
            num_betas=self.shapedirs.shape[-1],
        )
        if self.use_pca:
            hand_pose = hand_pose @ self.hand_components
        hand_pose = hand_pose + self.pose_mean
        v_shaped = self.v_template + lbs.blend_shapes(betas, self.shapedirs)
        joints = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        rot_mats = lbs.pose_rotations(global_orient, hand_pose)
        v_posed = v_shaped + lbs.blend_shapes(lbs.pose_feature(rot_mats), self.posedirs)
        posed_joints, transforms = lbs.batch_rigid_transform(rot_mats, joints, self.parents)
        vertices = lbs.skin(v_posed, self.weights, transforms)
        keypoints = torch.cat([posed_joints, vertices[:, list(TIP_VERTICES)]], dim=1)[:, self.keypoint_order]
        offset = transl[:, None]
        return HandOutput(vertices=vertices + offset, joints=keypoints + offset)
