"""CPU speed on the native ISA and restricted to AVX2, from any machine (issue 14's table).

For each ISA, in a fresh process (PyTorch and oneDNN read their ISA limits at start-up:
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 for the AVX2 run; OpenVINO's CPU plugin, built on
oneDNN, honours ONEDNN_MAX_CPU_ISA too: its int8 convolutions run jit_avx2_I8 under the cap and
brgconv_avx512_I8 without it on a Zen 4, by its performance counters):

- the model stage (`vsr bench`, 320x180 -> 1280x720, batch 8, stages only) for every CPU backend
  installed: eager fp32, eager with the CPU's default dtype, ONNX Runtime, OpenVINO;
- what `--backend auto` measures there (vsr.engine.autotune.measure) and which runtime it picks;
- `vsr upscale` of the sample with default settings, end to end, against
  `ffmpeg -i IN -vf scale=1280:720:flags=bicubic -c:v libx264 OUT` on the same input, alternating,
  medians of `--repeats`, with the CPU seconds each used (all threads); `--loop N` plays the
  sample N times (a longer input: the fixed start-up cost counts less), `--variant NAME=OPTIONS`
  adds more `vsr upscale` option sets to the same alternation (e.g. `rt-x4="-m rt-x4"`).

    python benchmarks/isa_speed.py --json benchmarks/results/isa_speed_zen3.json
    python benchmarks/isa_speed.py --backends eager:float32 openvino:float32 --loop 4 --variant "rt-x4=-m rt-x4" \
        --variant "veryfast=--preset veryfast" --json benchmarks/results/isa_speed_zen3_loop4.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
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


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, every thread) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def looped_input(tmp: Path, loop: int) -> Path:
    """The sample played `loop` times in one file (stream copy, timestamps continued)."""
    if loop <= 1:
        return SAMPLE
    out = tmp / f"sample_x{loop}.mp4"
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-stream_loop",
        str(loop - 1),
        "-i",
        str(SAMPLE),
        "-c",
        "copy",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def end_to_end(
    env: dict[str, str], repeats: int, extra: list[str], loop: int, variants: dict[str, list[str]]
) -> dict[str, object]:
    import av

    with tempfile.TemporaryDirectory() as tmp:
        source = looped_input(Path(tmp), loop)
        with av.open(str(source)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        out_vsr, out_ff = Path(tmp) / "vsr.mp4", Path(tmp) / "ff.mp4"
        vsr_cmd = [sys.executable, "-m", "vsr", "upscale", str(source), str(out_vsr), "-y", "--no-progress"]
        ff_cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "scale=1280:720:flags=bicubic",
                  "-c:v", "libx264", str(out_ff)]  # fmt: skip
        commands = {
            "vsr": [*vsr_cmd, *extra],
            "ffmpeg_bicubic": ff_cmd,
            "vsr_bicubic": [*vsr_cmd, *extra, "-m", "bicubic"],
            **{f"vsr_{name}": [*vsr_cmd, *options] for name, options in variants.items()},
            "python_import": [sys.executable, "-c", "import vsr.cli, vsr.pipeline.offline"],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, cmd in commands.items():
                wall, cpu = timed(cmd, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    ffmpeg = statistics.median(walls["ffmpeg_bicubic"])
    report: dict[str, object] = {"frames": frames, "loop": loop, "vsr_options": extra or "defaults"}
    for name in commands:
        wall = statistics.median(walls[name])
        report[name] = {
            "wall_s": [round(x, 2) for x in walls[name]],
            "cpu_s": [round(x, 2) for x in cpus[name]],
            **(
                {}
                if name == "python_import"  # part of every vsr time
                else {
                    "fps": round(frames / wall, 2),
                    "time_vs_ffmpeg": round(wall / ffmpeg, 2),
                    "cpu_ms_per_frame": round(1000 * statistics.median(cpus[name]) / frames, 1),
                }
            ),
        }
    for name, options in variants.items():
        report[f"vsr_{name}"]["options"] = options
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isas", nargs="+", default=list(ISAS), choices=list(ISAS))
    parser.add_argument(
        "--backends", nargs="+", default=["eager:float32", "eager", "ort", "openvino:float32"]
    )
    parser.add_argument("--frames", type=int, default=120, help="frames timed per model-stage measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--upscale-options", nargs="*", default=[], help="extra vsr upscale options")
    parser.add_argument("--loop", type=int, default=1, help="play the sample this many times")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help="another vsr upscale option set",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({**model_stage(args.backends, args.frames), "autotune": autotune_measurement()}))
        return
    variants = {v.partition("=")[0]: shlex.split(v.partition("=")[2]) for v in args.variant}
    results = {}
    for isa in args.isas:
        env = {**os.environ, **ISAS[isa]}
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--frames", str(args.frames), "--backends", *args.backends],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        results[isa] = {"model_stage_fps": json.loads(child.stdout.strip().splitlines()[-1])}
        results[isa]["upscale"] = end_to_end(env, args.repeats, args.upscale_options, args.loop, variants)
        print(isa, json.dumps(results[isa], indent=1), flush=True)
    if args.json:
        sys.path.insert(0, str(ROOT))
        from vsr.bench import save_result

        save_result(
            args.json, command="python benchmarks/isa_speed.py " + " ".join(sys.argv[1:]), results=results
        )


if __name__ == "__main__":
    main()
