"""The engine's home directory: pretrained parts (an explicit path or a documented default place) and caches.

Nothing is downloaded here. The cache directory is ``$PAM_HOME`` when set, else ``~/.cache/pam``;
each pretrained part has a default place inside it (e.g. ``$PAM_HOME/FLUX.1-dev``). A part that is
not where it should be raises :class:`MissingWeightsError`, whose message names what to get and where
to put it.
"""

from __future__ import annotations

import os
from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """A pretrained component is not on disk; the message says what to get and where to put it."""


def pam_home() -> Path:
    """The cache directory for pretrained parts: ``$PAM_HOME`` or ``~/.cache/pam``."""
    return Path(os.environ.get("PAM_HOME") or Path.home() / ".cache" / "pam").expanduser()


def cache_dir(name: str) -> Path:
    """A folder for computed caches (e.g. convex decompositions): ``pam_home() / "cache" / name``, created."""
    path = pam_home() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def locate(path: str | os.PathLike | None, default_name: str, what: str, source: str) -> Path:
    """Return ``path`` (or ``pam_home() / default_name`` when ``path`` is None) if it exists.

    Args:
        path: explicit location given by the user, or None for the cache default.
        default_name: file or folder name inside :func:`pam_home`.
        what: what the component is, e.g. "the FLUX.1-dev base model (diffusers format)".
        source: where to get it, e.g. "https://huggingface.co/black-forest-labs/FLUX.1-dev".
    Raises:
        MissingWeightsError: naming ``what``, ``source`` and the two places it may go.
    """
    target = Path(path).expanduser() if path is not None else pam_home() / default_name
    if target.exists():
        return target
    raise MissingWeightsError(
        f"{what} was not found at {target}. Get it from {source} and either put it at "
        f"{pam_home() / default_name} (set PAM_HOME to change the cache directory) or pass its path explicitly."
    )
