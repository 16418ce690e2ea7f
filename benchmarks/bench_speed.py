"""Speed on this machine: the model stage alone, and `vsr upscale` end to end against bicubic.

Model stage = vsr.engine.Runner.upscale (uint8 frames in, uint8 frames out: conversion, padding,
the recurrent model, rounding) on 320x180 -> 1280x720 frames, after a warm-up. End to end =
vsr.upscale on a 320x180 clip, with the bicubic baseline through the same decoder and encoder.

    python benchmarks/bench_speed.py --json benchmarks/results/speed_cpu.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

import vsr
from vsr.bench import save_result
from vsr.engine.runner import Runner, RunnerSettings
from vsr.frames import FrameBatch
from vsr.machine import native_bf16
from vsr.models.generator import PRESETS, FrameRecurrentGenerator, GeneratorArgs
from vsr.models.zoo import load_model

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


def sample_frames(n: int) -> torch.Tensor:
    with av.open(str(SAMPLE)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    frames = (frames * (n // len(frames) + 1))[:n]
    return torch.from_numpy(np.stack(frames))  # (n, 180, 320, 3) uint8


def model_stage_fps(
    model: FrameRecurrentGenerator, dtype: torch.dtype, frames: torch.Tensor, batch: int, nchw: bool = False
) -> float:
    """`nchw`: the model's weights in NCHW instead of the Runner's channels_last (the comparison)."""
    runner = Runner(model, RunnerSettings(device=torch.device("cpu"), dtype=dtype))
    if nchw:
        runner.model.to(memory_format=torch.contiguous_format)
    batches = [
        FrameBatch(frames[i : i + batch], tuple(range(i, i + len(frames[i : i + batch]))), Fraction(1, 25))
        for i in range(0, len(frames), batch)
    ]
    for b in batches[:2]:  # warm-up: oneDNN primitive creation, allocator
        runner.upscale(b)
    start = time.perf_counter()
    for b in batches[2:]:
        runner.upscale(b)
    return sum(len(b) for b in batches[2:]) / (time.perf_counter() - start)


def end_to_end(model: str, preset: str, repeats: int) -> dict[str, float]:
    """Best of `repeats` runs of vsr.upscale on the sample clip (decode + model + encode)."""
    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            report = vsr.upscale(
                SAMPLE, Path(tmp) / "out.mp4", model=model, preset=preset, overwrite=True, progress=False
            )
            best = max(best, report.fps)
    return {"fps": best, "frames": report.frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames for the model-stage measurement")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--presets", action="store_true", help="also time the candidate preset sizes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    frames = sample_frames(args.frames)
    dtypes = {"float32": torch.float32}
    if native_bf16():
        dtypes["bfloat16"] = torch.bfloat16
    shipped, _ = load_model("fast-x4")
    model_stage = {name: model_stage_fps(shipped, dt, frames, args.batch) for name, dt in dtypes.items()}
    print(
        "model stage, fast-x4, 320x180 -> 1280x720:",
        {k: round(v, 1) for k, v in model_stage.items()},
        flush=True,
    )

    candidates = {}
    if args.presets:
        sizes = {
            "fast (16ch x 3, LR warp)": asdict(PRESETS["fast"]),
            "16ch x 3, HR warp": {**asdict(PRESETS["fast"]), "hr_warp": True},
            "16ch x 2, LR warp": {**asdict(PRESETS["fast"]), "blocks": 2},
            "32ch x 3, LR warp": {**asdict(PRESETS["fast"]), "channels": 32},
            "64ch x 10, HR warp": {
                **asdict(PRESETS["fast"]),
                "channels": 64,
                "blocks": 10,
                "flow_channels": 32,
                "hr_warp": True,
            },
            "quality (32ch x 8, hidden state 16)": asdict(PRESETS["quality"]),
        }
        for label, kwargs in sizes.items():
            model = FrameRecurrentGenerator.from_args(GeneratorArgs(**kwargs))
            n = frames[: 40 if label.startswith(("64ch", "quality")) else args.frames]
            candidates[label] = {
                name: model_stage_fps(model, dt, n, args.batch) for name, dt in dtypes.items()
            }
            print(label, {k: round(v, 1) for k, v in candidates[label].items()}, flush=True)

    e2e = {}
    for preset in ("medium", "veryfast"):
        ours = end_to_end("fast-x4", preset, args.repeats)
        base = end_to_end("bicubic", preset, args.repeats)
        e2e[f"libx264 {preset}"] = {
            "fast-x4_fps": ours["fps"],
            "bicubic_fps": base["fps"],
            "time_ratio_vs_bicubic": base["fps"] / ours["fps"],
        }
        print(
            f"end to end, libx264 {preset}:",
            {k: round(v, 2) for k, v in e2e[f"libx264 {preset}"].items()},
            flush=True,
        )

    report = {
        "input": "samples/city_320x180.mp4 (320x180, 100 frames) -> 1280x720",
        "model_stage_fps": model_stage,
        "preset_candidates_model_stage_fps": candidates,
        "end_to_end": e2e,
    }
    if args.json:
        save_result(args.json, **report)


if __name__ == "__main__":
    main()
