"""The `vsr` command line: the typer app, assembled from one module per command (vsr.commands),
each of which turns its options into a frozen config and makes one library call."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from vsr.errors import VsrError

# PyTorch's OpenMP threads spin after every operator by default; on a 2-core machine they spun
# for a quarter of all CPU time in `vsr live` (perf) while the encoder waited for a core. Asleep
# instead: `vsr live` rt-x4 13.3 fps out against 12.2, `vsr upscale` of the sample 17.6 s against
# 19.4 (Zen 3, medians of 3; benchmarks/results/omp_wait_policy_zen3.json). libgomp reads it when
# torch loads, so it is set before any import of torch; a user's OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

app = typer.Typer(
    name="vsr",
    help="Video super-resolution with a frame-recurrent GAN generator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help text is plain text: rich markup would eat "[openvino]" and every other extra's name.
    rich_markup_mode=None,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="vsr: %(levelname)s: %(message)s",
    )


# Imported after the environment above is set: no command module imports torch at import time.
from vsr.commands import batch, bench, eval, export, live, models, train, upscale  # noqa: E402

app.command()(upscale.upscale)
app.command(name="batch")(batch.batch_)
app.command()(live.live)
app.command()(bench.bench)
app.command(name="export")(export.export_)
app.command(name="eval")(eval.eval_)
app.command(
    name="train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)(train.train_)
app.command()(models.models)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except VsrError as exc:  # raised outside a command body (should not happen): still one line
        print(f"vsr: error: {exc}", file=sys.stderr)
        sys.exit(1)
