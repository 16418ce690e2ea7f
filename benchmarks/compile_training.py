"""Does `torch.compile` pay for CPU training? One training step of the quality preset, eager and
with the recurrent step compiled, alternating (issue 12 asks to measure it).

The step: a batch of 8 windows of 10 LR frames 32x32 (HR crops 128) through the hidden-state
generator (32 channels x 8 blocks, 16 state channels, residual feedback), Charbonnier loss,
backward, Adam. Compiling `_hidden_step` (called once per frame, same shapes every call) compiles
once; the first compiled iteration includes that time and is reported apart.

    python benchmarks/compile_training.py --json benchmarks/results/compile_training_zen3.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from vsr.bench import save_result
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs

ARGS = GeneratorArgs(
    scale=4, channels=32, blocks=8, flow_channels=32, hr_warp=True, recurrence="hidden", state_channels=16,
    feedback="residual",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of --steps steps each")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lr, hr = torch.rand(8, 10, 3, 32, 32), torch.rand(8, 10, 3, 128, 128)
    models = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = FrameRecurrentGenerator.from_args(ARGS)
        if name == "compiled":
            model._hidden_step = torch.compile(model._hidden_step)
        models[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-4))

    def step(name: str) -> float:
        model, opt = models[name]
        start = time.perf_counter()
        out = model.forward_sequence(lr).hr
        loss = torch.sqrt((out - hr) ** 2 + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    first = {name: step(name) for name in models}  # warm-up; the compiled one compiles here
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name in models:
            times[name].extend(step(name) for _ in range(args.steps))
    medians = {name: statistics.median(t) for name, t in times.items()}
    summary = {
        "seconds_per_step": {k: round(v, 3) for k, v in medians.items()},
        "speedup": round(medians["eager"] / medians["compiled"], 3),
        "first_step_s": {k: round(v, 1) for k, v in first.items()},
        "threads": args.threads,
    }
    print(summary)
    if args.json:
        save_result(args.json, summary=summary, steps={k: [round(x, 3) for x in v] for k, v in times.items()})


if __name__ == "__main__":
    main()
