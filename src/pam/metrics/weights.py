"""Where the metrics' pretrained files live.

Every pretrained file is found by an explicit path or under the engine's home directory
(``pam.home.pam_home()``: ``$PAM_HOME``, default ``~/.cache/pam``). Nothing is ever downloaded; a
missing file raises ``pam.home.MissingWeightsError`` naming what to get and where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pam.home import MissingWeightsError, pam_home


@dataclass(frozen=True)
class WeightFile:
    """A pretrained file a metric needs: its path under pam_home() and where to get it."""

    relpath: str
    source: str

    @property
    def default_path(self) -> Path:
        return pam_home() / self.relpath


def missing(what: str, file: WeightFile, searched: list[Path]) -> MissingWeightsError:
    """The error for a pretrained file found in none of ``searched``."""
    places = ", ".join(str(p) for p in searched)
    return MissingWeightsError(
        f"{what} needs the file '{Path(file.relpath).name}' (get it from {file.source}) "
        f"and did not find it (looked in: {places}). Put it at {file.default_path} "
        f"(set PAM_HOME to change the directory) or pass its path explicitly."
    )


def find_weight(what: str, file: WeightFile, explicit: str | os.PathLike | None = None,
                extra: list[Path] | None = None) -> Path:
    """Return the first existing path among ``explicit``, ``pam_home() / relpath`` and ``extra``.

    An explicit path that does not exist is an error in itself (no fallback to the cache).
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise missing(what, file, [path])
        return path
    candidates = [file.default_path] + list(extra or [])
    for path in candidates:
        if path.is_file():
            return path
    raise missing(what, file, candidates)
