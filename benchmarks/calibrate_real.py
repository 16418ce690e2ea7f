"""How degraded are real low-resolution sources, and does the "real" training degradation match?

Issue 13 asks for real-world degradations calibrated to real sources. This script measures three
no-reference properties of the luma of (a) the real low-resolution clips in ../shared/data/lr_only
(old web video, old films, an animation, RealBasicVSR's and TecoGAN's demo inputs; no ground truth)
and (b) LR made from the validation clips by each synthetic degradation (BI, BI + H.264 CRF 23, and
`real` and `web` with five seeds per clip):

- noise: Immerkaer's estimate (the response to a 3x3 mask that cancels planes and linear ramps),
  on the half of the pixels with the weakest gradient so texture counts less; 8-bit levels;
- blockiness: mean |step| across 8-pixel block boundaries over the mean |step| elsewhere, both
  directions (1 = no visible blocking);
- softness: the share of a frame's gradient energy that survives a Gaussian blur of sigma 1 (near
  1 = already soft, no fine detail; a sharp source loses more).

    python benchmarks/calibrate_real.py --json benchmarks/results/calibrate_real.json
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vsr.bench import save_result
from vsr.degradations import bicubic_downscale, compress, crop_to_multiple, degrade

_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def noise_sigma(y: np.ndarray) -> float:
    """Immerkaer (1996) noise estimate on the flatter half of the plane (8-bit levels)."""
    response = np.abs(cv2.filter2D(y, cv2.CV_64F, _MASK))[1:-1, 1:-1]
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0)[1:-1, 1:-1]
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1)[1:-1, 1:-1]
    flat = np.hypot(gx, gy) <= np.median(np.hypot(gx, gy))
    return float(np.sqrt(np.pi / 2) * response[flat].mean() / 6)


def blockiness(y: np.ndarray) -> float:
    """Mean |step| across 8x8 block boundaries over the mean |step| inside blocks."""
    ratios = []
    for plane in (y, y.T):
        steps = np.abs(np.diff(plane, axis=1))  # steps[:, j] is between columns j and j + 1
        boundary = np.zeros(steps.shape[1], dtype=bool)
        boundary[7::8] = True
        inside = steps[:, ~boundary].mean()
        ratios.append(steps[:, boundary].mean() / inside if inside > 0 else 1.0)
    return float(np.mean(ratios))


def softness(y: np.ndarray) -> float:
    """Gradient energy after a sigma-1 Gaussian blur over the energy before."""

    def energy(plane: np.ndarray) -> float:
        return float(
            (cv2.Sobel(plane, cv2.CV_64F, 1, 0) ** 2 + cv2.Sobel(plane, cv2.CV_64F, 0, 1) ** 2).mean()
        )

    before = energy(y)
    return energy(cv2.GaussianBlur(y, (7, 7), 1.0)) / before if before > 0 else 1.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB -> (h, w) float64 BT.601 luma on 0-255."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def stats(frames: list[np.ndarray]) -> dict[str, float]:
    ys = [luma(f) for f in frames]
    return {
        "noise": round(statistics.median(noise_sigma(y) for y in ys), 3),
        "blockiness": round(statistics.median(blockiness(y) for y in ys), 3),
        "softness": round(statistics.median(softness(y) for y in ys), 3),
        "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
    }


def read(path: Path, limit: int) -> list[np.ndarray]:
    """The first `limit` frames of a video, or of a folder of PNGs, as uint8 RGB."""
    if path.is_dir():
        files = sorted(path.glob("*.png"))[:limit]
        return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(limit), c.decode(video=0), strict=False)]


def as_u8(x: torch.Tensor) -> list[np.ndarray]:
    return list((x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy())


def summarise(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        k: round(statistics.median(r[k] for r in rows.values()), 3)
        for k in ("noise", "blockiness", "softness")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-dir", type=Path, default=Path("../shared/data/lr_only"))
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5, help="real-degradation draws per val clip")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    real_sources = {p.name: stats(read(p, args.frames)) for p in sorted(args.lr_dir.iterdir())}
    synthetic: dict[str, dict[str, dict[str, float]]] = {"BI": {}, "BI+H264_CRF23": {}, "real": {}, "web": {}}
    for index, clip in enumerate(sorted(args.val_dir.glob("*.mp4"))):
        hr = torch.from_numpy(np.stack(read(clip, args.frames))).permute(0, 3, 1, 2).float() / 255
        hr = crop_to_multiple(hr, 8)
        lr = bicubic_downscale(hr, 4)
        synthetic["BI"][clip.stem] = stats(as_u8(lr))
        synthetic["BI+H264_CRF23"][clip.stem] = stats(as_u8(compress(lr, "libx264", 23, preset="medium")))
        for seed in range(args.seeds):
            rng = np.random.default_rng(1000 * index + seed)
            for kind in ("real", "web"):
                synthetic[kind][f"{clip.stem}#{seed}"] = stats(as_u8(degrade(hr, 4, kind, rng)))
    summary = {"real sources": summarise(real_sources), **{k: summarise(v) for k, v in synthetic.items()}}
    print(f"{'':<34}{'noise':>8}{'block':>8}{'soft':>8}")
    for name, row in real_sources.items():
        print(f"{name:<34}{row['noise']:8.2f}{row['blockiness']:8.3f}{row['softness']:8.3f}")
    for name, row in summary.items():
        print(f"{'median ' + name:<34}{row['noise']:8.2f}{row['blockiness']:8.3f}{row['softness']:8.3f}")
    if args.json:
        save_result(args.json, summary=summary, real_sources=real_sources, synthetic=synthetic)


if __name__ == "__main__":
    main()
