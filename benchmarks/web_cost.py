"""What `vsr live --web` costs the pipeline: the same live run without --web, and with the page
served to 0, 1 and 3 viewers (each viewer reads the MJPEG stream as a browser does).

The source is the sample clip sent in a loop by a real ffmpeg over UDP (25 fps, 320x180 -> 1280x720);
configurations alternate round by round, and each run reports frames out, drops, latency, the
share served by the model, the CPU seconds of the vsr process (and per frame sent), and the JPEGs
the viewers got. Without a fallback (the default here) every frame is the model's, so the runs
differ only in the page's work.

    python benchmarks/web_cost.py --seconds 25 --rounds 2 --json benchmarks/results/web_cost_zen4.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.bench import save_result  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "city_320x180.mp4"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def viewer(url: str, stop: threading.Event, counts: list[int], index: int) -> None:
    """Read the MJPEG stream until `stop`, counting the JPEGs."""
    with urllib.request.urlopen(url, timeout=30) as stream:
        buffer = b""
        while not stop.is_set():
            chunk = stream.read(65536)
            if not chunk:
                return
            buffer += chunk
            counts[index] += buffer.count(b"--vsrframe")
            buffer = buffer[-9:]  # a marker cut in two is counted once the rest arrives


def run(args: argparse.Namespace, viewers: int | None) -> dict:
    udp = free_port(socket.SOCK_DGRAM)
    sender = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(SAMPLE),
         "-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
         "-f", "mpegts", f"udp://127.0.0.1:{udp}?pkt_size=1316"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        command = [shutil.which("vsr") or "vsr", "live", f"udp://127.0.0.1:{udp}", "-m", args.model, "--fallback", args.fallback,
                   "--duration", str(args.seconds), "--stats-json", str(stats), "--stats-every", "0"]  # fmt: skip
        if viewers is not None:
            command += ["--web", str(free_port(socket.SOCK_STREAM))]
        before = os.times()
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        stop, counts, threads = threading.Event(), [0] * (viewers or 0), []
        assert proc.stderr is not None
        if viewers is not None:
            for line in proc.stderr:
                if m := re.search(r"watch at (http://\S+)/", line):
                    url = m[1] + "/stream/0.mjpg"
                    break
            for i in range(viewers):
                thread = threading.Thread(target=viewer, args=(url, stop, counts, i), daemon=True)
                thread.start()
                threads.append(thread)
        rest = proc.stderr.read()
        proc.wait()
        stop.set()
        after = os.times()
        sender.terminate()
        sender.wait()
        if proc.returncode != 0:
            raise SystemExit(f"vsr live failed: {rest}")
        source = json.loads(stats.read_text())["sources"][0]
    upscaled = max(1, source["frames_upscaled"])
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    return {
        "web": viewers is not None,
        "viewers": viewers or 0,
        "frames_in": source["frames_in"],
        "frames_out": source["frames_out"],
        "fps_out": source["fps_out"],
        "frames_dropped": source["frames_dropped"],
        "latency_p95_ms": source["latency_ms"]["p95"],
        "model_share": 1 - source["fallback_frames"] / upscaled,
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_frame_out": round(1000 * cpu / max(1, source["frames_out"]), 2),
        "jpegs_per_viewer": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument(
        "--fallback", default="none", help="none (default): every frame by the model, so runs compare"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configs: list[int | None] = [None, 0, 1, 3]
    runs = []
    for round_ in range(args.rounds):
        for viewers in configs if round_ % 2 == 0 else list(reversed(configs)):
            result = run(args, viewers) | {"round": round_}
            print(json.dumps(result), flush=True)
            runs.append(result)
    summary = {}
    for viewers in configs:
        mine = [r for r in runs if r["web"] == (viewers is not None) and r["viewers"] == (viewers or 0)]
        label = "no --web" if viewers is None else f"--web, {viewers} viewers"
        summary[label] = {
            key: round(sum(r[key] for r in mine) / len(mine), 3)
            for key in (
                "fps_out",
                "frames_dropped",
                "latency_p95_ms",
                "model_share",
                "cpu_seconds",
                "cpu_ms_per_frame_out",
            )  # fmt: skip
        }
    for label, row in summary.items():
        print(f"{label:<20} {row}")
    if args.json:
        save_result(
            args.json, seconds=args.seconds, rounds=args.rounds, model=args.model, summary=summary, runs=runs
        )


if __name__ == "__main__":
    main()
