"""Which runtime a --backend name means (the choice layer of vsr.engine, above the runtimes):
`auto`'s plain rule, the dtype each runtime runs in, and the module the Runner drives for each.
The runtimes themselves are imported when asked for, so that a missing extra costs nothing until
it is needed (and start-up does not pay for them)."""

from __future__ import annotations

import logging
import os
import shutil

import torch
from torch import nn

from vsr.config import BACKENDS
from vsr.engine.runner import resolve_dtype
from vsr.errors import BackendUnavailableError, OptionError
from vsr.models.generator import FrameRecurrentGenerator

log = logging.getLogger(__name__)

# `auto` compiles on the CPU for inputs at least this long. Measured on the 2-core CI machine
# (benchmarks/results/speed_backends_cpu.json): torch.compile saves ~7 ms per frame end to end at
# 320x180 -> 1280x720 (28.2 -> 34.8 fps) and costs ~13 s the first time (cold Inductor cache)
# and ~3 s after; 2000 frames pays back even the cold compile.
AUTO_COMPILE_FRAMES = 2000


def resolve_backend(backend: str, device: torch.device, frames_hint: int | None) -> str:
    """`auto` -> compile on CPUs with a C++ compiler for long inputs, else eager."""
    if backend not in BACKENDS:
        raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    long_input = frames_hint is not None and frames_hint >= AUTO_COMPILE_FRAMES
    compiler = any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++"))
    return "compile" if device.type == "cpu" and long_input and compiler else "eager"


def make_generator(
    model: FrameRecurrentGenerator, backend: str, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """The module the Runner drives for `backend`."""
    if backend == "eager":
        return model
    if backend == "compile":
        from vsr.engine.compiled import CompiledGenerator

        return CompiledGenerator(model, device)
    if backend == "ort":
        if dtype != torch.float32:
            raise OptionError("--backend ort runs in float32; pass --dtype float32")
        from vsr.engine.ort import OrtGenerator

        return OrtGenerator(model, device)
    if backend in ("openvino", "openvino-int8"):
        from vsr.engine.openvino import OpenVinoGenerator

        return OpenVinoGenerator(model, device, dtype, int8=backend == "openvino-int8")
    if backend == "trt":
        from vsr.engine.tensorrt import TrtGenerator

        try:
            return TrtGenerator(model, device, dtype)
        except BackendUnavailableError as missing:
            from vsr.engine import ort

            if device.type != "cuda" or not ort.has_tensorrt():
                raise
            log.warning("%s; using ONNX Runtime's TensorRT execution provider instead", missing)
            return ort.OrtGenerator(model, device, tensorrt=True)
    raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")


def backend_dtype(name: str, device: torch.device, backend: str) -> torch.dtype:
    """--dtype for a backend: ORT runs the exported fp32 graph; TensorRT builds fp16 engines."""
    if backend not in BACKENDS:
        raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "ort":
        if name not in ("auto", "float32"):
            raise OptionError(f"--backend ort runs in float32, not {name}")
        return torch.float32
    if backend == "openvino-int8":
        if name not in ("auto", "float32"):
            raise OptionError(f"--backend openvino-int8 runs int8 with float32 around it, not {name}")
        return torch.float32
    if backend == "trt" and name == "auto":
        return torch.float16
    return resolve_dtype(name, device)
