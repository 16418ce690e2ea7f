"""Quality per FLOP of the real-time candidates against rt-x4 and fast-x4, in one table (issue 29).

For each LABEL=WEIGHTS: parameters, GFLOP of one recurrent step at 320x180 (PyTorch's FLOP
counter: convolutions and matrix products), model-stage fps on this CPU (Runner.upscale of
320x180 uint8 frames of the sample, batch 8, eager fp32 and OpenVINO int8 where installed, in
alternating rounds), and its validation PSNR-Y per setting from a `benchmarks/val_start.py`
result (--val LABEL=JSON): gain over bicubic, and gain per GFLOP.

    python benchmarks/rt_table.py rt-x4=rt-x4 fast-x4=fast-x4 \\
        distilled=train/logs/rt-distill-x4/best.safetensors \\
        --val rt-x4=benchmarks/results/val29_rt-x4_start.json ... --json benchmarks/results/rt_table_zen4.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import model_stage_fps, sample_frames  # noqa: E402

from vsr.bench import save_result  # noqa: E402
from vsr.engine.runtimes import make_generator  # noqa: E402
from vsr.errors import VsrError  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402


def step_gflop(model: torch.nn.Module, height: int = 180, width: int = 320) -> float:
    lr = torch.rand(1, 3, height, width)
    state = model.init_state(lr)  # not counted: once per scene, not per frame
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(lr, *state)
    return counter.get_total_flops() / 1e9


def val_by_setting(path: Path) -> dict[str, dict[str, float]]:
    """Mean PSNR-Y of the model and of bicubic per setting, from a val_start.py result."""
    clips = json.loads(path.read_text())["metrics"]["val_clips"]
    settings: dict[str, list[dict]] = {}
    for name, clip in clips.items():
        settings.setdefault(name.split("/")[0], []).append(clip)
    return {
        s: {
            "psnr_y": statistics.mean(c["psnr_y"] for c in rows),
            "bicubic_psnr_y": statistics.mean(c["bicubic_psnr_y"] for c in rows),
            "clips": len(rows),
        }
        for s, rows in settings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="LABEL=WEIGHTS")
    parser.add_argument("--val", action="append", default=[], metavar="LABEL=JSON")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--backends", nargs="+", default=["eager", "openvino-int8"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    vals = {label: val_by_setting(Path(p)) for label, _, p in (v.partition("=") for v in args.val)}
    frames = sample_frames(args.frames)
    cpu = torch.device("cpu")
    rows, runtimes = {}, {}
    for item in args.models:
        label, _, weights = item.partition("=")
        model, _ = load_model(weights, 4)
        model.eval()
        rows[label] = {
            "weights": weights,
            "params": sum(p.numel() for p in model.parameters()),
            "gflop_320x180": round(step_gflop(model), 3),
            "val": vals.get(label, {}),
        }
        for backend in args.backends:
            try:
                runtimes[(label, backend)] = make_generator(model, backend, cpu, torch.float32)
            except VsrError as error:  # an extra not installed: the row says so
                rows[label][f"{backend}_fps"] = f"unavailable: {error}"
    rounds: dict[tuple[str, str], list[float]] = {key: [] for key in runtimes}
    with torch.inference_mode():
        for r in range(args.repeats):
            for key, module in runtimes.items():
                rounds[key].append(model_stage_fps(module, torch.float32, frames, 8))
            print(
                f"round {r + 1}:", {f"{k[0]} {k[1]}": round(v[-1], 1) for k, v in rounds.items()}, flush=True
            )
    for (label, backend), values in rounds.items():
        rows[label][f"{backend}_fps"] = round(statistics.median(values), 2)
        rows[label][f"{backend}_fps_rounds"] = [round(v, 2) for v in values]
    for label, row in rows.items():
        for v in row["val"].values():
            v["gain_db"] = round(v["psnr_y"] - v["bicubic_psnr_y"], 3)
            v["gain_db_per_gflop"] = round(v["gain_db"] / row["gflop_320x180"], 3)
        cells = " ".join(f"{s} {v['psnr_y']:.2f} (+{v['gain_db']:.2f})" for s, v in row["val"].items())
        speed = " ".join(f"{b} {row.get(f'{b}_fps')}" for b in args.backends)
        print(f"{label:<12} {row['params']:>7} params {row['gflop_320x180']:6.2f} GFLOP  {speed}  {cells}")
    if args.json:
        save_result(
            args.json,
            isa_env={k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
            speed="Runner.upscale, samples/city_320x180.mp4 frames, 320x180 -> 1280x720, batch 8, fp32",
            rows=rows,
        )


if __name__ == "__main__":
    main()
