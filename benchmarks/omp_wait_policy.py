"""OpenMP waiting policy of the `vsr` command: PyTorch's threads asleep between operators
(OMP_WAIT_POLICY=PASSIVE, what `vsr` sets unless told otherwise) against libgomp's default spin
(GOMP_SPINCOUNT=300000, what an unset environment gives), alternating, on the same machine:

- `vsr live` of the sample sent over UDP MPEG-TS at 25 fps (benchmarks/udp_source.py) to a
  1280x720 MKV (libx264 veryfast, zerolatency), `--seconds` each: fps out;
- `vsr upscale` of the sample with default settings: wall time.

    python benchmarks/omp_wait_policy.py --json benchmarks/results/omp_wait_policy_zen3.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from udp_source import free_udp_port, udp_sender  # benchmarks/ (the script's folder)

from vsr.bench import save_result

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "city_320x180.mp4"
POLICIES = {"passive (vsr default)": {}, "spin (libgomp default)": {"GOMP_SPINCOUNT": "300000"}}


def live(env: dict[str, str], model: str, seconds: float, tmp: Path) -> float:
    port = free_udp_port()
    sender = udp_sender(port)
    stats = tmp / "live.json"
    try:
        time.sleep(0.5)
        subprocess.run(
            ["vsr", "live", f"udp://127.0.0.1:{port}", "-m", model, "--fallback", "none", "-o", str(tmp / "o.mkv"),
             "-y", "--duration", str(seconds), "--stats-json", str(stats), "--stats-every", "0"],
            check=True, env={**os.environ, **env}, capture_output=True,
        )  # fmt: skip
    finally:
        sender.terminate()
        sender.wait()
    return json.loads(stats.read_text())["sources"][0]["fps_out"]


def upscale(env: dict[str, str], tmp: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["vsr", "upscale", str(SAMPLE), str(tmp / "o.mp4"), "-y", "--no-progress"],
        check=True, env={**os.environ, **env}, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rt-x4", help="the live model")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rounds: dict[str, dict[str, list[float]]] = {p: {"live_fps_out": [], "upscale_s": []} for p in POLICIES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for policy, env in POLICIES.items():
                rounds[policy]["live_fps_out"].append(live(env, args.model, args.seconds, Path(tmp)))
                rounds[policy]["upscale_s"].append(upscale(env, Path(tmp)))
            print(f"round {r + 1}:", json.dumps(rounds), flush=True)
    medians = {p: {k: statistics.median(v) for k, v in m.items()} for p, m in rounds.items()}
    print("medians:", json.dumps(medians))
    if args.json:
        save_result(
            args.json,
            live=f"{args.model} --fallback none, samples/city_320x180.mp4 as UDP MPEG-TS at 25 fps, {args.seconds} s",
            upscale="vsr upscale samples/city_320x180.mp4 (100 frames, 320x180 -> 1280x720, defaults)",
            rounds=rounds,
            medians=medians,
        )


if __name__ == "__main__":
    main()
