"""Full-reference video quality metrics as the VSR literature computes them.

Frames are float RGB in [0, 1], shaped (3, h, w) or (t, 3, h, w). PSNR-Y and SSIM-Y use BT.601
luma on the 16-235 range, rounded to integers as an 8-bit Y plane would be, and crop ``border``
pixels on every side. The work is done on NumPy luma planes with OpenCV, so a reference's planes
and flows can be computed once and scored against several outputs (`Reference`).
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


def _crop(y: np.ndarray, border: int) -> np.ndarray:
    return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border] if border else y


def psnr_plane(y_out: np.ndarray, y_ref: np.ndarray) -> float:
    mse = float(np.mean((y_out - y_ref) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid windows only."""

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
    return psnr_plane(_crop(luma_planes(output)[0], border), _crop(luma_planes(reference)[0], border))


def ssim_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    return ssim_plane(_crop(luma_planes(output)[0], border), _crop(luma_planes(reference)[0], border))


def _gray_u8(y: np.ndarray) -> np.ndarray:
    """Y plane on 16-235 -> uint8 on 0-255, the input OpenCV's flow expects."""
    return np.clip(np.round((y - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


def _farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass
class Reference:
    """A ground-truth sequence, with its luma planes and (lazily) its flows, for scoring outputs."""

    frames: torch.Tensor  # (t, 3, h, w)
    border: int = 0
    planes: np.ndarray = field(init=False)
    _flows: dict[int, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.planes = luma_planes(self.frames)

    def flow(self, i: int) -> np.ndarray:
        if i not in self._flows:
            self._flows[i] = _farneback(_gray_u8(self.planes[i - 1]), _gray_u8(self.planes[i]))
        return self._flows[i]

    def score(self, output: torch.Tensor, ssim_stride: int = 1, tof_stride: int = 1) -> dict[str, float]:
        """PSNR-Y, SSIM-Y (per frame, averaged), tOF and flicker of `output` against this reference."""
        out = luma_planes(output)
        if out.shape != self.planes.shape:
            raise ValueError(f"output {out.shape} and reference {self.planes.shape} differ in size or length")
        ref_c, out_c = _crop(self.planes, self.border), _crop(out, self.border)
        return {
            "psnr_y": float(np.mean([psnr_plane(o, r) for o, r in zip(out_c, ref_c, strict=True)])),
            "ssim_y": float(
                np.mean(
                    [
                        ssim_plane(o, r)
                        for o, r in zip(out_c[::ssim_stride], ref_c[::ssim_stride], strict=True)
                    ]
                )
            ),
            "tof": self._tof(out, tof_stride),
            "flicker": _flicker(out, self.planes),
        }

    def _tof(self, out: np.ndarray, stride: int) -> float:
        errors = [
            float(np.abs(_farneback(_gray_u8(out[i - 1]), _gray_u8(out[i])) - self.flow(i)).sum(-1).mean())
            for i in range(1, len(out), stride)
        ]
        return float(np.mean(errors)) if errors else 0.0


def _flicker(out: np.ndarray, ref: np.ndarray) -> float:
    if len(out) < 2:
        return 0.0
    return float(np.abs(np.diff(out, axis=0) - np.diff(ref, axis=0)).mean())


def tof(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Temporal optical-flow error: mean L1 distance (pixels) between the Farneback flows of
    consecutive output frames and of consecutive reference frames; 0 when equal. (t, 3, h, w)."""
    return Reference(reference)._tof(luma_planes(output), 1)


def flicker(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean |(out_t - out_t-1) - (ref_t - ref_t-1)| on BT.601 luma (16-235 scale). (t, 3, h, w)."""
    return _flicker(luma_planes(output), luma_planes(reference))
