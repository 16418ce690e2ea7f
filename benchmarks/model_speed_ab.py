"""Model-stage speed of two or more generators, measured alternately on the same machine.

The model stage is what `vsr bench` reports as "model": Runner.upscale on uint8 320x180 frames of
the sample clip (conversion, padding, the recurrent model, rounding), 320x180 -> 1280x720, batch
8, after a warm-up. The models take turns, `--repeats` rounds, so load and clock changes hit them
alike; the JSON keeps every round and the medians. Run it beside an AVX2-only measurement with
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 in the environment (the result records the ISA).

    python benchmarks/model_speed_ab.py old=benchmarks/models/fast-x4-flow.safetensors new=fast-x4 \\
        --json benchmarks/results/model_speed_ab_zen3.json
    python benchmarks/model_speed_ab.py fast-x4=fast-x4 rt-x4=rt-x4 --nchw \\
        --json benchmarks/results/model_speed_ab_rt_zen3.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import model_stage_fps, sample_frames  # noqa: E402

from vsr.bench import save_result  # noqa: E402
from vsr.engine.compiled import CompiledGenerator  # noqa: E402
from vsr.engine.runner import resolve_dtype  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="LABEL=WEIGHTS", help="shipped name or .safetensors")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="auto", help="auto: bf16 where the CPU has it, else fp32")
    parser.add_argument("--compile", action="store_true", help="also time --backend compile")
    parser.add_argument(
        "--nchw", action="store_true", help="also time the weights in NCHW (the Runner's are channels_last)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    frames = sample_frames(args.frames)
    dtype = resolve_dtype(args.dtype, torch.device("cpu"))
    models = {}
    for item in args.models:
        label, _, weights = item.partition("=")
        model, _ = load_model(weights, 4)
        models[f"{label} eager"] = model.eval()
        if args.nchw:
            models[f"{label} eager nchw"] = model
        if args.compile:
            models[f"{label} compile"] = CompiledGenerator(model)
    rounds: dict[str, list[float]] = {label: [] for label in models}
    with torch.inference_mode():
        for r in range(args.repeats):
            for label, model in models.items():
                rounds[label].append(
                    model_stage_fps(model, dtype, frames, args.batch, label.endswith(" nchw"))
                )
            print(f"round {r + 1}:", {k: round(v[-1], 1) for k, v in rounds.items()}, flush=True)
    medians = {label: statistics.median(v) for label, v in rounds.items()}
    print("medians:", {k: round(v, 1) for k, v in medians.items()})
    if args.json:
        save_result(
            args.json,
            input="samples/city_320x180.mp4 frames, 320x180 -> 1280x720, Runner.upscale",
            models=args.models,
            dtype=str(dtype).removeprefix("torch."),
            isa_env={k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
            batch=args.batch,
            rounds=rounds,
            median_fps=medians,
        )


if __name__ == "__main__":
    main()
