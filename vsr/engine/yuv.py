"""YUV 4:2:0 <-> RGB on the model's device (the GPU path's colour conversion).

Decoded frames travel as 8-bit yuv420p (1.5 bytes a pixel, a quarter of float RGB) and are
converted where the model runs; the output is converted back before it leaves the device, so the
copies and the encoder get yuv420p too. The arithmetic follows swscale's, which the CPU path uses
(and the model was trained on): chroma is upsampled by repetition (swscale's unscaled yuv2rgb) and
downsampled by 2x2 averaging, with the matrix and range the stream is tagged with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

# AVColorSpace tag -> (Kr, Kb) luma coefficients; untagged video is BT.601, as swscale assumes.
_KR_KB = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
_BT601 = (0.299, 0.114)
UNSPECIFIED = 2
AVCOL_RANGE_JPEG = 2  # full range; anything else is limited (MPEG) range, as swscale assumes


def supports_matrix(colorspace: int) -> bool:
    """Whether yuv420p tagged with this AVColorSpace can be converted here (else: swscale)."""
    return colorspace in _KR_KB or colorspace == UNSPECIFIED


@dataclass(frozen=True)
class YuvMatrix:
    """One Y'CbCr encoding: luma coefficients and 8-bit range."""

    kr: float
    kb: float
    full_range: bool

    @classmethod
    def from_tags(cls, colorspace: int, color_range: int) -> YuvMatrix:
        kr, kb = _KR_KB.get(colorspace, _BT601)
        return cls(kr, kb, color_range == AVCOL_RANGE_JPEG)

    def _scales(self) -> tuple[float, float, float]:
        """(luma offset, luma scale, chroma scale) of 8-bit codes per unit of Y'/Cb/Cr."""
        return (0.0, 255.0, 255.0) if self.full_range else (16.0, 219.0, 224.0)

    def to_rgb_matrix(self) -> torch.Tensor:
        """3x3: (Y', Cb, Cr) -> (R', G', B')."""
        kr, kb = self.kr, self.kb
        kg = 1.0 - kr - kb
        return torch.tensor(
            [
                [1.0, 0.0, 2 * (1 - kr)],
                [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                [1.0, 2 * (1 - kb), 0.0],
            ]
        )

    def from_rgb_matrix(self) -> torch.Tensor:
        """3x3: (R', G', B') -> (Y', Cb, Cr)."""
        return torch.linalg.inv(self.to_rgb_matrix().double()).float()


@lru_cache(maxsize=16)
def _on_device(matrix: YuvMatrix, device: torch.device, inverse: bool) -> torch.Tensor:
    """The conversion matrix on `device`, made once (no small copy per batch)."""
    return (matrix.from_rgb_matrix() if inverse else matrix.to_rgb_matrix()).to(device)


def _planes(data: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n, h*3/2, w) packed yuv420p (PyAV's ndarray layout) -> Y (n,h,w), U and V (n,h/2,w/2)."""
    n = data.shape[0]
    flat = data.reshape(n, -1)
    luma, chroma = height * width, (height // 2) * (width // 2)
    y = flat[:, :luma].reshape(n, height, width)
    u = flat[:, luma : luma + chroma].reshape(n, height // 2, width // 2)
    v = flat[:, luma + chroma :].reshape(n, height // 2, width // 2)
    return y, u, v


def yuv420_to_rgb(data: torch.Tensor, matrix: YuvMatrix) -> torch.Tensor:
    """(n, h*3/2, w) uint8 yuv420p -> (n, 3, h, w) float32 RGB in [0, 1], on data's device."""
    height, width = data.shape[1] * 2 // 3, data.shape[2]
    y, u, v = (p.float() for p in _planes(data, height, width))
    offset, luma_scale, chroma_scale = matrix._scales()
    chroma = torch.stack([u, v], dim=1).sub_(128.0).div_(chroma_scale)
    chroma = chroma.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    ycc = torch.cat([y.unsqueeze(1).sub_(offset).div_(luma_scale), chroma], dim=1)
    m = _on_device(matrix, data.device, inverse=False)
    return torch.einsum("ij,njhw->nihw", m, ycc).clamp_(0.0, 1.0)


def rgb_to_yuv420(rgb: torch.Tensor, matrix: YuvMatrix) -> torch.Tensor:
    """(n, 3, h, w) float RGB in [0, 1], h and w even -> (n, h*3/2, w) uint8 yuv420p."""
    n, _, height, width = rgb.shape
    rgb = rgb.float()
    m = _on_device(matrix, rgb.device, inverse=True)
    offset, luma_scale, chroma_scale = matrix._scales()
    y = torch.einsum("j,njhw->nhw", m[0], rgb).mul_(luma_scale).add_(offset)
    # The matrix is linear, so averaging RGB over 2x2 then converting equals converting then averaging.
    pooled = F.avg_pool2d(rgb, 2)
    chroma = torch.einsum("ij,njhw->nihw", m[1:], pooled).mul_(chroma_scale).add_(128.0)
    planes = [y.reshape(n, -1), chroma[:, 0].reshape(n, -1), chroma[:, 1].reshape(n, -1)]
    out = torch.cat(planes, dim=1).round_().clamp_(0, 255).to(torch.uint8)
    return out.reshape(n, height * 3 // 2, width)
