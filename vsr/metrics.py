"""Full-reference quality metrics as the VSR literature computes them.

Frames are float RGB in [0, 1], shaped (..., 3, h, w). PSNR-Y and SSIM-Y use BT.601 luma on the
16-235 range and crop ``border`` pixels on every side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_BT601 = (65.481, 128.553, 24.966)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, h, w) RGB in [0, 1] -> (..., h, w) BT.601 Y in [16, 235]."""
    r, g, b = rgb.unbind(-3)
    return 16.0 + _BT601[0] * r + _BT601[1] * g + _BT601[2] * b


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border : x.shape[-2] - border, border : x.shape[-1] - border] if border else x


def psnr_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    """PSNR of the luma of one frame (3, h, w) against another, peak 255; inf when equal."""
    y_out = torch.round(luma(output.clamp(0, 1).double()))
    y_ref = torch.round(luma(reference.clamp(0, 1).double()))
    mse = float(torch.mean((_crop(y_out, border) - _crop(y_ref, border)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).view(1, 1, size, size)


def ssim_y(output: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    """SSIM of the luma (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, valid windows only)."""
    x = _crop(torch.round(luma(output.clamp(0, 1).double())), border)[None, None]
    y = _crop(torch.round(luma(reference.clamp(0, 1).double())), border)[None, None]
    window = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())
