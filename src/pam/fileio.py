"""Crash-safe file writing (write to a temporary name beside the target, then rename) and lossless
array files."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file keeps the target's suffix (or ``suffix``) so writers that pick a format
    from the extension (imageio, numpy) behave as for the final name, and is created with the
    usual permissions (0666 less the umask). On any exception it is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp_path = path.parent / f".{path.stem}.{secrets.token_hex(4)}{suffix if suffix is not None else path.suffix}"
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def save_arrays(path: str | os.PathLike, compresslevel: int = 1, **arrays: np.ndarray) -> Path:
    """Write named arrays losslessly to a deflate-compressed ``.npz`` (readable by ``np.load``).

    ``compresslevel`` 1 is much faster than ``np.savez_compressed``'s default for depth maps and
    compresses their empty background almost as well.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: lossless arrays are saved as .npz")
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            for name, value in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)
    return path


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (no pickles); ``ValueError`` naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz ({exc})") from exc


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; rename it to ``path`` only if the block succeeds.

    For folders that must appear complete or not at all (clip folders, cache entries, checkpoints).
    If ``path`` already exists, ``FileExistsError`` is raised after the block unless ``replace``, in
    which case the old folder is swapped out and removed. On any exception the temporary folder is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    tmp_path.mkdir()
    try:
        yield tmp_path
        if not path.exists():
            os.replace(tmp_path, path)  # raises if another writer created it meanwhile
            return
        if not replace:
            raise FileExistsError(f"{path}: already exists")
        old = path.parent / f".{path.name}.old-{secrets.token_hex(4)}"
        os.replace(path, old)
        os.replace(tmp_path, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
