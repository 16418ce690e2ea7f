"""Batched recurrent inference for files, measured before it is wired into `vsr upscale`.

A video of N frames is cut into B segments processed side by side as one batch (each segment with
its own recurrent state, `Runner.step_streams`); each segment starts K frames early so its state
is warm at its first output frame. Reported:

- quality: PSNR-Y of every segment's first output frame against the same frame upscaled
  sequentially (one state through the whole video), and the mean PSNR-Y against ground truth, for
  K in --warmups, on the validation clips (BI x4);
- speed: model-stage frames per second (output frames, warm-up frames counted as cost) for B in
  --segments at 320x180 -> 1280x720.

    python benchmarks/segment_batching.py --json benchmarks/results/segment_batching_cpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vsr.bench import save_result
from vsr.degradations import bicubic_downscale, crop_to_multiple
from vsr.engine.build import build_runner
from vsr.engine.runner import StreamState
from vsr.frames import FrameBatch
from vsr.metrics import luma_planes, psnr_plane

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


def decode(path: Path, limit: int) -> torch.Tensor:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(limit), c.decode(video=0), strict=False)]
    return torch.from_numpy(np.stack(frames))  # (t, h, w, 3) uint8


def segmented(runner, lr: torch.Tensor, segments: int, warmup: int) -> torch.Tensor:
    """Upscale (t, h, w, 3) LR frames as `segments` side-by-side sequences; returns (t, H, W, 3)."""
    t = lr.shape[0]
    length = -(-t // segments)
    starts = [i * length for i in range(segments) if i * length < t]
    begins = [max(0, s - warmup) for s in starts]
    ends = [min(t, s + length) for s in starts]
    states = [StreamState() for _ in starts]
    out: list[torch.Tensor | None] = [None] * t
    steps = max(e - b for b, e in zip(begins, ends, strict=True))
    for k in range(steps):
        active = [i for i in range(len(starts)) if begins[i] + k < ends[i]]
        index = [begins[i] + k for i in active]
        hr = runner.step_streams(lr[index], [states[i] for i in active], [k == 0] * len(active))
        for j, i in enumerate(active):
            if index[j] >= starts[i]:
                out[index[j]] = hr[j]
    return torch.stack(out)


def sequential(runner, lr: torch.Tensor) -> torch.Tensor:
    runner.reset()
    batch = FrameBatch(lr, tuple(range(len(lr))), Fraction(1, 25))
    return runner.upscale(batch).host()


def to_float(frames: torch.Tensor) -> torch.Tensor:
    return frames.permute(0, 3, 1, 2).float() / 255


def quality(runner, val_dir: Path, frames: int, segments: int, warmups: list[int]) -> dict:
    rows: dict[str, dict] = {}
    for clip in sorted(p for p in val_dir.iterdir() if p.is_file()):
        hr = crop_to_multiple(to_float(decode(clip, frames)), 8)
        lr = (bicubic_downscale(hr, 4) * 255).round().byte().permute(0, 2, 3, 1).contiguous()
        y_gt = luma_planes(hr)
        ref = sequential(runner, lr)
        y_ref = luma_planes(to_float(ref))
        length = -(-len(lr) // segments)
        firsts = [i * length for i in range(1, segments) if i * length < len(lr)]
        row = {
            "sequential_psnr_y": float(
                np.mean([psnr_plane(a[4:-4, 4:-4], b[4:-4, 4:-4]) for a, b in zip(y_ref, y_gt, strict=True)])
            )
        }
        for k in warmups:
            out = segmented(runner, lr, segments, k)
            y = luma_planes(to_float(out))
            row[f"K={k}"] = {
                "psnr_y": float(
                    np.mean([psnr_plane(a[4:-4, 4:-4], b[4:-4, 4:-4]) for a, b in zip(y, y_gt, strict=True)])
                ),
                "boundary_psnr_y_vs_gt": float(
                    np.mean([psnr_plane(y[f][4:-4, 4:-4], y_gt[f][4:-4, 4:-4]) for f in firsts])
                ),
                "boundary_sequential_psnr_y_vs_gt": float(
                    np.mean([psnr_plane(y_ref[f][4:-4, 4:-4], y_gt[f][4:-4, 4:-4]) for f in firsts])
                ),
                "boundary_psnr_y_vs_sequential": float(np.mean([psnr_plane(y[f], y_ref[f]) for f in firsts])),
            }
        rows[clip.stem] = row
        print(clip.stem, json.dumps(row), flush=True)
    return rows


def speed(runner, frames: int, segments: list[int], warmup: int) -> dict:
    lr = decode(SAMPLE, 100)
    lr = lr[torch.arange(frames) % len(lr)]
    result = {}
    for b in segments:
        segmented(runner, lr[: 2 * b], b, 0)  # warm-up: kernels for this batch size
        start = time.perf_counter()
        segmented(runner, lr, b, warmup if b > 1 else 0)
        result[str(b)] = frames / (time.perf_counter() - start)
        print(f"B={b}: {result[str(b)]:.1f} output fps (K={warmup})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--frames", type=int, default=48, help="frames per validation clip")
    parser.add_argument("--quality-segments", type=int, default=4)
    parser.add_argument("--warmups", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--speed-frames", type=int, default=160)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runner, name = build_runner(args.model, 4, backend=args.backend)
    q = quality(runner, args.val_dir, args.frames, args.quality_segments, args.warmups)
    summary = {
        f"K={k}": {
            key: float(np.mean([r[f"K={k}"][key] for r in q.values()]))
            for key in (
                "psnr_y",
                "boundary_psnr_y_vs_gt",
                "boundary_sequential_psnr_y_vs_gt",
                "boundary_psnr_y_vs_sequential",
            )
        }
        for k in args.warmups
    }
    summary["sequential_psnr_y"] = float(np.mean([r["sequential_psnr_y"] for r in q.values()]))
    s = speed(runner, args.speed_frames, args.segments, max(args.warmups))
    report = {
        "model": name,
        "backend": args.backend,
        "dtype": str(runner.settings.dtype).removeprefix("torch."),
        "quality": {
            "segments": args.quality_segments,
            "frames_per_clip": args.frames,
            "summary": summary,
            "clips": q,
        },
        "speed_output_fps_by_segments": s,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        save_result(args.json, **report)


if __name__ == "__main__":
    main()
