"""FrameBatch: what travels between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

LAYOUTS = ("rgb", "yuv420p")


@dataclass(frozen=True)
class FrameBatch:
    """`n` consecutive video frames of one sequence, with their timestamps.

    With layout "rgb", data is (n, h, w, 3) RGB, uint8 for 8-bit video or uint16 (full 16-bit
    range) for deeper video. With layout "yuv420p" it is 8-bit Y'CbCr 4:2:0 planes packed as
    PyAV's ndarrays are, (n, h*3/2, w) uint8 (the GPU path: colour conversion on the device).
    data is on the CPU or on the device; `ready`, when set, is a CUDA event that completes when a
    copy into data (from the GPU) has finished: read data through `host()`. pts stay on the CPU:
    one int per frame in `time_base` units. `reset` marks the first frame as the start of a new
    sequence (no usable history).
    """

    data: torch.Tensor
    pts: tuple[int, ...]
    time_base: Fraction
    reset: bool = False
    layout: str = "rgb"
    ready: Any = None  # torch.cuda.Event | None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"FrameBatch layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layout == "rgb" and (self.data.ndim != 4 or self.data.shape[-1] != 3):
            raise ValueError(f"FrameBatch data must be (n, h, w, 3), got {tuple(self.data.shape)}")
        if self.layout == "yuv420p" and (self.data.ndim != 3 or self.data.dtype != torch.uint8):
            raise ValueError(
                f"yuv420p FrameBatch data must be (n, h*3/2, w) uint8, got {tuple(self.data.shape)}"
            )
        if self.data.dtype not in (torch.uint8, torch.uint16):
            raise ValueError(f"FrameBatch data must be uint8 or uint16, got {self.data.dtype}")
        if len(self.pts) != self.data.shape[0]:
            raise ValueError(f"{len(self.pts)} timestamps for {self.data.shape[0]} frames")

    def __len__(self) -> int:
        return len(self.pts)

    def host(self) -> torch.Tensor:
        """data on the CPU, once any copy into it has finished."""
        if self.ready is not None:
            self.ready.synchronize()
        return self.data.cpu()

    @property
    def height(self) -> int:
        rows = int(self.data.shape[1])
        return rows * 2 // 3 if self.layout == "yuv420p" else rows

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def max_value(self) -> int:
        return 255 if self.data.dtype == torch.uint8 else 65535

    def __repr__(self) -> str:
        return (
            f"FrameBatch(n={len(self)}, size={self.width}x{self.height}, dtype={self.data.dtype}, "
            f"device={self.data.device}, pts={self.pts[0] if self.pts else None}.., "
            f"time_base={self.time_base}, reset={self.reset}, layout={self.layout})"
        )
