"""Live latency and throughput: FFmpeg sends the sample over UDP MPEG-TS at 25 fps in real time,
`vsr live` upscales it to 1280x720 and writes an MKV; the stats JSON gives fps in/out, drops and
capture-to-output latency. Each model runs in its own `vsr live` process, bicubic as the baseline.

    python benchmarks/bench_live.py --seconds 30 --json benchmarks/results/live_cpu.json

`--models quality-untrained` runs the quality preset (64 ch x 10 blocks, untrained: same cost as
trained) to show the drop policy when the model is several times slower than the source. A model
may carry `vsr live` options after a colon, e.g. the fallback (issue 14) against none:

    python benchmarks/bench_live.py --seconds 60 --models fast-x4 "fast-x4:--fallback none" \
        "rt-x4:--fallback none" bicubic --json benchmarks/results/live_fallback_zen3.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from udp_source import free_udp_port, udp_sender  # benchmarks/ (the script's folder)

from vsr.bench import save_result
from vsr.models.checkpoint import save_generator
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs


def run(model: str, seconds: float, extra: list[str], workdir: Path) -> dict:
    port = free_udp_port()
    sender = udp_sender(port)
    workdir.mkdir()
    stats = workdir / f"{Path(model).stem}.json"
    command = [
        "vsr", "live", f"udp://127.0.0.1:{port}", "-m", model, "-o", str(workdir / f"{Path(model).stem}.mkv"),
        "--duration", str(seconds), "--stats-json", str(stats), "--stats-every", "0", *extra,
    ]  # fmt: skip
    try:
        time.sleep(0.5)
        started = time.monotonic()
        subprocess.run(command, check=True)
        wall = time.monotonic() - started
    finally:
        sender.terminate()
        sender.wait()
    snapshot = json.loads(stats.read_text())
    source = snapshot["sources"][0]
    levels = [model, *(snapshot.get("fallback") or [])]
    served = [source["frames_upscaled"] - source["fallback_frames"], *source["fallback_served"]]
    by_model = sum(n for name, n in zip(levels, served, strict=True) if name != "bicubic")
    return {
        # the issue 29 measure: frames out made by a model (any level but bicubic)
        "model_share": round(by_model / max(1, source["frames_upscaled"]), 4),
        "command": " ".join(command[:3] + ["..."] + command[4:]),
        "fallback": snapshot.get("fallback"),
        "runtimes": snapshot.get("runtimes"),  # of the model and each fallback level
        "wall_s": round(wall, 1),  # the run's --duration plus start-up (and a runtime measurement)
        **snapshot["sources"][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--models", nargs="+", default=["fast-x4", "bicubic"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, label in enumerate(args.models):
            model, _, options = label.partition(":")
            weights = model
            if model == "quality-untrained":
                weights = str(Path(tmp) / "quality-untrained.safetensors")
                # the 64 x 10 flow generator (the quality preset before issue 12), untrained
                big = GeneratorArgs(scale=4, channels=64, blocks=10, flow_channels=32, hr_warp=True)
                save_generator(FrameRecurrentGenerator.from_args(big), weights)
            key = label if label not in results else f"{label} #{i + 1}"  # a repeated run keeps its own entry
            results[key] = r = run(weights, args.seconds, options.split(), Path(tmp) / str(i))
            lat = r["latency_ms"]
            print(
                f"{key}: in {r['fps_in']:.1f} fps, out {r['fps_out']:.1f} fps, dropped {r['frames_dropped']}"
                f"/{r['frames_in']}, fallback {r['fallback_frames']}, by a model {100 * r['model_share']:.0f}%, "
                f"runtimes {r['runtimes']}, latency p50 {lat['p50']:.0f} p95 {lat['p95']:.0f} max {lat['max']:.0f} ms",
                flush=True,
            )
    report = {
        "source": "samples/city_320x180.mp4 looped by ffmpeg -re as UDP MPEG-TS, 25 fps, 320x180",
        "output": "1280x720 MKV, libx264 veryfast CRF 23 (vsr live defaults)",
        "latency": "from the decoded frame leaving the demuxer to the encoded frame muxed into the output",
        "results": results,
    }
    if args.json:
        save_result(args.json, **report)


if __name__ == "__main__":
    main()
