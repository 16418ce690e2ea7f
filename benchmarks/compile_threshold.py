"""When does --backend compile pay for its compile time? The frame count behind `--backend auto`.

For the default model at 320x180 -> 1280x720 (Runner.upscale, batch 8, the CPU default dtype):
eager fps, compile fps, and the time compile's first batch costs beyond an eager batch, with
Inductor's disk cache cold (a new cache directory) and warm (the same directory, a new process).
The break-even frame count is the extra start-up time divided by the time compile saves a frame.

    python benchmarks/compile_threshold.py --json benchmarks/results/compile_threshold_zen3.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import sample_frames  # noqa: E402

from vsr.bench import save_result  # noqa: E402
from vsr.engine.compiled import CompiledGenerator  # noqa: E402
from vsr.engine.runner import Runner, RunnerSettings, resolve_dtype  # noqa: E402
from vsr.frames import FrameBatch  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402


def measure(backend: str, model_name: str, frames: int) -> dict[str, float]:
    """In this process: seconds of the first batch, then steady fps."""
    model, _ = load_model(model_name, 4)
    generator = CompiledGenerator(model) if backend == "compile" else model
    device = torch.device("cpu")
    runner = Runner(generator, RunnerSettings(device=device, dtype=resolve_dtype("auto", device)))
    data = sample_frames(frames)
    batches = [
        FrameBatch(data[i : i + 8], tuple(range(i, i + 8)), Fraction(1, 25)) for i in range(0, frames, 8)
    ]
    start = time.perf_counter()
    runner.upscale(batches[0])
    first = time.perf_counter() - start
    runner.upscale(batches[1])
    start = time.perf_counter()
    for b in batches[2:]:
        runner.upscale(b)
    fps = 8 * (len(batches) - 2) / (time.perf_counter() - start)
    return {"first_batch_s": first, "fps": fps}


def child(backend: str, model: str, frames: int, cache: str) -> dict[str, float]:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, __file__, "--child", backend, "--model", model, "--frames", str(frames)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--child", choices=["eager", "compile"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.child:
        with torch.inference_mode():
            print(json.dumps(measure(args.child, args.model, args.frames)))
        return
    with tempfile.TemporaryDirectory() as cache:
        eager = child("eager", args.model, args.frames, cache)
        cold = child("compile", args.model, args.frames, cache)
        warm = child("compile", args.model, args.frames, cache)
    saved = 1 / eager["fps"] - 1 / warm["fps"]  # seconds per frame
    result = {"eager": eager, "compile_cold_cache": cold, "compile_warm_cache": warm}
    for label, run in (("cold", cold), ("warm", warm)):
        extra = run["first_batch_s"] - eager["first_batch_s"]
        result[f"break_even_frames_{label}"] = round(extra / saved) if saved > 0 else None
    print(json.dumps(result, indent=2))
    if args.json:
        save_result(args.json, model=args.model, input="320x180 -> 1280x720, batch 8", **result)


if __name__ == "__main__":
    main()
