"""The shipped model beats bicubic on a clip this test makes from samples/ (BI x4, lossless)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

import vsr
from vsr.degradations import bicubic_downscale, crop_to_multiple
from vsr.metrics import psnr_y

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


def _read_rgb(path: Path, limit: int) -> torch.Tensor:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(limit), c.decode(video=0), strict=False)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0  # (t, 3, h, w)


def _write_lossless(path: Path, frames: torch.Tensor) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[-1], frames.shape[-2], "bgr0"
        for i, f in enumerate((frames * 255).round().byte().permute(0, 2, 3, 1).numpy()):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format="bgr0")
            vf.pts = i
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def test_shipped_model_beats_bicubic_end_to_end(tmp_path: Path) -> None:
    gt = crop_to_multiple(_read_rgb(SAMPLE, 24), 16)  # (24, 3, 176, 320)
    lr = bicubic_downscale(gt, 4)
    _write_lossless(tmp_path / "lr.mkv", lr)
    vsr.upscale(
        tmp_path / "lr.mkv",
        tmp_path / "sr.mkv",
        codec="ffv1",
        crf=None,
        preset=None,
        pix_fmt="bgr0",
        progress=False,
    )
    sr = _read_rgb(tmp_path / "sr.mkv", 100)
    assert sr.shape == gt.shape
    bicubic = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    model_psnr = np.mean([psnr_y(o, g, 4) for o, g in zip(sr, gt, strict=True)])
    bicubic_psnr = np.mean([psnr_y(o, g, 4) for o, g in zip(bicubic, gt, strict=True)])
    print(f"model {model_psnr:.3f} dB, bicubic {bicubic_psnr:.3f} dB")
    assert model_psnr > bicubic_psnr + 0.3, (model_psnr, bicubic_psnr)
