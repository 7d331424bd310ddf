"""Unpickling data files without running code: only allow-listed globals are resolved.

Dataset and model files (MANO's ``.pkl``, OakInk2's annotations, GraspXL's object ``.npy``) are
pickles, and a pickle can run any code while loading. ``load`` resolves only the globals of
``ARRAY_GLOBALS`` (plain NumPy arrays and dtypes) plus those its caller adds for its format;
anything else raises ``UnsafePickleError`` before it is called.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any, Mapping

import numpy as np

try:  # NumPy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list."""


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol 0-2 pickles use it to store bytes, limited to latin-1 text."""
    if not isinstance(text, str) or encoding.replace("-", "") != "latin1":
        raise UnsafePickleError("refusing a non-latin-1 _codecs.encode call")
    return text.encode("latin1")


#: (module, name) -> object, for NumPy arrays as pickled by NumPy 1.x and 2.x, protocols 0 to 5.
ARRAY_GLOBALS: dict[tuple[str, str], Any] = {
    **{(module, name): getattr(_multiarray, name)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")},
    **{(module, "_frombuffer"): _numeric._frombuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], what: str):
        super().__init__(file, encoding="latin1")
        self._allowed, self._what = allowed, what

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load {module}.{name} from {self._what}") from None


def load(file: IO[bytes], extra: Mapping[tuple[str, str], Any] | None = None, what: str = "a data pickle") -> Any:
    """Unpickle ``file`` resolving only ``ARRAY_GLOBALS`` and ``extra``; ``what`` names it in errors."""
    return _RestrictedUnpickler(file, {**ARRAY_GLOBALS, **(extra or {})}, what).load()


def loads(data: bytes, extra: Mapping[tuple[str, str], Any] | None = None, what: str = "a data pickle") -> Any:
    """``load`` from bytes."""
    return load(io.BytesIO(data), extra, what)
