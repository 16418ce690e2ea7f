"""What Ray costs and buys for `vsr batch` on one machine, and what that implies for a cluster.

1. Start-up: an embedded Ray (`ray.init(address="local")`) until it answers, then one vsr worker
   actor until it answers its first call (the actor's process imports torch and vsr).
2. Per-unit overhead: many tiny units (bicubic, a 2-frame 64x48 clip) through one actor; the
   round trip of a unit minus the time the worker spent on it.
3. `vsr batch` of N short clips cut from the sample (real content), with the default model:
   serially in one process (torch on every core) and with `--ray local --ray-workers 2` (one
   actor per core, one torch thread each), end to end, as a user would run them.

    python benchmarks/ray_batch.py --json benchmarks/results/ray_batch_zen3.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vsr.bench import save_result  # noqa: E402

SAMPLE = ROOT / "samples" / "city_320x180.mp4"


def cut_clips(out: Path, count: int, frames: int) -> list[Path]:
    """`count` clips of `frames` frames each, re-encoded from consecutive stretches of the sample."""
    clips = []
    with av.open(str(SAMPLE)) as src:
        images = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    for n in range(count):
        path = out / f"clip{n}.mp4"
        with av.open(str(path), "w") as dst:
            stream = dst.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
            stream.codec_context.options = {"crf": "18", "preset": "veryfast"}
            for i in range(frames):
                image = images[(n * frames + i) % len(images)]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    dst.mux(packet)
            for packet in stream.encode(None):
                dst.mux(packet)
        clips.append(path)
    return clips


def startup_and_overhead(units: int) -> dict[str, float]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    from tests.clips import make_clip
    from vsr.cluster.driver import actor_class
    from vsr.cluster.worker import Identity, Unit
    from vsr.config import UpscaleConfig

    start = time.perf_counter()
    ray.init(address="local", include_dashboard=False, logging_level="WARNING")
    ray.get(ray.remote(lambda: 1).remote())
    ray_start = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "tiny.mp4", frames=2)
        options = UpscaleConfig(
            clip, Path(tmp) / "o.mp4", model="bicubic", preset="ultrafast", progress=False
        )
        start = time.perf_counter()
        actor = actor_class(ray).options(num_cpus=1).remote(options, 1, 0)
        ray.get(actor.probe.remote(str(Path(tmp) / "no-marker"), "", []))
        actor_start = time.perf_counter() - start
        ray.get(actor.run.remote(Unit(-1, Identity.of(clip), str(Path(tmp) / "warm.mp4"))))  # first use
        trips, inside = [], []
        for n in range(units):
            out = Path(tmp) / f"o{n}.mp4"
            start = time.perf_counter()
            result = ray.get(actor.run.remote(Unit(n, Identity.of(clip), str(out))))
            trips.append(time.perf_counter() - start)
            inside.append(result.seconds)
            assert not result.error, result.error
    ray.shutdown()
    overhead = [t - i for t, i in zip(trips, inside, strict=True)]
    return {
        "ray_start_s": round(ray_start, 2),
        "actor_start_s": round(actor_start, 2),
        "units": units,
        "unit_round_trip_median_ms": round(1000 * statistics.median(trips), 1),
        "unit_in_worker_median_ms": round(1000 * statistics.median(inside), 1),
        "per_unit_overhead_median_ms": round(1000 * statistics.median(overhead), 1),
    }


def vsr_batch(clips: list[Path], out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "vsr", "batch", *map(str, clips), "-o", str(out), "--no-progress", *extra]
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(run.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--frames", type=int, default=48, help="frames per clip")
    parser.add_argument("--units", type=int, default=20, help="tiny units for the overhead figure")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    overhead = startup_and_overhead(args.units)
    print(overhead)
    with tempfile.TemporaryDirectory() as tmp:
        clips = cut_clips(Path(tmp), args.files, args.frames)
        serial, on_ray = [], []
        for _ in range(args.repeats):  # alternating, so drift hits both alike
            serial.append(vsr_batch(clips, Path(tmp) / "serial", []))
            on_ray.append(vsr_batch(clips, Path(tmp) / "ray", ["--ray", "local", "--ray-workers", "2"]))
    frames = args.files * args.frames
    batch = {
        "files": args.files,
        "frames_per_file": args.frames,
        "size": "320x180 -> 1280x720",
        "model": "fast-x4 (default)",
        "serial_s": [round(s, 2) for s in serial],
        "ray_local_2_workers_s": [round(s, 2) for s in on_ray],
        "serial_fps": round(frames / min(serial), 2),
        "ray_local_2_workers_fps": round(frames / min(on_ray), 2),
    }
    print(batch)
    if args.json:
        save_result(
            args.json,
            command="python benchmarks/ray_batch.py " + " ".join(sys.argv[1:]),
            startup_and_overhead=overhead,
            batch=batch,
        )


if __name__ == "__main__":
    main()
