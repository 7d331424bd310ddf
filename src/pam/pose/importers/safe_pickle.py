"""Reading dataset pickles without running arbitrary code.

Dataset annotation files (OakInk2's ``.pkl``, GraspXL's object ``.npy``) are pickles, and a
pickle can run any code while loading. ``load`` uses a restricted unpickler that only builds
plain containers, NumPy arrays and torch tensors; anything else raises ``UnsafePickleError``.
Torch tensors inside a pickle carry their storage as a nested ``torch.save`` blob, which is read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something other than containers, arrays and tensors."""


def _tensor_storage(blob: bytes):
    import torch

    return torch.load(io.BytesIO(blob), weights_only=True)


def _allowed() -> dict[tuple[str, str], Any]:
    import collections

    allowed = {("collections", "OrderedDict"): collections.OrderedDict}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = np._core.multiarray._reconstruct
        allowed[(module, "scalar")] = np._core.multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    try:
        import torch._utils

        allowed[("torch._utils", "_rebuild_tensor_v2")] = torch._utils._rebuild_tensor_v2
        allowed[("torch.storage", "_load_from_bytes")] = _tensor_storage
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes]):
        super().__init__(file, encoding="latin1")
        self._allowed = _allowed()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load {module}.{name} from a data pickle") from None


def load(file: IO[bytes]) -> Any:
    """Unpickle containers, NumPy arrays and torch tensors from an open binary file."""
    return _RestrictedUnpickler(file).load()


def load_npy_object(path) -> Any:
    """A ``.npy`` file holding a pickled object (``np.save`` of a dict), read safely."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if not dtype.hasobject:
            raise UnsafePickleError(f"{path}: holds a plain array, not a pickled object")
        array = load(f)
    array = np.asarray(array).reshape(shape)
    return array.item() if array.shape == () else array
