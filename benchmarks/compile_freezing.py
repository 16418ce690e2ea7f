"""`--backend compile` on the CPU: the module compiled as it is, against the step exported and
compiled with Inductor's freezing (what CompiledGenerator does now), against eager.

One process, alternating rounds (this VM's speed drifts by tens of percent within minutes):
- step: the generator's step alone on one 320x180 frame in the Runner's channels_last layout;
- runner: Runner.upscale of an 8-frame batch of 8-bit frames, output conversion included.
Also the first call of each (compile time, this process's Inductor cache state) and the largest
difference of each runner's 8-bit output from eager's.

    python benchmarks/compile_freezing.py --json benchmarks/results/compile_freezing_zen3.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vsr.bench import save_result  # noqa: E402
from vsr.engine.compiled import CompiledGenerator  # noqa: E402
from vsr.engine.runner import Runner, RunnerSettings  # noqa: E402
from vsr.frames import FrameBatch  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402

KINDS = ("eager", "module compiled", "exported + freezing")


def generator(kind: str, model: str) -> torch.nn.Module:
    base = load_model(model)[0].float()
    if kind == "eager":
        return base
    compiled = CompiledGenerator(base)
    if kind == "module compiled":  # what CompiledGenerator did before on the CPU
        compiled._compiled = torch.compile(compiled.model, dynamic=False)
    return compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    data = torch.randint(0, 256, (8, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    batch = FrameBatch(data, tuple(range(8)), Fraction(1, 25))
    runners = {k: Runner(generator(k, args.model), RunnerSettings(device=torch.device("cpu"))) for k in KINDS}
    first, outputs = {}, {}
    for kind, runner in runners.items():
        start = time.perf_counter()
        outputs[kind] = runner.upscale(batch).data
        first[kind] = round(time.perf_counter() - start, 1)
    diff = {k: int((o.int() - outputs["eager"].int()).abs().max()) for k, o in outputs.items()}
    lr = torch.rand(1, 3, h, w).contiguous(memory_format=torch.channels_last)
    step_fps: dict[str, list[float]] = {k: [] for k in KINDS}
    runner_fps: dict[str, list[float]] = {k: [] for k in KINDS}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for kind, runner in runners.items():
                state = runner.model.init_state(lr)
                runner.model(lr, *state)
                start = time.perf_counter()
                for _ in range(10):
                    runner.model(lr, *state)
                step_fps[kind].append(round(10 / (time.perf_counter() - start), 2))
                start = time.perf_counter()
                runner.upscale(batch)
                runner.upscale(batch)
                runner_fps[kind].append(round(16 / (time.perf_counter() - start), 2))
    summary = {
        k: {"step_fps": statistics.median(step_fps[k]), "runner_fps": statistics.median(runner_fps[k])}
        for k in KINDS
    }
    for k, v in summary.items():
        print(f"{k:22s} step {v['step_fps']:6.1f} fps  runner {v['runner_fps']:6.1f} fps  first {first[k]} s")
    if args.json:
        save_result(
            args.json,
            command="python benchmarks/compile_freezing.py " + " ".join(sys.argv[1:]),
            model=args.model,
            size=args.size,
            first_call_s=first,
            max_diff_from_eager=diff,
            step_fps_rounds=step_fps,
            runner_fps_rounds=runner_fps,
            median=summary,
        )


if __name__ == "__main__":
    main()
