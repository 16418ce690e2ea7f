"""Visual evidence for the GAN stage (issue 28): the same crops side by side, one picture per
setting, and a short side-by-side video per setting, so a person can judge what the GAN adds.

Settings: "BI" and "BD" (bicubic and Gaussian-blur x4 downscale of the validation clips, with the
ground truth as the last column) and "real" (the low-resolution footage in ../shared/data/lr_only,
no ground truth). Columns: the LR crop (nearest-neighbour zoom), bicubic, the PSNR model, the GAN
model[, ground truth]. One row per clip; the crop is the most detailed window of the middle frame,
every model runs recurrently from the clip's first frame (so the state is warm at the picture).

Real footage runs on an LR window around the crop (the models see LR_WINDOW x LR_WINDOW pixels, not
the whole frame: those clips are up to 854x480 LR), which changes nothing but the frame's borders.

    python benchmarks/gan_pictures.py --psnr fast-x4 --gan gan-x4 --out benchmarks/results/gan_pictures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_temporal import Upscaler, crop_box, decode, side_by_side_video, tile  # noqa: E402

from vsr.degradations import crop_to_multiple, degrade  # noqa: E402
from vsr.metrics import luma_planes  # noqa: E402

SCALE = 4
CROP = 96  # HR pixels of a picture's crop (shown 2x: 192 px a tile)
LR_WINDOW = 64  # LR pixels the models see on the real footage
TEXTURE_CAP = 3.0  # luma levels: the crop goes to texture, not to one hard edge (crop_box)


def load_clip(path: Path, limit: int) -> torch.Tensor:
    """A video file or a folder of PNG frames -> (t, 3, h, w) RGB in [0, 1]."""
    if path.is_file():
        return decode(path, limit)
    frames = []
    for png in sorted(path.glob("*.png"))[:limit]:
        frames.append(cv2.cvtColor(cv2.imread(str(png), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def texture_box(frames: torch.Tensor, size: int) -> tuple[int, int]:
    """crop_box inside the active picture: black letterbox/pillarbox bars (rows or columns of the
    middle frame darker than luma 24 at the edges) are left out, so their border is never chosen."""
    y = luma_planes(frames[len(frames) // 2])[0]
    rows = np.flatnonzero(y.mean(1) > 24)
    cols = np.flatnonzero(y.mean(0) > 24)
    top, bottom = (rows[0], rows[-1] + 1) if rows.size else (0, y.shape[0])
    left, right = (cols[0], cols[-1] + 1) if cols.size else (0, y.shape[1])
    if bottom - top <= size or right - left <= size:
        top, bottom, left, right = 0, y.shape[0], 0, y.shape[1]
    dy, dx = crop_box(frames[..., top:bottom, left:right], size, TEXTURE_CAP)
    return int(top + dy), int(left + dx)


def nearest(lr: torch.Tensor) -> torch.Tensor:
    return F.interpolate(lr, scale_factor=SCALE, mode="nearest")


def lr_window(lr: torch.Tensor, size: int) -> torch.Tensor:
    """The most detailed size x size window of the LR middle frame (the whole frame if smaller)."""
    h, w = lr.shape[-2:]
    if h <= size and w <= size:
        return lr
    size = min(size, h, w)
    top, left = texture_box(lr, size) if h > size and w > size else (0, 0)
    return lr[..., top : top + size, left : left + size]


def panels_for(
    lr: torch.Tensor, hr: torch.Tensor | None, upscalers: dict[str, Upscaler]
) -> dict[str, torch.Tensor]:
    """Column title -> (t, 3, H, W) frames: the LR, then every upscaler, then the ground truth."""
    panels = {"LR (nearest)": nearest(lr)}
    for title, up in upscalers.items():
        panels[title] = up(lr, SCALE)
    if hr is not None:
        panels["ground truth"] = hr
    return panels


def sheet(rows: list[tuple[str, dict[str, torch.Tensor], tuple[int, int]]]) -> np.ndarray:
    """One row of labelled 2x tiles per clip: the middle frame's crop of every panel."""
    lines = []
    for clip, panels, (top, left) in rows:
        t = len(next(iter(panels.values()))) // 2
        tiles = [tile(p[t, :, top : top + CROP, left : left + CROP], n, 2) for n, p in panels.items()]
        line = np.concatenate(tiles, axis=1)
        cv2.putText(line, clip, (6, line.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        lines.append(line)
    return np.concatenate(lines, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--psnr", default="fast-x4", help="the PSNR model (name or .safetensors)")
    parser.add_argument("--gan", default="gan-x4", help="the GAN model (name or .safetensors)")
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--real-dir", type=Path, default=Path("../shared/data/lr_only"))
    parser.add_argument("--settings", nargs="+", default=["BI", "BD", "real"], choices=["BI", "BD", "real"])
    parser.add_argument("--frames", type=int, default=24, help="first N frames of each clip")
    parser.add_argument("--video-clip", type=int, default=0, help="which row gets the side-by-side video")
    parser.add_argument("--out", type=Path, required=True, help="path prefix: OUT_<setting>.png/.mp4")
    args = parser.parse_args()

    upscalers = {
        "bicubic": Upscaler("bicubic"),
        f"PSNR: {Path(args.psnr).stem}": Upscaler(args.psnr),
        f"GAN: {Path(args.gan).stem}": Upscaler(args.gan),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict] = {}
    for setting in args.settings:
        rows = []
        if setting == "real":
            for clip in sorted(args.real_dir.iterdir()):
                lr = lr_window(load_clip(clip, args.frames), LR_WINDOW)
                panels = panels_for(lr, None, upscalers)
                rows.append((clip.stem, panels, texture_box(panels["bicubic"], CROP)))
                print(setting, clip.stem, tuple(lr.shape[-2:]), flush=True)
        else:
            for index, clip in enumerate(sorted(p for p in args.val_dir.iterdir() if p.is_file())):
                hr = crop_to_multiple(decode(clip, args.frames), 2 * SCALE)
                lr = degrade(hr, SCALE, setting, np.random.default_rng(1000 + index))
                rows.append((clip.stem, panels_for(lr, hr, upscalers), texture_box(hr, CROP)))
                print(setting, clip.stem, tuple(lr.shape[-2:]), flush=True)
        picture = args.out.with_name(f"{args.out.name}_{setting}.png")
        cv2.imwrite(str(picture), cv2.cvtColor(sheet(rows), cv2.COLOR_RGB2BGR))
        clip, panels, box = rows[args.video_clip]
        video = args.out.with_name(f"{args.out.name}_{setting}.mp4")
        side_by_side_video(panels, box, CROP, video)
        written[setting] = {
            "picture": str(picture),
            "video": str(video),
            "video_clip": clip,
            "clips": [r[0] for r in rows],
        }
    manifest = args.out.with_name(f"{args.out.name}.json")
    manifest.write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "psnr": args.psnr,
                "gan": args.gan,
                "frames": args.frames,
                "crop_hr_px": CROP,
                "settings": written,
            },
            indent=2,
        )
    )
    print(json.dumps(written, indent=2))


if __name__ == "__main__":
    main()
