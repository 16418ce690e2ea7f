"""`--backend auto` on a CPU: the fastest runtime that is installed and correct here, by measurement.

Each candidate (eager PyTorch; OpenVINO, OpenVINO int8 and ONNX Runtime where installed; and
torch.compile for inputs long enough to repay its compile time) upscales the same few frames at the input's size
through a real Runner; a candidate whose output is not within 40 dB of eager fp32 (30 dB for int8,
on these noise frames) is rejected,
and the fastest of the rest is used. The choice is cached per (CPU, ISA, library versions,
weights, size, threads, dtype) in `~/.cache/vsr/autotune.json`, so the measurement (a few
seconds) runs once per machine, model and size. Inputs shorter than MEASURE_FRAMES do not pay
for a measurement: they use a cached choice if there is one, else the plain rule (eager).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsr.engine.base import cache_dir, weights_digest
from vsr.engine.exported import EXPORT_VERSION
from vsr.engine.runner import Runner, RunnerSettings
from vsr.engine.runtimes import backend_dtype, make_generator, resolve_backend
from vsr.errors import VsrError
from vsr.frames import FrameBatch
from vsr.machine import machine_info
from vsr.models.generator import FrameRecurrentGenerator

log = logging.getLogger(__name__)

MEASURE_FRAMES = 1000  # inputs this long measure when nothing is cached (7.4 s at 320x180 on Zen 3, once)
TIMED_SECONDS = 1.5  # per candidate, after its warm-up, in ROUNDS alternating rounds
ROUNDS = 3
MIN_PSNR_DB = 40.0  # against eager fp32 on the same frames: anything less is a wrong runtime
# int8 runtimes on the same noise frames, whose activations exceed the calibrated ranges (the
# int8 step of fast-x4 measured 34.7 dB at 60x36, 38.6 at 320x180): held to this instead. Their
# quality on real footage is measured on the validation clips (benchmarks/int8_quality.py).
MIN_PSNR_DB_INT8 = 30.0
# In the cache key: bumped when a runtime's speed changes in ways the other fields do not see, so
# that choices measured before are measured again (2: OpenVINO makes the 8-bit frames in its graph).
MEASURE_VERSION = 2


@dataclass
class Choice:
    backend: str
    reason: str
    fps: dict[str, float] = field(default_factory=dict)
    module: torch.nn.Module | None = None  # the winner's generator, when it was built here


def _installed(name: str) -> bool:
    """Whether a package is installed, without importing it: openvino, nncf and onnxruntime
    cost ~1.7 s to import together, which a short input that measures nothing must not pay."""
    return importlib.util.find_spec(name) is not None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def candidates(frames_hint: int | None) -> list[str]:
    found = ["eager"]
    if _installed("openvino"):
        found.append("openvino")
        if _installed("nncf"):
            found.append("openvino-int8")
    if _installed("onnxruntime") and _installed("onnx"):
        found.append("ort")
    if resolve_backend("auto", torch.device("cpu"), frames_hint) == "compile":
        found.append("compile")  # long inputs, on a machine with a C++ compiler
    return found


def _cpu_identity() -> dict[str, Any]:
    info = machine_info()
    names = ("openvino", "onnxruntime", "onnxruntime-gpu", "nncf")
    versions = {name: v for name in names if (v := _version(name)) is not None}
    return {
        "cpu": info["cpu"],
        "family_model": info["cpu_family_model"],
        "capability": info["cpu_capability"],
        "bf16": info["bf16"],
        "torch": info["torch"],
        "isa_limits": [os.environ.get("ATEN_CPU_CAPABILITY"), os.environ.get("ONEDNN_MAX_CPU_ISA")],
        **versions,
    }


def cache_file() -> Path:
    return cache_dir() / "autotune.json"


def cache_key(digest: str, size: tuple[int, int], dtype: str, options: list[str]) -> str:
    fields = {
        "machine": _cpu_identity(),
        "weights": digest,
        "size": size,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "candidates": options,
        "export": EXPORT_VERSION,  # choices made among wrong graphs are not kept either
        "measure": MEASURE_VERSION,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _load() -> dict[str, Any]:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _store(key: str, entry: dict[str, Any]) -> None:
    path = cache_file()
    table = _load()
    table[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table, indent=1))
    os.replace(tmp, path)


def _frames(width: int, height: int, n: int) -> FrameBatch:
    """Moving textured frames (the measurement's content does not change the speed, only its
    correctness check needs detail)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(height + n, width + n, 3), dtype=np.uint8)
    data = np.stack([base[i : i + height, i : i + width] for i in range(n)])
    return FrameBatch(torch.from_numpy(np.ascontiguousarray(data)), tuple(range(n)), Fraction(1, 25))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255**2 / mse))


def measure(
    model: FrameRecurrentGenerator, dtype_name: str, size: tuple[int, int], options: list[str]
) -> tuple[Choice, dict[str, torch.nn.Module]]:
    """Time every candidate on frames of `size` (w, h); reject the wrong ones; pick the fastest."""
    cpu = torch.device("cpu")
    width, height = size
    probe = _frames(width, height, 4)
    reference = Runner(model, RunnerSettings(device=cpu, dtype=torch.float32)).upscale(probe).data
    rejected: dict[str, str] = {}
    built: dict[str, torch.nn.Module] = {}
    runners: dict[str, Runner] = {}
    for name in options:
        try:
            dt = backend_dtype(dtype_name, cpu, name)
            module = make_generator(model, name, cpu, dt)
            runner = Runner(module, RunnerSettings(device=cpu, dtype=dt))
            out = runner.upscale(probe).data  # also the warm-up: export, compile, first allocations
        except (VsrError, RuntimeError, ImportError) as exc:
            rejected[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        quality = _psnr(out, reference)
        if quality < (MIN_PSNR_DB_INT8 if name.endswith("int8") else MIN_PSNR_DB):
            rejected[name] = f"{quality:.1f} dB from eager fp32"
            continue
        built[name], runners[name] = module, runner
    # Timed in alternating rounds, the median of each: a machine's speed drifts (turbo, other
    # load), and one block per candidate would hand the drift to whichever ran first.
    rounds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(ROUNDS):
        for name, runner in runners.items():
            runner.reset()
            frames, start = 0, time.perf_counter()
            while time.perf_counter() - start < TIMED_SECONDS / ROUNDS or frames < len(probe):
                runner.upscale(probe)
                frames += len(probe)
            rounds[name].append(frames / (time.perf_counter() - start))
    fps = {name: float(np.median(r)) for name, r in rounds.items()}
    best = max(fps, key=fps.__getitem__)
    others = ", ".join(f"{k} {v:.1f}" for k, v in sorted(fps.items(), key=lambda kv: -kv[1]) if k != best)
    reason = f"measured {fps[best]:.1f} fps at {width}x{height}" + (f" (vs {others})" if others else "")
    if rejected:
        reason += "; not used: " + ", ".join(f"{k} ({v})" for k, v in rejected.items())
    return Choice(best, reason, fps), built


def choose(
    model: FrameRecurrentGenerator,
    dtype_name: str,
    size: tuple[int, int] | None,
    frames_hint: int | None,
) -> Choice:
    """The backend for `auto` on a CPU (see the module docstring)."""
    plain = resolve_backend("auto", torch.device("cpu"), frames_hint)
    if size is None:
        return Choice(plain, "frame size unknown: not measured")
    m = model.pad_multiple
    size = (-(-size[0] // m) * m, -(-size[1] // m) * m)
    options = candidates(frames_hint)
    key = cache_key(weights_digest(model), size, dtype_name, options)
    cached = _load().get(key)
    if cached is not None:
        return Choice(cached["backend"], cached["reason"] + " (cached)", cached["fps"])
    if len(options) == 1:
        return Choice(plain, "no other CPU runtime installed")
    if not frames_hint or frames_hint < MEASURE_FRAMES:
        return Choice(plain, f"input shorter than {MEASURE_FRAMES} frames: not measured")
    log.warning(
        "measuring the fastest runtime at %dx%d (%s; once per CPU, model and size, then cached)",
        *size,
        ", ".join(options),
    )
    choice, built = measure(model, dtype_name, size, options)
    _store(key, {"backend": choice.backend, "reason": choice.reason, "fps": choice.fps, "time": time.time()})
    choice.module = built[choice.backend]
    log.info("--backend auto: %s, %s", choice.backend, choice.reason)
    return choice
