"""``python -m pam ...`` (also ``accelerate launch -m pam train motion ...``): the ``pam`` command line."""

from pam.cli import app

app(prog_name="pam")
