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


def _mix(m: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> list[torch.Tensor]:
    """Each row of the 3x3 matrix `m` applied to the planes (a, b, c): weighted sums, which are
    faster than einsum or a 1x1 convolution on the CPU (measured at 1280x720)."""
    return [a * m[i, 0] + b * m[i, 1] + c * m[i, 2] for i in range(3)]


def yuv420_to_rgb(data: torch.Tensor, matrix: YuvMatrix) -> torch.Tensor:
    """(n, h*3/2, w) uint8 yuv420p -> (n, 3, h, w) float32 RGB in [0, 1], on data's device."""
    height, width = data.shape[1] * 2 // 3, data.shape[2]
    y, u, v = (p.float() for p in _planes(data, height, width))
    offset, luma_scale, chroma_scale = matrix._scales()
    y = y.sub_(offset).div_(luma_scale)
    u, v = (c.sub_(128.0).div_(chroma_scale).repeat_interleave(2, 1).repeat_interleave(2, 2) for c in (u, v))
    rgb = _mix(_on_device(matrix, data.device, inverse=False), y, u, v)
    return torch.stack(rgb, dim=1).clamp_(0.0, 1.0)


def rgb_to_yuv420(rgb: torch.Tensor, matrix: YuvMatrix) -> torch.Tensor:
    """(n, 3, h, w) float RGB in [0, 1], h and w even -> (n, h*3/2, w) uint8 yuv420p."""
    n, _, height, width = rgb.shape
    rgb = rgb.float()
    m = _on_device(matrix, rgb.device, inverse=True)
    offset, luma_scale, chroma_scale = matrix._scales()
    r, g, b = rgb.unbind(1)
    y = r * m[0, 0] + g * m[0, 1] + b * m[0, 2]
    # The matrix is linear, so averaging RGB over 2x2 then converting equals converting then averaging.
    pooled = (rgb[..., ::2, ::2] + rgb[..., 1::2, ::2] + rgb[..., ::2, 1::2] + rgb[..., 1::2, 1::2]) * 0.25
    _, cb, cr = _mix(m, *pooled.unbind(1))
    out = torch.empty(n, height * width * 3 // 2, dtype=torch.uint8, device=rgb.device)
    luma, chroma = height * width, (height // 2) * (width // 2)
    planes = (
        (y, 0, luma_scale, offset),
        (cb, luma, chroma_scale, 128.0),
        (cr, luma + chroma, chroma_scale, 128.0),
    )
    for plane, at, scale, shift in planes:
        size = plane.shape[1] * plane.shape[2]
        # rounded and clamped, so copying into uint8 (which truncates) is exact
        out[:, at : at + size].copy_(plane.reshape(n, -1).mul_(scale).add_(shift).round_().clamp_(0, 255))
    return out.reshape(n, height * 3 // 2, width)


@lru_cache(maxsize=16)
def _folded_weights(matrix: YuvMatrix, scale: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (s^2 + 2 (s/2)^2, 3 s^2) and bias that take one LR pixel of a folded RGB frame (its
    s x s block of HR pixels, channel c s^2 + i s + j as pixel_shuffle orders them) to 8-bit codes:
    s^2 of luma, then (s/2)^2 of Cb and of Cr, each the mean of a 2x2 HR quad."""
    m = matrix.from_rgb_matrix().double()
    offset, luma_scale, chroma_scale = matrix._scales()
    q = scale // 2
    pick = torch.eye(q, dtype=torch.float64).repeat_interleave(2, dim=1)  # (q, s): a -> 2a, 2a+1
    quads = torch.kron(pick, pick) * 0.25  # (q^2, s^2): the 2x2 mean under each chroma sample
    weight = torch.cat(
        [
            torch.kron(m[0:1] * luma_scale, torch.eye(scale * scale, dtype=torch.float64)),
            torch.kron(m[1:2] * chroma_scale, quads),
            torch.kron(m[2:3] * chroma_scale, quads),
        ]
    )
    bias = torch.tensor([offset] * scale * scale + [128.0] * 2 * q * q, dtype=torch.float64)
    return weight.t().float().to(device), bias.float().to(device)


def folded_to_yuv420(folded: torch.Tensor, scale: int, matrix: YuvMatrix) -> torch.Tensor:
    """A folded RGB frame (n, 3 s^2 [+ k], h, w) -> its (n, h s * 3/2, w s) uint8 yuv420p, equal to
    rgb_to_yuv420(pixel_shuffle(folded)) but computed at LR: the colour matrix, the 2x2 chroma
    mean and the 8-bit scaling are one linear map per LR pixel, and only the 8-bit codes are
    rearranged into planes (4.2-5.8 ms against 16-29 for the HR path at 1280x720, Zen 3, 2 threads).
    `scale` must be even; extra channels after the first 3 s^2 (a hidden state) are ignored."""
    n, _, h, w = folded.shape
    s, q = scale, scale // 2
    weight, bias = _folded_weights(matrix, s, folded.device)
    pixels = folded[:, : 3 * s * s].permute(0, 2, 3, 1).float()  # a view for channels_last
    codes = torch.matmul(pixels, weight).add_(bias).round_().clamp_(0, 255).to(torch.uint8)
    out = torch.empty(n, h * s * w * s * 3 // 2, dtype=torch.uint8, device=folded.device)
    luma, chroma = h * s * w * s, h * q * w * q
    out[:, :luma].view(n, h, s, w, s).copy_(codes[..., : s * s].view(n, h, w, s, s).transpose(2, 3))
    for k, at in enumerate((luma, luma + chroma)):
        sub = codes[..., s * s + k * q * q : s * s + (k + 1) * q * q].view(n, h, w, q, q)
        out[:, at : at + chroma].view(n, h, q, w, q).copy_(sub.transpose(2, 3))
    return out.view(n, h * s * 3 // 2, w * s)
