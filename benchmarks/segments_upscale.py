"""End-to-end speed of `vsr upscale --segments B` (segment-parallel), against B=1.

A synthetic clip (--size, --frames) is upscaled x4 through the whole file pipeline (decode, model,
colour conversion, one x264 encoder per part, the final join) for each B; fps is output frames over
the run's wall time as vsr.upscale reports it (model load excluded, warm-up frames included as cost).

    python benchmarks/segments_upscale.py --json benchmarks/results/segments_upscale_cpu.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import vsr
from vsr.bench import save_result, synthetic_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "in.mp4", w, h, args.frames)
        vsr.upscale(clip, Path(tmp) / "warm.mkv", backend=args.backend, preset=args.preset, progress=False)
        for b in args.segments:
            report = vsr.upscale(
                clip,
                Path(tmp) / f"out{b}.mkv",
                backend=args.backend,
                preset=args.preset,
                segments=b,
                warmup=args.warmup,
                progress=False,
            )
            assert report.frames == args.frames, report.frames
            results[str(b)] = {"fps": round(report.fps, 2), "seconds": round(report.seconds, 2)}
            print(f"B={b}: {report.fps:.1f} fps end to end ({report.seconds:.1f} s)", flush=True)
    base = results[str(args.segments[0])]["fps"]
    for row in results.values():
        row["speedup_vs_first"] = round(row["fps"] / base, 3)
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size}, {args.frames} frames, x4 fast-x4, --backend {args.backend}, "
            f"libx264 {args.preset}, --warmup {args.warmup}",
            results=results,
        )


if __name__ == "__main__":
    main()
