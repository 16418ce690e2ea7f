"""Exceptions raised by vsr. User mistakes subclass both VsrError and the matching builtin."""

from __future__ import annotations


class VsrError(Exception):
    """Root of every error vsr raises on purpose; the CLI prints its message on one line."""


class InputError(VsrError, ValueError):
    """The input file or stream cannot be used (missing, not a video, corrupt...)."""


class OutputError(VsrError, ValueError):
    """The output path cannot be written (directory missing, equals input, exists...)."""


class ModelError(VsrError, ValueError):
    """The model name, weights file or scale is not usable."""


class OptionError(VsrError, ValueError):
    """An option has a value vsr cannot use."""


class BackendUnavailableError(VsrError, RuntimeError):
    """An optional runtime (ONNX Runtime, TensorRT, CUDA) is not installed or not present."""


class Interrupted(VsrError):
    """The run was stopped by SIGINT/SIGTERM; the message says what was kept (exit status 130)."""


class Cancelled(Exception):
    """Raised inside a pipeline stage, or a model loop, when the run is being torn down."""
