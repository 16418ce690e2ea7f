"""`python -m vsr ...`: the command line, where the `vsr` script is not on PATH."""

from vsr.cli import run

run()
