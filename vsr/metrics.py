"""Full-reference video quality metrics as the VSR literature computes them.

Frames are float RGB in [0, 1], shaped (3, h, w) or (t, 3, h, w). PSNR-Y and SSIM-Y use BT.601
luma on the 16-235 range, rounded to integers as an 8-bit Y plane would be, and crop ``border``
pixels on every side. The work is done on NumPy luma planes with OpenCV; `SequenceScorer` takes
one frame pair at a time, so whole videos are scored in constant memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

_BT601 = (65.481, 128.553, 24.966)
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, h, w) RGB in [0, 1] -> (..., h, w) BT.601 Y in [16, 235]."""
    r, g, b = rgb.unbind(-3)
    return 16.0 + _BT601[0] * r + _BT601[1] * g + _BT601[2] * b


def luma_planes(frames: torch.Tensor) -> np.ndarray:
    """(t, 3, h, w) or (3, h, w) RGB -> (t, h, w) float64 Y planes, rounded to integer levels."""
    frames = frames if frames.ndim == 4 else frames[None]
    return np.round(luma(frames.clamp(0, 1).double()).numpy())


def crop_border(y: np.ndarray, border: int) -> np.ndarray:
    return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border] if border else y


def psnr_plane(y_out: np.ndarray, y_ref: np.ndarray) -> float:
    mse = float(np.mean((y_out - y_ref) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid windows only.

    NaN for planes smaller than the window."""
    if min(x.shape) < 11:
        return math.nan

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)) / (
        (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    )
    return float(ssim_map.mean())


def psnr_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    """PSNR of the luma of one frame (3, h, w) against another, peak 255; inf when equal."""
    return psnr_plane(
        crop_border(luma_planes(output)[0], border), crop_border(luma_planes(reference)[0], border)
    )


def ssim_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    return ssim_plane(
        crop_border(luma_planes(output)[0], border), crop_border(luma_planes(reference)[0], border)
    )


def gray_u8(y: np.ndarray) -> np.ndarray:
    """Y plane on 16-235 -> uint8 on 0-255, the input OpenCV's flow expects."""
    return np.clip(np.round((y - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass
class SequenceScorer:
    """Scores an output video against its reference one frame pair at a time, in constant memory.

    PSNR-Y and SSIM-Y per frame (border cropped), tOF and flicker per consecutive pair.
    `ssim_stride` / `tof_stride` compute those two on every Nth frame / pair only (they are slow).
    """

    border: int = 0
    ssim_stride: int = 1
    tof_stride: int = 1
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    tof: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)
    _previous: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, output: torch.Tensor, reference: torch.Tensor) -> None:
        """One frame of each, (3, h, w) RGB in [0, 1], same size."""
        if output.shape != reference.shape:
            raise ValueError(
                f"output frame {tuple(output.shape)} and reference {tuple(reference.shape)} differ"
            )
        y_out, y_ref = luma_planes(output)[0], luma_planes(reference)[0]
        index = len(self.psnr)
        self.psnr.append(psnr_plane(crop_border(y_out, self.border), crop_border(y_ref, self.border)))
        if index % self.ssim_stride == 0:
            self.ssim.append(ssim_plane(crop_border(y_out, self.border), crop_border(y_ref, self.border)))
        if self._previous is not None:
            p_out, p_ref = self._previous
            self.flicker.append(float(np.abs((y_out - p_out) - (y_ref - p_ref)).mean()))
            if (index - 1) % self.tof_stride == 0:
                flow_out = farneback_flow(gray_u8(p_out), gray_u8(y_out))
                flow_ref = farneback_flow(gray_u8(p_ref), gray_u8(y_ref))
                self.tof.append(float(np.abs(flow_out - flow_ref).sum(-1).mean()))
        self._previous = (y_out, y_ref)

    def add_sequence(self, output: torch.Tensor, reference: torch.Tensor) -> SequenceScorer:
        if output.shape[0] != reference.shape[0]:
            raise ValueError(f"{output.shape[0]} output frames for {reference.shape[0]} reference frames")
        for o, r in zip(output, reference, strict=True):
            self.add(o, r)
        return self

    def summary(self) -> dict[str, float]:
        """Means over frames (PSNR-Y, SSIM-Y) and over pairs (tOF, flicker; 0 for one frame)."""
        finite = [p for p in self.psnr if math.isfinite(p)]
        return {
            "psnr_y": float(np.mean(self.psnr)) if len(finite) == len(self.psnr) else math.inf,
            "ssim_y": float(np.mean(self.ssim)) if self.ssim else math.nan,
            "tof": float(np.mean(self.tof)) if self.tof else 0.0,
            "flicker": float(np.mean(self.flicker)) if self.flicker else 0.0,
        }


def tof(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Temporal optical-flow error: mean L1 distance (pixels) between the Farneback flows of
    consecutive output frames and of consecutive reference frames; 0 when equal. (t, 3, h, w)."""
    return SequenceScorer().add_sequence(output, reference).summary()["tof"]


def flicker(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean |(out_t - out_t-1) - (ref_t - ref_t-1)| on BT.601 luma (16-235 scale). (t, 3, h, w)."""
    return SequenceScorer().add_sequence(output, reference).summary()["flicker"]
