"""What every command shares: one `vsr: error:` line for any failure, and SIGTERM handled as
Ctrl-C (so that no partial output is left behind)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from vsr.errors import Interrupted, VsrError

log = logging.getLogger("vsr")


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"vsr: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def one_line_errors(interrupted: str = "interrupted", unexpected: str = "") -> Iterator[None]:
    """Any failure of a command body -> one `vsr: error:` line; exit 1, or 130 when interrupted."""
    try:
        yield
    except typer.Exit:
        raise
    except Interrupted as exc:
        raise fail(str(exc), 130) from None
    except VsrError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(interrupted, 130) from None
    except Exception as exc:  # a bug, not a user mistake: still one line, details with -v
        log.info("unexpected error", exc_info=True)
        raise fail(f"unexpected {type(exc).__name__}: {exc} ({unexpected}-v shows details)") from None


def echo_above_the_bar(line: str) -> None:
    """A line on stderr that does not break a progress bar being drawn."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
