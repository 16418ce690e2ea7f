"""`build_runner`, the top of vsr.engine: a Runner for a --model/--backend/--device/--dtype
combination, with the runtime chosen by vsr.engine.runtimes, or by measurement for `auto` on a CPU
(vsr.engine.autotune)."""

from __future__ import annotations

from torch import nn

from vsr.engine.runner import BicubicRunner, Runner, RunnerSettings, resolve_device
from vsr.engine.runtimes import backend_dtype, make_generator, resolve_backend
from vsr.models.generator import FrameRecurrentGenerator
from vsr.models.zoo import BICUBIC, load_model


def build_runner(
    model: str | None,
    scale: int,
    *,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    frames_hint: int | None = None,
    size_hint: tuple[int, int] | None = None,
    trust_pickle: bool = False,
) -> tuple[Runner | BicubicRunner, str]:
    """(runner, model name) for a --model/--backend/--device/--dtype combination.

    `frames_hint` (how many frames the input has; 0/None: unknown) and `size_hint` (its width and
    height) let `auto` choose: on a CPU by measurement (vsr.engine.autotune), elsewhere eager.
    The runner's `backend` and `backend_reason` say what was chosen and why."""
    dev = resolve_device(device)
    resolve_backend(backend, dev, frames_hint)  # a bad --backend fails before any loading
    if model == BICUBIC:
        return BicubicRunner(scale, dev), BICUBIC
    generator, info = load_model(model, scale, trust_pickle)
    runner = runner_for(
        generator, backend=backend, device=device, dtype=dtype, frames_hint=frames_hint, size_hint=size_hint
    )
    return runner, info["name"]


def runner_for(
    generator: FrameRecurrentGenerator,
    *,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    frames_hint: int | None = None,
    size_hint: tuple[int, int] | None = None,
) -> Runner:
    """A Runner for a loaded generator (build_runner's second half; `vsr live` uses it to put a
    level on its measured runtime once the sources' size is known)."""
    dev = resolve_device(device)
    resolved = resolve_backend(backend, dev, frames_hint)
    module: nn.Module | None = None
    reason = "asked for"
    if backend == "auto" and dev.type == "cpu":
        from vsr.engine import autotune

        choice = autotune.choose(generator, dtype, size_hint, frames_hint)
        resolved, reason, module = choice.backend, choice.reason, choice.module
    elif backend == "auto":
        reason = f"{resolved} on {dev.type}"
    dt = backend_dtype(dtype, dev, resolved)
    module = module if module is not None else make_generator(generator, resolved, dev, dt)
    runner = Runner(module, RunnerSettings(device=dev, dtype=dt))
    runner.backend, runner.backend_reason = resolved, reason
    return runner
