"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


mano_app = typer.Typer(help="MANO model files (user-supplied, see pam.hand.mano).", no_args_is_help=True)
app.add_typer(mano_app, name="mano")


@mano_app.command("convert")
def mano_convert(
    src: Path = typer.Argument(..., help="Original MANO_RIGHT.pkl or MANO_LEFT.pkl (v1.2)."),
    dst: Path = typer.Argument(..., help="Output .npz (plain arrays, loads without pickle or chumpy)."),
) -> None:
    """Convert a MANO .pkl once into a plain .npz, reading the pickle safely (arrays only)."""
    from pam.hand.mano import ManoFileError, convert_mano_pkl

    try:
        convert_mano_pkl(src, dst)
    except (ManoFileError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {dst}")


if __name__ == "__main__":
    app()
