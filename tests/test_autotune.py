"""--backend auto on a CPU: measured once, cached, and only where a measurement pays."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vsr.engine import autotune
from vsr.engine.build import build_runner
from vsr.models.zoo import load_model


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))


def test_measures_once_then_uses_the_cache(tmp_path: Path) -> None:
    model, _ = load_model("fast-x4", 4)
    choice = autotune.choose(model, "float32", (60, 36), autotune.MEASURE_FRAMES)
    options = autotune.candidates(autotune.MEASURE_FRAMES)
    assert choice.backend in options and choice.module is not None
    assert set(choice.fps) == set(options)  # every installed runtime was timed and found correct
    assert choice.fps[choice.backend] == max(choice.fps.values())
    assert choice.reason.startswith(f"measured {choice.fps[choice.backend]:.1f} fps at 60x36")
    table = json.loads((tmp_path / "cache" / "autotune.json").read_text())
    assert len(table) == 1 and next(iter(table.values()))["backend"] == choice.backend
    start = time.perf_counter()
    again = autotune.choose(model, "float32", (60, 36), autotune.MEASURE_FRAMES + 500)
    assert again.backend == choice.backend and again.reason.endswith("(cached)")
    assert again.module is None and time.perf_counter() - start < 1.0  # no measurement this time
    other = autotune.choose(model, "float32", (64, 40), autotune.MEASURE_FRAMES)
    assert not other.reason.endswith("(cached)")  # another size is measured on its own
    assert len(json.loads((tmp_path / "cache" / "autotune.json").read_text())) == 2


def test_short_inputs_and_unknown_sizes_are_not_measured(tmp_path: Path) -> None:
    model, _ = load_model("fast-x4", 4)
    short = autotune.choose(model, "float32", (60, 36), 50)
    assert short.backend == "eager" and "not measured" in short.reason
    unknown = autotune.choose(model, "float32", None, 10_000)
    assert "size unknown" in unknown.reason
    assert not (tmp_path / "cache" / "autotune.json").exists()


def test_a_runtime_that_cannot_run_is_left_out() -> None:
    model, _ = load_model("fast-x4", 4)
    choice, built = autotune.measure(model, "float32", (40, 32), ["eager", "trt"])
    assert choice.backend == "eager" and "trt" not in built
    assert "not used: trt (" in choice.reason


def test_build_runner_auto_reports_its_choice() -> None:
    runner, _ = build_runner("fast-x4", 4, frames_hint=autotune.MEASURE_FRAMES, size_hint=(48, 32))
    assert runner.backend in autotune.candidates(autotune.MEASURE_FRAMES)
    assert runner.backend_reason.startswith("measured")
    forced, _ = build_runner("fast-x4", 4, backend="eager")
    assert forced.backend == "eager" and forced.backend_reason == "asked for"
