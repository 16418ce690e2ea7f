"""Live for a long time against a real local source that keeps going away: memory and latency stay
flat, and every reconnect shows in the stats.

FFmpeg sends the sample as UDP MPEG-TS at 25 fps; every --restart-every seconds it is killed and,
after --gap seconds, started again. `vsr live` runs the whole time; its RSS (/proc) and its stats
JSON (rewritten every 10 s) are sampled.

    python benchmarks/live_soak.py --minutes 60 --json benchmarks/results/live_soak_cpu.json
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from udp_source import free_udp_port, udp_sender  # benchmarks/ (the script's folder)

from vsr.bench import save_result


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(seconds: float, restart_every: float, gap: float, sample_every: float, workdir: Path) -> dict:
    port = free_udp_port()
    stats = workdir / "stats.json"
    source = udp_sender(port)
    live = subprocess.Popen(
        ["vsr", "live", f"udp://127.0.0.1:{port}", "-o", str(workdir / "out.ts"), "--timeout", "1",
         "--stats-json", str(stats), "--stats-every", str(sample_every), "--duration", str(seconds)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples, restarts = [], 0
    start = time.monotonic()
    next_restart = start + restart_every
    next_sample = start + sample_every
    try:
        while live.poll() is None:
            now = time.monotonic()
            if now >= next_restart:
                source.terminate()
                source.wait()
                time.sleep(gap)
                source = udp_sender(port)
                restarts += 1
                next_restart = time.monotonic() + restart_every
            if now >= next_sample:
                snap = json.loads(stats.read_text())["sources"][0] if stats.exists() else {}
                samples.append(
                    {
                        "t": round(now - start, 1),
                        "rss_mb": round(rss_mb(live.pid), 1),
                        "frames_out": snap.get("frames_out"),
                        "reconnects": snap.get("reconnects"),
                        "latency_ms": snap.get("latency_ms"),
                    }
                )
                next_sample += sample_every
            time.sleep(0.1)
    finally:
        source.send_signal(signal.SIGTERM)
        source.wait()
        if live.poll() is None:
            live.terminate()
    _, stderr = live.communicate(timeout=60)
    final = json.loads(stats.read_text())["sources"][0]
    return {
        "restarts": restarts,
        "final": final,
        "samples": samples,
        "exit": live.returncode,
        "stderr_tail": stderr[-500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--restart-every", type=float, default=60)
    parser.add_argument("--gap", type=float, default=2)
    parser.add_argument("--sample-every", type=float, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(args.minutes * 60, args.restart_every, args.gap, args.sample_every, Path(tmp))
    rss = [s["rss_mb"] for s in result["samples"] if s["rss_mb"]]
    print(f"restarts {result['restarts']}, reconnects {result['final']['reconnects']}, "
          f"frames out {result['final']['frames_out']}, RSS first/last/max {rss[0]:.0f}/{rss[-1]:.0f}/{max(rss):.0f} MB")  # fmt: skip
    if args.json:
        save_result(args.json, **result)


if __name__ == "__main__":
    main()
