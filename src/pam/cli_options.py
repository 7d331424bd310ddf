"""One command-line convention for every ``pam`` command: shared option types, value parsing, errors.

Rules (README, "Command-line conventions"):
- what a command reads is positional (required inputs first, then an optional conditions folder);
- what it writes is ``--out/-o``;
- ``--seed`` defaults to 0 everywhere; ``--dtype`` is ``bf16|fp16|fp32``; ``--offload`` is
  ``none|model|sequential``; ``--device`` defaults to CUDA when available, else the CPU;
- bad input prints ``error: ...`` and exits 1 (:func:`user_errors`);
- renamed options keep their old spelling as a hidden alias that prints a deprecation note
  (:func:`deprecated`).

Use the aliases as annotations: ``out: OutOpt = Path("x.png")``, ``seed: SeedOpt = 0``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional, TypeVar

import typer

if TYPE_CHECKING:
    import torch

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
"""``--dtype`` value -> torch dtype name."""
OFFLOAD_MODES = ("none", "model", "sequential")
"""``--offload``: keep every model on the device, move whole models there when used, or stream layers."""
DEFAULT_SEED = 0

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output file or folder (see the command's description).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (default 0 in every command).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Weights dtype: bf16, fp16 or fp32.")]
OffloadOpt = Annotated[
    str, typer.Option("--offload", help="CPU offload: none, model (whole models moved when used) or sequential.")
]
DeviceOpt = Annotated[
    Optional[str], typer.Option("--device", help="Torch device, e.g. cuda, cuda:1, cpu (default: cuda if available).")
]

T = TypeVar("T")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input, missing files or weights, no grasp held: print ``error: ...`` and exit 1, no traceback.
    The messages name the input and what to do; nothing half-written is left (outputs are atomic)."""
    from pam.render.rasterizer import RenderError  # e.g. --backend gl without an EGL context

    try:
        yield
    except (OSError, ValueError, KeyError, RenderError) as err:
        typer.echo(f"error: {err.args[0] if isinstance(err, KeyError) else err}", err=True)
        raise typer.Exit(1) from err


def deprecation_note(old: str, new: str) -> None:
    """Print the one-line note an old spelling gets (on stderr)."""
    typer.echo(f"note: {old} is deprecated and will be removed; use {new}", err=True)


def deprecated(new_value: T, old_value: Optional[T], old: str, new: str, default: T = None) -> T:
    """The value of a renamed option: ``old_value`` (given under the old spelling ``old``) if set, with a
    note; else ``new_value``. Giving both spellings with different values is a ValueError."""
    if old_value is None:
        return new_value
    deprecation_note(old, new)
    if new_value != default and new_value != old_value:
        raise ValueError(f"{old} and {new} were both given ({old_value!r} vs {new_value!r}); give only {new}")
    return old_value


def check_choice(value: str, choices, option: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming the option and the choices."""
    if value not in choices:
        raise ValueError(f"{option} must be one of {', '.join(choices)}; got {value!r}")
    return value


def dtype_option(value: str) -> str:
    """Normalise a ``--dtype`` value: ``bf16|fp16|fp32``; the old long names (bfloat16, ...) still work
    with a deprecation note; anything else is a ValueError."""
    legacy = {long: short for short, long in DTYPES.items()}
    if value in legacy:
        deprecation_note(f"--dtype {value}", f"--dtype {legacy[value]}")
        return legacy[value]
    return check_choice(value, DTYPES, "--dtype")


def name_list(value: Optional[str]) -> Optional[tuple[str, ...]]:
    """A comma-separated option value (``"depth,seg"``) as a tuple of names; None stays None."""
    return None if value is None else tuple(name.strip() for name in value.split(",") if name.strip())


def parse_dtype(name: str) -> torch.dtype:
    """``"bf16"`` / ``"fp16"`` / ``"fp32"`` -> the torch dtype (the one place these names are read)."""
    import torch

    return getattr(torch, DTYPES[check_choice(name, DTYPES, "dtype")])


def resolve_device(device: Optional[str]) -> str:
    """``device`` as given, or ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
