"""How LR inputs are made from HR frames for training and evaluation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_to_multiple(frames: torch.Tensor, multiple: int) -> torch.Tensor:
    """Crop (..., h, w) at the bottom/right so that h and w are multiples of `multiple`."""
    h, w = frames.shape[-2:]
    return frames[..., : h - h % multiple, : w - w % multiple]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as an LR frame stored losslessly would be."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def bicubic_downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The "BI" degradation: antialiased bicubic downscale by `scale`, quantised to 8 bits.

    hr is (..., 3, h, w) in [0, 1] with h and w multiples of `scale`.
    """
    lead = hr.shape[:-3]
    flat = hr.reshape(-1, *hr.shape[-3:])
    lr = F.interpolate(flat, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)
    return quantize(lr).reshape(*lead, *lr.shape[-3:])
