"""`vsr train`: the training loop of a checkout's train/ folder (not installed with the package).
The one arrow from the package up into the training tree, kept lazy and here."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vsr.commands.common import fail


def train_(ctx: typer.Context) -> None:
    """Train a generator: runs `python -m train ARGS` from a checkout (see `vsr train --help`)."""
    import os

    checkout = Path(os.getcwd())
    if not (checkout / "train" / "train.py").is_file():
        raise fail("vsr train runs from the root of a vsr checkout (the train/ folder is not installed)")
    sys.path.insert(0, str(checkout))
    from train.train import main as train_main

    train_main(ctx.args)
