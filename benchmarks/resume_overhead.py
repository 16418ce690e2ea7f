"""What `--resume` costs: output size and time against a plain run, per --checkpoint-every.

python benchmarks/resume_overhead.py --json benchmarks/results/resume_overhead_cpu.json
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
    parser.add_argument("--frames", type=int, default=750, help="30 s at 25 fps")
    parser.add_argument("--every", type=float, nargs="+", default=[10.0, 2.0])
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "in.mp4", w, h, args.frames)
        common = {"backend": "eager", "preset": args.preset, "progress": False}
        runs = [("plain", {})] + [
            (f"resume every {s:g} s", {"resume": True, "checkpoint_every": s}) for s in args.every
        ]
        for name, extra in runs:
            out = Path(tmp) / f"{len(rows)}.mp4"
            report = vsr.upscale(clip, out, **common, **extra)
            rows[name] = {
                "bytes": out.stat().st_size,
                "seconds": round(report.seconds, 2),
                "frames": report.frames,
            }
        base = rows["plain"]
        for row in rows.values():
            row["size_vs_plain"] = round(row["bytes"] / base["bytes"], 4)
            row["time_vs_plain"] = round(row["seconds"] / base["seconds"], 3)
            print(row, flush=True)
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size}, {args.frames} frames, x4 fast-x4 eager, libx264 {args.preset} CRF 18",
            results=rows,
        )


if __name__ == "__main__":
    main()
