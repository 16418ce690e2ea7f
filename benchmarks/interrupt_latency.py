"""How fast `vsr upscale` stops on SIGINT/SIGTERM, and that it always exits 130 leaving nothing.

A synthetic clip is upscaled x4 in a child process; once its partial output appears the signal is
sent after a random delay (so it lands anywhere in a model step), and the time to exit is taken.

    python benchmarks/interrupt_latency.py --json benchmarks/results/interrupt_cpu.json
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from vsr.bench import save_result, synthetic_clip


def one(clip: Path, out: Path, sig: signal.Signals, delay: float) -> tuple[float, int]:
    proc = subprocess.Popen(
        ["vsr", "upscale", str(clip), str(out), "--no-progress", "--preset", "ultrafast"],
        stderr=subprocess.DEVNULL,
        # A background shell starts its jobs with SIGINT ignored, and Python then keeps ignoring it;
        # give the child the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(f".{out.stem}.vsr-partial*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(sig)
    proc.wait()
    return time.monotonic() - sent, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="480x360")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "in.mp4", w, h, 200)
        for n in range(args.runs):
            sig = (signal.SIGINT, signal.SIGTERM)[n % 2]
            seconds, code = one(clip, Path(tmp) / "out.mp4", sig, rng.uniform(0.2, 2.0))
            left = sorted(p.name for p in Path(tmp).iterdir() if p.name != "in.mp4")
            rows.append({"signal": sig.name, "seconds": round(seconds, 3), "exit": code, "left_behind": left})
            print(rows[-1], flush=True)
    times = [r["seconds"] for r in rows]
    summary = {
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "all_exit_130": all(r["exit"] == 130 for r in rows),
        "nothing_left": all(not r["left_behind"] for r in rows),
    }
    print(summary)
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size} -> x4, fast-x4, --batch 8, libx264 ultrafast",
            summary=summary,
            runs=rows,
        )


if __name__ == "__main__":
    main()
