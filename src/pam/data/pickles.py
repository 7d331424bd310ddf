"""Reading dataset pickles (OakInk2's ``.pkl``, GraspXL's motion ``.npy``) with ``pam.safe_pickle``:
containers, NumPy arrays and torch tensors only. Torch tensors inside a pickle carry their storage
as a nested ``torch.save`` blob, which is read with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import collections
import io
from typing import IO, Any

import numpy as np

from pam import safe_pickle
from pam.safe_pickle import UnsafePickleError


def _tensor_storage(blob: bytes):
    import torch

    return torch.load(io.BytesIO(blob), weights_only=True)


def _dataset_globals() -> dict[tuple[str, str], Any]:
    import torch._utils

    return {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch.storage", "_load_from_bytes"): _tensor_storage,
    }


def load(file: IO[bytes]) -> Any:
    """Unpickle containers, NumPy arrays and torch tensors from an open binary file."""
    return safe_pickle.load(file, _dataset_globals(), what="a data pickle")


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
