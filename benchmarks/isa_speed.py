"""CPU speed on the native ISA and restricted to AVX2, from any machine (issue 14's table).

For each ISA, in a fresh process (PyTorch and oneDNN read their ISA limits at start-up:
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 for the AVX2 run; OpenVINO has no such switch and
uses the native ISA in both):

- the model stage (`vsr bench`, 320x180 -> 1280x720, batch 8, stages only) for every CPU backend
  installed: eager fp32, eager with the CPU's default dtype, ONNX Runtime, OpenVINO;
- what `--backend auto` measures there (vsr.engine.autotune.measure) and which runtime it picks;
- `vsr upscale` of the sample with default settings, end to end, against
  `ffmpeg -i IN -vf scale=1280:720:flags=bicubic -c:v libx264 OUT` on the same input, alternating,
  medians of `--repeats`.

    python benchmarks/isa_speed.py --json benchmarks/results/isa_speed_zen3.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "city_320x180.mp4"
ISAS = {"native": {}, "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def model_stage(backends: list[str], frames: int) -> dict[str, float]:
    import torch

    from vsr.bench import BenchConfig, run_bench

    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for spec in backends:
        backend, _, dtype = spec.partition(":")
        try:
            cfg = BenchConfig(
                frames=frames, backend=backend, dtype=dtype or "auto", device="cpu", end_to_end=False
            )
            report = run_bench(cfg)
        except Exception as exc:  # noqa: BLE001 - a backend that is not installed is recorded, not fatal
            out[spec] = f"unavailable: {exc}"
            continue
        out[f"{backend} {report['dtype']}"] = round(report["rows"][0]["stages"]["model"], 2)
    return out


def autotune_measurement() -> dict[str, object]:
    """What `--backend auto` measures at 320x180 (alternating rounds, medians) and picks."""
    from vsr.engine import autotune
    from vsr.models.zoo import load_model

    model, _ = load_model("fast-x4", 4)
    start = time.perf_counter()
    choice, _ = autotune.measure(model, "auto", (320, 180), autotune.candidates(autotune.MEASURE_FRAMES))
    return {
        "choice": choice.backend,
        "fps": {k: round(v, 2) for k, v in choice.fps.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr}")
    return time.perf_counter() - start


def end_to_end(env: dict[str, str], repeats: int, extra: list[str]) -> dict[str, object]:
    import av

    with av.open(str(SAMPLE)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with tempfile.TemporaryDirectory() as tmp:
        out_vsr, out_ff = Path(tmp) / "vsr.mp4", Path(tmp) / "ff.mp4"
        vsr_cmd = [
            sys.executable,
            "-m",
            "vsr",
            "upscale",
            str(SAMPLE),
            str(out_vsr),
            "-y",
            "--no-progress",
            *extra,
        ]
        ff_cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(SAMPLE), "-vf", "scale=1280:720:flags=bicubic",
                  "-c:v", "libx264", str(out_ff)]  # fmt: skip
        startup_cmd = [sys.executable, "-c", "import vsr.cli, vsr.pipeline.offline"]
        ours, theirs, baseline, startup = [], [], [], []
        for _ in range(repeats):
            ours.append(timed(vsr_cmd, env))
            theirs.append(timed(ff_cmd, env))
            baseline.append(timed([*vsr_cmd, "-m", "bicubic"], env))
            startup.append(timed(startup_cmd, env))
    v, f, b = statistics.median(ours), statistics.median(theirs), statistics.median(baseline)
    return {
        "frames": frames,
        "vsr_upscale_s": [round(x, 2) for x in ours],
        "ffmpeg_bicubic_s": [round(x, 2) for x in theirs],
        "vsr_bicubic_s": [round(x, 2) for x in baseline],
        "python_import_s": [round(x, 2) for x in startup],  # part of every vsr time above
        "vsr_fps": round(frames / v, 2),
        "ffmpeg_fps": round(frames / f, 2),
        "vsr_bicubic_fps": round(frames / b, 2),
        "time_vs_ffmpeg": round(v / f, 2),
        "vsr_bicubic_time_vs_ffmpeg": round(b / f, 2),
        "vsr_options": extra or "defaults",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isas", nargs="+", default=list(ISAS), choices=list(ISAS))
    parser.add_argument(
        "--backends", nargs="+", default=["eager:float32", "eager", "ort", "openvino:float32"]
    )
    parser.add_argument("--frames", type=int, default=120, help="frames timed per model-stage measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--upscale-options", nargs="*", default=[], help="extra vsr upscale options")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({**model_stage(args.backends, args.frames), "autotune": autotune_measurement()}))
        return
    results = {}
    for isa in args.isas:
        env = {**os.environ, **ISAS[isa]}
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--frames", str(args.frames), "--backends", *args.backends],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        results[isa] = {"model_stage_fps": json.loads(child.stdout.strip().splitlines()[-1])}
        results[isa]["upscale"] = end_to_end(env, args.repeats, args.upscale_options)
        print(isa, json.dumps(results[isa], indent=1), flush=True)
    if args.json:
        sys.path.insert(0, str(ROOT))
        from vsr.bench import save_result

        save_result(
            args.json, command="python benchmarks/isa_speed.py " + " ".join(sys.argv[1:]), results=results
        )


if __name__ == "__main__":
    main()
