"""Does the GAN stage's temporal machinery do its job? Several upscalers side by side on the
validation clips: PSNR-Y, SSIM-Y, tOF, flicker, detail ratio and ERQA, plus a picture of crops and
temporal profiles and (--video) a side-by-side video of the same crops over time.

Methods: "bicubic"; a model name or .safetensors path (run recurrently, as vsr does); NAME@per-frame
(the same model with its state reset on every frame: a per-frame upscaler). Settings: "BI"
(bicubic x4 downscale, lossless), "BI+H264" (that LR through libx264 CRF 23), and "real" / "web"
(the training degradations; "real": blur, resize, noise, H.264/H.265, twice; seeded per clip, so
every method sees the same LR).

    python benchmarks/compare_temporal.py --json benchmarks/results/temporal_comparison.json \\
        --picture benchmarks/results/temporal_comparison.png --video benchmarks/results/temporal_comparison.mp4
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsr.bench import save_result
from vsr.degradations import compress, crop_to_multiple, degrade
from vsr.engine.runner import Runner, RunnerSettings, resolve_dtype
from vsr.frames import FrameBatch
from vsr.metrics import (
    crop_border,
    erqa,
    farneback_flow,
    gray_u8,
    laplacian_energy,
    luma_planes,
    psnr_plane,
    rgb_u8,
    ssim_plane,
)
from vsr.models.zoo import load_model

DEFAULT_METHODS = [
    "bicubic",
    "fast-x4",
    "quality-x4",
    "gan-x4",
    "real-x4",
    "benchmarks/models/real-x4-v2.safetensors",  # the -v1 models: --methods, or this file's history
]


def decode(path: Path, limit: int) -> torch.Tensor:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(limit), c.decode(video=0), strict=False)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def label(method: str) -> str:
    name = method.split("@")[0]
    return Path(name).stem + (" per-frame" if method.endswith("@per-frame") else "")


class Upscaler:
    def __init__(self, method: str) -> None:
        self.method = method
        name, _, mode = method.partition("@")
        self.per_frame = mode == "per-frame"
        self.runner = None
        if name != "bicubic":
            model, _ = load_model(name)
            cpu = torch.device("cpu")
            self.runner = Runner(model, RunnerSettings(device=cpu, dtype=resolve_dtype("auto", cpu)))

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        if self.runner is None:
            up = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
            return (up.clamp(0, 1) * 255).round() / 255
        self.runner.reset()
        data = (lr.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).contiguous()
        out = []
        for i in range(data.shape[0]):
            batch = FrameBatch(data[i : i + 1], (i,), Fraction(1, 25), reset=self.per_frame)
            out.append(self.runner.upscale(batch).host())
        return torch.cat(out).permute(0, 3, 1, 2).float() / 255.0


def score(
    sr_rgb: torch.Tensor, hr_rgb: torch.Tensor, hr_flows: list[np.ndarray], border: int, ssim_stride: int
) -> dict:
    """sr_rgb, hr_rgb: (t, 3, h, w) frames; hr_flows: Farneback flows of consecutive HR frames.
    SSIM and ERQA on every `ssim_stride`th frame."""
    sr, hr = luma_planes(sr_rgb), luma_planes(hr_rgb)
    psnr = [psnr_plane(crop_border(s, border), crop_border(h, border)) for s, h in zip(sr, hr, strict=True)]
    ssim = [
        ssim_plane(crop_border(sr[i], border), crop_border(hr[i], border))
        for i in range(0, len(sr), ssim_stride)
    ]
    flicker = [float(np.abs((sr[i] - sr[i - 1]) - (hr[i] - hr[i - 1])).mean()) for i in range(1, len(sr))]
    tof = [
        float(np.abs(farneback_flow(gray_u8(sr[i - 1]), gray_u8(sr[i])) - hr_flows[i - 1]).sum(-1).mean())
        for i in range(1, len(sr))
    ]
    energy = [
        (laplacian_energy(crop_border(s, border)), laplacian_energy(crop_border(h, border)))
        for s, h in zip(sr, hr, strict=True)
    ]
    edges = [
        erqa(rgb_u8(crop_border(sr_rgb[i], border)), rgb_u8(crop_border(hr_rgb[i], border)))
        for i in range(0, len(sr), ssim_stride)
    ]
    return {
        "psnr_y": float(np.mean(psnr)),
        "ssim_y": float(np.mean(ssim)),
        "tof": float(np.mean(tof)),
        "flicker": float(np.mean(flicker)),
        "detail": sum(e[0] for e in energy) / sum(e[1] for e in energy),
        "erqa": float(np.mean(edges)),
    }


def crop_box(hr: torch.Tensor, size: int, cap: float | None = None) -> tuple[int, int]:
    """Top-left of the size x size window with the most detail in the middle frame. With `cap`,
    each pixel's gradient counts at most `cap` (luma levels), so texture wins over one hard edge
    such as a letterbox border."""
    y = luma_planes(hr[len(hr) // 2])[0]
    detail = np.abs(np.diff(y, axis=0))[:, :-1] + np.abs(np.diff(y, axis=1))[:-1]
    if cap is not None:
        detail = np.minimum(detail, cap)
    integral = cv2.integral(detail.astype(np.float64))
    h, w = detail.shape
    best, box = -1.0, (0, 0)
    for top in range(0, h - size, size // 4):
        for left in range(0, w - size, size // 4):
            s = (
                integral[top + size, left + size]
                - integral[top, left + size]
                - integral[top + size, left]
                + integral[top, left]
            )
            if s > best:
                best, box = s, (top, left)
    return box


def picture(panels: dict[str, torch.Tensor], box: tuple[int, int], size: int, path: Path) -> None:
    """Row 1: crops of the middle frame. Row 2: temporal profiles (the crop's centre column over
    time, stretched): flicker shows as horizontal streaks, stable detail as smooth lines."""
    top, left = box
    tiles, profiles = [], []
    for name, frames in panels.items():
        t = len(frames)
        crop = frames[t // 2, :, top : top + size, left : left + size]
        column = frames[:, :, top : top + size, left + size // 2]  # (t, 3, size)
        profile = column.permute(1, 2, 0)  # (3, size, t)
        profile = F.interpolate(profile[None], size=(size, size), mode="nearest")[0]
        for store, image in ((tiles, crop), (profiles, profile)):
            img = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy().copy()
            img = cv2.resize(img, (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
            store.append(img)
        cv2.putText(tiles[-1], name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    sheet = np.concatenate([np.concatenate(tiles, axis=1), np.concatenate(profiles, axis=1)], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def tile(image: torch.Tensor, name: str, zoom: int) -> np.ndarray:
    """(3, s, s) in [0, 1] -> (zoom s, zoom s, 3) uint8 RGB, nearest-neighbour zoom, labelled."""
    img = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy().copy()
    img = cv2.resize(img, (zoom * img.shape[1], zoom * img.shape[0]), interpolation=cv2.INTER_NEAREST)
    cv2.putText(img, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    return img


def side_by_side_video(panels: dict[str, torch.Tensor], box: tuple[int, int], size: int, path: Path) -> None:
    """The crop of every panel, side by side and zoomed 2x, frame after frame (H.264 CRF 12, 4:4:4
    so colour edges are not smeared, 12 fps so flicker can be seen)."""
    top, left = box
    frames = len(next(iter(panels.values())))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height = 2 * size * len(panels), 2 * size
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "12"}
        for t in range(frames):
            row = [tile(p[t, :, top : top + size, left : left + size], n, 2) for n, p in panels.items()]
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(np.concatenate(row, axis=1)), format="rgb24"
            )
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument(
        "--settings", nargs="+", default=["BI", "real"], choices=["BI", "BI+H264", "real", "web"]
    )
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--frames", type=int, default=40, help="first N frames of each clip")
    parser.add_argument("--ssim-stride", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--picture", type=Path)
    parser.add_argument("--picture-clip", default="imageio_cockatoo")
    parser.add_argument(
        "--video", type=Path, help="side-by-side crop video(s) of --picture-clip, per setting"
    )
    args = parser.parse_args()
    scale = 4
    upscalers = {m: Upscaler(m) for m in args.methods}
    clips = sorted(p for p in args.val_dir.iterdir() if p.is_file())
    results: dict[str, dict[str, dict[str, dict]]] = {s: {m: {} for m in args.methods} for s in args.settings}
    start = time.time()
    for index, clip in enumerate(clips):
        hr = crop_to_multiple(decode(clip, args.frames), 2 * scale)
        y_hr = luma_planes(hr)
        hr_flows = [farneback_flow(gray_u8(y_hr[i - 1]), gray_u8(y_hr[i])) for i in range(1, len(y_hr))]
        for setting in args.settings:
            rng = np.random.default_rng(1000 + index)  # same LR for every method
            if setting == "BI+H264":  # the BI LR through libx264 CRF 23, as eval_quality.py makes it
                lr = compress(degrade(hr, scale, "BI"), "libx264", 23, preset="medium")
            else:
                lr = degrade(hr, scale, setting, rng)
            panels = {}
            for method, up in upscalers.items():
                sr = up(lr, scale)
                results[setting][method][clip.stem] = score(sr, hr, hr_flows, scale, args.ssim_stride)
                panels[label(method)] = sr
            panels["ground truth"] = hr  # last, as in the crops' captions: methods | GT
            row = {label(m): round(results[setting][m][clip.stem]["psnr_y"], 2) for m in args.methods}
            print(clip.stem, setting, row, flush=True)
            if args.picture and clip.stem == args.picture_clip:
                path = args.picture.with_name(f"{args.picture.stem}_{setting}{args.picture.suffix}")
                picture(panels, crop_box(hr, 96), 96, path)
            if args.video and clip.stem == args.picture_clip:
                path = args.video.with_name(f"{args.video.stem}_{setting}{args.video.suffix}")
                side_by_side_video(panels, crop_box(hr, 128), 128, path)
    keys = ("psnr_y", "ssim_y", "tof", "flicker", "detail", "erqa")
    summary = {
        setting: {
            label(m): {k: float(np.mean([c[k] for c in per_clip.values()])) for k in keys}
            for m, per_clip in rows.items()
        }
        for setting, rows in results.items()
    }
    for setting, rows in summary.items():
        print(f"\n{setting}: mean over {len(clips)} clips, first {args.frames} frames each")
        print(f"{'method':<28}{'PSNR-Y':>8}{'SSIM-Y':>8}{'tOF':>8}{'flicker':>9}{'detail':>8}{'ERQA':>8}")
        for name, m in rows.items():
            print(
                f"{name:<28}{m['psnr_y']:8.3f}{m['ssim_y']:8.4f}{m['tof']:8.3f}{m['flicker']:9.3f}"
                f"{m['detail']:8.3f}{m['erqa']:8.4f}"
            )
    if args.json:
        report = {
            "seconds": round(time.time() - start, 1),
            "frames_per_clip": args.frames,
            "metrics": (
                f"PSNR-Y/SSIM-Y: BT.601 luma 16-235, border {scale}, per-frame mean (SSIM every "
                f"{args.ssim_stride} frames); tOF: mean L1 between Farneback flows of consecutive output "
                "and ground-truth frames (px); flicker: mean |(out_t - out_t-1) - (gt_t - gt_t-1)| on luma; "
                "detail: output / GT Laplacian energy of the luma; ERQA 1.1 (every "
                f"{args.ssim_stride} frames)"
            ),
            "summary": summary,
            "clips": {s: {label(m): per for m, per in rows.items()} for s, rows in results.items()},
        }
        save_result(args.json, **report)


if __name__ == "__main__":
    main()
