"""Building blocks of the generator: residual blocks, the flow estimator, backward warping."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip (EDSR style, no batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FlowNet(nn.Module):
    """A small encoder that estimates backward optical flow between two LR frames.

    The flow is predicted at 1/4 of the LR resolution (motion is smooth and this keeps the
    estimator cheap) and returned in LR pixel units at that coarse resolution. The caller
    upsamples it to whatever grid it warps.
    """

    stride = 4

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            conv3x3(6, c, stride=2),
            nn.LeakyReLU(0.1),
            conv3x3(c, c),
            nn.LeakyReLU(0.1),
            conv3x3(c, 2 * c, stride=2),
            nn.LeakyReLU(0.1),
            conv3x3(2 * c, 2 * c),
            nn.LeakyReLU(0.1),
            conv3x3(2 * c, 2),
        )
        # Start from zero motion: a fresh model warps nothing until it has learned to.
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        # (b, 3, h, w) x 2 -> (b, 2, h/4, w/4), in LR pixels: where each pixel of `current`
        # was in `previous`. Always float32: it runs at 1/4 resolution and costs little, while
        # bf16/fp16 flow errors would be carried from frame to frame by the recurrence.
        with torch.autocast(current.device.type, enabled=False):
            x = torch.cat([current, previous], dim=1).float()
            return self.body(x) * float(self.stride)


def _cubic(x: float, a: float = -0.75) -> float:
    x = abs(x)
    if x <= 1.0:
        return (a + 2.0) * x**3 - (a + 3.0) * x**2 + 1.0
    if x < 2.0:
        return a * x**3 - 5.0 * a * x**2 + 8.0 * a * x - 4.0 * a
    return 0.0


class FoldedBicubic(nn.Module):
    """Bicubic upsampling by `scale`, returned folded (space-to-depth) at LR resolution.

    A fixed grouped 5x5 convolution produces the s*s sub-pixel phases of every LR pixel, so
    ``pixel_shuffle(FoldedBicubic(s)(x), s)`` equals ``F.interpolate(x, scale_factor=s,
    mode="bicubic", align_corners=False)`` (replicate padding = PyTorch's border clamping), while
    the residual addition runs at LR resolution in the layout the SR net already produces.
    """

    def __init__(self, scale: int, channels: int = 3) -> None:
        super().__init__()
        taps = torch.tensor(
            [[_cubic((p + 0.5) / scale - 0.5 - (k - 2)) for k in range(5)] for p in range(scale)]
        )  # (s, 5): weight of LR tap k for output phase p
        kernel = torch.einsum("pk,ql->pqkl", taps, taps).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("weight", kernel.repeat(channels, 1, 1, 1), persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (b, c, h, w) -> (b, c * s^2, h, w), always in float32: this is the base the residual is
        # added to, and bf16/fp16 rounding here would show as banding in the output.
        with torch.autocast(x.device.type, enabled=False):
            x = F.pad(x.float(), (2, 2, 2, 2), mode="replicate")
            return F.conv2d(x, self.weight, groups=self.channels)


def upsample_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a flow field to (height, width), rescaling the vectors to the new pixel units."""
    # (b, 2, h, w) -> (b, 2, height, width). The factors are Python floats: a tensor built from
    # Python numbers on the flow's device would be a blocking host-to-device copy every frame.
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    return torch.cat(
        [resized[:, :1] * (width / flow.shape[-1]), resized[:, 1:] * (height / flow.shape[-2])], dim=1
    )


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `image` at (x + u, y + v) for every pixel; flow is in pixels of `image`."""
    # image (b, c, h, w), flow (b, 2, h, w)
    b, _, h, w = image.shape
    ys = torch.linspace(-1.0, 1.0, h, dtype=flow.dtype, device=flow.device)
    xs = torch.linspace(-1.0, 1.0, w, dtype=flow.dtype, device=flow.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    scale_x = 2.0 / max(w - 1, 1)
    scale_y = 2.0 / max(h - 1, 1)
    grid = torch.stack(
        [gx.unsqueeze(0) + flow[:, 0] * scale_x, gy.unsqueeze(0) + flow[:, 1] * scale_y], dim=-1
    )  # (b, h, w, 2)
    if _split_rows(image, h):
        return _grid_sample_by_rows(image, grid)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


_ROW_CHUNKS = (4, 3, 2)


def _split_rows(image: torch.Tensor, height: int) -> bool:
    """Whether to cut a CPU inference warp into row chunks (see `_grid_sample_by_rows`)."""
    return (
        image.device.type == "cpu"
        and image.shape[0] == 1
        and torch.get_num_threads() > 1
        and not torch.is_grad_enabled()
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
        and any(height % k == 0 for k in _ROW_CHUNKS)
    )


def _grid_sample_by_rows(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """`grid_sample` of one frame with its output rows cut into k chunks, each a batch item.

    PyTorch's CPU kernel runs one thread per batch item, so a single frame warped on one thread
    while the others waited (13 ms a frame of fast-x4's 68 on a 2-core Zen 3). Every chunk reads
    the whole image (a stride-0 view, no copy) and produces its own output rows; the result is the
    same numbers (tested).
    """
    c, (_, h, w, _) = image.shape[1], grid.shape
    k = next(k for k in _ROW_CHUNKS if h % k == 0)
    chunks = F.grid_sample(
        image.expand(k, -1, -1, -1),
        grid.reshape(k, h // k, w, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )  # (k, c, h / k, w)
    return chunks.permute(1, 0, 2, 3).reshape(1, c, h, w)
