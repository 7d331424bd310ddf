"""Where the metrics' pretrained files live, and the error raised when one is missing.

Every pretrained file is found by an explicit path or under the weights directory
``$PAM_WEIGHTS_DIR`` (default ``~/.cache/pam/weights``). Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def weights_dir() -> Path:
    """The directory searched for pretrained files: ``$PAM_WEIGHTS_DIR`` or ``~/.cache/pam/weights``."""
    env = os.environ.get("PAM_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pam" / "weights"


@dataclass(frozen=True)
class WeightFile:
    """A pretrained file a metric needs: its name under the weights dir and where to get it."""

    relpath: str
    source: str

    @property
    def default_path(self) -> Path:
        return weights_dir() / self.relpath


class MissingWeightsError(FileNotFoundError):
    """A pretrained file is absent; the message says what to get and where to put it."""

    def __init__(self, what: str, file: WeightFile, searched: list[Path]):
        self.file = file
        places = ", ".join(str(p) for p in searched)
        super().__init__(
            f"{what} needs the file '{Path(file.relpath).name}' (get it from {file.source}) "
            f"and did not find it (looked in: {places}). Put it at {file.default_path} "
            f"or pass its path explicitly."
        )


def find_weight(what: str, file: WeightFile, explicit: str | os.PathLike | None = None,
                extra: list[Path] | None = None) -> Path:
    """Return the first existing path among ``explicit``, ``<weights_dir>/<relpath>`` and ``extra``.

    An explicit path that does not exist is an error in itself (no fallback to the cache).
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise MissingWeightsError(what, file, [path])
        return path
    candidates = [file.default_path] + list(extra or [])
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(what, file, candidates)
