"""FrameBatch: what travels between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch


@dataclass(frozen=True)
class FrameBatch:
    """`n` consecutive video frames of one sequence, with their timestamps.

    data is (n, h, w, 3) RGB, uint8 for 8-bit video or uint16 (full 16-bit range) for deeper
    video, on the CPU or on the device. pts stay on the CPU: one int per frame in `time_base`
    units. `reset` marks the first frame as the start of a new sequence (no usable history).
    """

    data: torch.Tensor
    pts: tuple[int, ...]
    time_base: Fraction
    reset: bool = False

    def __post_init__(self) -> None:
        if self.data.ndim != 4 or self.data.shape[-1] != 3:
            raise ValueError(f"FrameBatch data must be (n, h, w, 3), got {tuple(self.data.shape)}")
        if self.data.dtype not in (torch.uint8, torch.uint16):
            raise ValueError(f"FrameBatch data must be uint8 or uint16, got {self.data.dtype}")
        if len(self.pts) != self.data.shape[0]:
            raise ValueError(f"{len(self.pts)} timestamps for {self.data.shape[0]} frames")

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

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
            f"time_base={self.time_base}, reset={self.reset})"
        )
