"""The ``pam`` command line. Each command's work lives in its own module; this file only wires them."""

from __future__ import annotations

import typer

app = typer.Typer(help="PAM: hand-object interaction video synthesis.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    from pam import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
