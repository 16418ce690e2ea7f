"""The README's speed table: `vsr bench` for every runtime that runs on this machine, side by side.

Each backend is timed per stage and end to end (`vsr upscale` of the same synthetic clip), with the
bicubic baseline through the same decoder and encoder measured in the same run.

    python benchmarks/bench_backends.py --json benchmarks/results/speed_backends_cpu.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from vsr.bench import BenchConfig, run_bench, save_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["eager", "compile", "ort"])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    results = {}
    for backend in args.backends:
        dtypes = {"ort": ["float32"], "eager": ["auto", "float32"]}.get(backend, ["auto"])
        for dtype in dtypes:
            cfg = BenchConfig(
                sizes=((w, h),),
                frames=args.frames,
                batches=(args.batch,),
                backend=backend,
                dtype=dtype,
                preset=args.preset,
                device="cpu" if not torch.cuda.is_available() else "auto",
            )
            report = run_bench(
                cfg, progress=lambda m, b=backend: print(f"{b}: {m}", file=sys.stderr, flush=True)
            )
            row = report["rows"][0]
            key = f"{backend} {report['dtype']}"
            results[key] = {
                "model_stage_fps": row["stages"]["model"],
                "stages_fps": row["stages"],
                "bicubic_stages_fps": row["bicubic_stages"],
                **row["end_to_end"],
            }
            e = row["end_to_end"]
            print(
                f"{key}: model stage {row['stages']['model']:.1f} fps, end to end {e['model_fps']:.1f} fps "
                f"(bicubic {e['bicubic_fps']:.1f}, time ratio {e['time_ratio_vs_bicubic']:.2f})",
                flush=True,
            )
    print("\n| backend | model stage fps | end to end fps | bicubic end to end fps | time vs bicubic |")
    print("|---|---|---|---|---|")
    for key, r in results.items():
        print(
            f"| {key} | {r['model_stage_fps']:.1f} | {r['model_fps']:.1f} | {r['bicubic_fps']:.1f} "
            f"| {r['time_ratio_vs_bicubic']:.2f}x |"
        )
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size} clip, {args.frames} frames (+8 warm-up), x4, batch {args.batch}",
            encoder=f"libx264 --preset {args.preset} --crf 18",
            results=results,
        )


if __name__ == "__main__":
    main()
