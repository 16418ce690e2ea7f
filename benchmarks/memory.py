"""Peak memory of `vsr upscale`: flat in the length of the input, and how it grows with frame size.

Synthetic 320x180 clips of --short and --long frames are upscaled x4 by `vsr upscale` in a child
process each; its peak resident set size (ru_maxrss from wait4) is reported with the ratio.
With --sizes, clips of several sizes are upscaled at --batch 1 and 8 instead, beside the estimate
vsr uses to refuse (or shrink the batch of) jobs that would not fit (vsr/pipeline/memory.py).

    python benchmarks/memory.py --json benchmarks/results/memory_cpu.json
    python benchmarks/memory.py --sizes --json benchmarks/results/memory_sizes_cpu.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from vsr.bench import save_result, synthetic_clip


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process running `command`."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def by_size(sizes: list[str], frames: int, backend: str) -> dict:
    from vsr.pipeline.memory import estimate_bytes

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            clip = synthetic_clip(Path(tmp) / f"in{size}.mp4", w, h, frames)
            for batch in (1, 8):
                command = [
                    "vsr", "upscale", str(clip), str(Path(tmp) / "out.mkv"), "-y", "--batch", str(batch),
                    "--backend", backend, "--preset", "ultrafast", "--no-progress",
                ]  # fmt: skip
                rss, seconds = peak_rss_mb(command)
                estimate = estimate_bytes(4 * w, 4 * h, batch) / 2**20
                rows.append(
                    {"input": size, "output_mpx": round(16 * w * h / 1e6, 2), "batch": batch,
                     "peak_rss_mb": round(rss, 1), "estimate_mb": round(estimate, 1), "seconds": round(seconds, 1)}
                )  # fmt: skip
                print(
                    f"{size} x4 batch {batch}: peak RSS {rss:.0f} MB, estimate {estimate:.0f} MB", flush=True
                )
    return {"frames": frames, "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--backend", default="eager", help="the same for both runs (auto would differ)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sizes", action="store_true", help="peak RSS against frame size and --batch")
    args = parser.parse_args()
    if args.sizes:
        report = by_size(["320x180", "480x270", "960x540"], 48, args.backend)
        if args.json:
            save_result(args.json, **report)
        return
    w, h = (int(v) for v in args.size.split("x"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for frames in (args.short, args.long):
            clip = synthetic_clip(Path(tmp) / f"in{frames}.mp4", w, h, frames)
            command = [
                "vsr", "upscale", str(clip), str(Path(tmp) / f"out{frames}.mkv"),
                "--backend", args.backend, "--preset", "veryfast", "--no-progress",
            ]  # fmt: skip
            rss, seconds = peak_rss_mb(command)
            results[str(frames)] = {"peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)}
            print(f"{frames} frames: peak RSS {rss:.0f} MB in {seconds:.0f} s", flush=True)
    ratio = results[str(args.long)]["peak_rss_mb"] / results[str(args.short)]["peak_rss_mb"]
    print(f"ratio long/short: {ratio:.3f}")
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size}, x4, vsr upscale --backend {args.backend} --preset veryfast",
            results=results,
            ratio_long_over_short=ratio,
        )


if __name__ == "__main__":
    main()
