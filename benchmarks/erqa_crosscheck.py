"""vsr's ERQA against the metric's reference implementation (the `erqa` package by its authors).

vsr computes ERQA itself (vectorised alignment search, about 20x faster) so that `vsr eval`, training
validation and the quality tables can afford it on every frame; this script shows both give the same
score. Pictures: frames of the val clips (ground truth) against four versions of them: bicubic x4
upsampling of the x4 downscale, the same moved by (1, -2) pixels, Gaussian noise (sigma 8 levels) and a
5x5 box blur. The reference package pins opencv-python, which clashes with vsr's headless OpenCV, so
install it without dependencies:

    pip install --no-deps erqa==1.1.2
    python benchmarks/erqa_crosscheck.py --json benchmarks/results/erqa_crosscheck.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from erqa import ERQA

from vsr.bench import save_result
from vsr.degradations import bicubic_downscale, crop_to_multiple
from vsr.io.reader import VideoReader
from vsr.metrics import erqa, rgb_u8


def versions(hr: torch.Tensor, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """(3, h, w) ground truth -> the distorted pictures scored against it."""
    up = F.interpolate(bicubic_downscale(hr[None], 4), scale_factor=4, mode="bicubic")[0].clamp(0, 1)
    noise = torch.from_numpy(rng.normal(0, 8 / 255, hr.shape).astype(np.float32))
    blurred = cv2.blur(rgb_u8(hr), (5, 5))
    return {
        "bicubic_x4": up,
        "bicubic_x4_moved": torch.roll(up, shifts=(1, -2), dims=(-2, -1)),
        "noise_8": (hr + noise).clamp(0, 1),
        "box_blur_5": torch.from_numpy(blurred).permute(2, 0, 1).float() / 255,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument(
        "--frames", type=int, default=4, help="frames per clip (spread over the clip's start)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    reference = ERQA(version="1.1")
    rng = np.random.default_rng(0)
    rows, ours_s, ref_s = [], 0.0, 0.0
    for clip in sorted(args.val_dir.glob("*.mp4")):
        with VideoReader(clip) as reader:
            frames = [f for b in reader.batches(args.frames * 8) for f in b.host()][::8][: args.frames]
        for index, frame in enumerate(frames):
            hr = crop_to_multiple(frame.permute(2, 0, 1).float()[None] / 255, 8)[0]
            for name, picture in versions(hr, rng).items():
                a, b = rgb_u8(picture), rgb_u8(hr)
                t0 = time.perf_counter()
                mine = erqa(a, b)
                t1 = time.perf_counter()
                theirs = float(reference(a, b))
                ref_s += time.perf_counter() - t1
                ours_s += t1 - t0
                rows.append(
                    {"clip": clip.stem, "frame": index * 8, "version": name, "vsr": mine, "erqa": theirs}
                )
                print(f"{clip.stem:<36}{index * 8:>4} {name:<18}{mine:.6f} {theirs:.6f}", flush=True)
    diffs = [abs(r["vsr"] - r["erqa"]) for r in rows]
    summary = {
        "pairs": len(rows),
        "max_abs_difference": max(diffs),
        "equal_pairs": sum(d == 0 for d in diffs),
        "seconds_per_pair_vsr": ours_s / len(rows),
        "seconds_per_pair_reference": ref_s / len(rows),
    }
    print(summary)
    if args.json:
        save_result(args.json, summary=summary, pairs=rows)


if __name__ == "__main__":
    main()
