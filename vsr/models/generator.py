"""The frame-recurrent generator (FRVSR / TecoGAN family).

For each LR frame t the model
1. estimates the flow from LR frame t to t-1 (FlowNet),
2. warps its previous HR output with that flow and folds it to LR resolution
   (space-to-depth); ``hr_warp=False`` warps the folded frame at LR resolution instead,
4. runs the SR net on [LR frame, folded estimate] and adds the result, pixel-shuffled to HR,
   to a bicubic upsample of the LR frame.

The model is causal: the state after frame t is (LR frame t, HR output t), so the same weights
serve files and live streams. Tensors are float RGB in [0, 1], shaped (b, 3, h, w); h and w must be
multiples of ``pad_multiple`` (the pipeline pads and crops).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import (
    FlowNet,
    FoldedBicubic,
    ResidualBlock,
    backward_warp,
    conv3x3,
    upsample_flow,
)

State = tuple[torch.Tensor, torch.Tensor]
"""(previous LR frame (b, 3, h, w), previous HR output folded to (b, 3 s^2, h, w))."""


@dataclass(frozen=True)
class GeneratorArgs:
    """Hyperparameters of the generator, stored with the weights."""

    scale: int = 4
    channels: int = 64
    blocks: int = 10
    flow_channels: int = 32
    hr_warp: bool = True

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        for name in ("channels", "blocks", "flow_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


# Sizes chosen by measurement (benchmarks/bench_presets.py; see docs/architecture.md).
PRESETS: dict[str, GeneratorArgs] = {
    "fast": GeneratorArgs(scale=4, channels=16, blocks=3, flow_channels=8, hr_warp=False),
    "quality": GeneratorArgs(scale=4, channels=64, blocks=10, flow_channels=32, hr_warp=True),
}


class SequenceOutput(NamedTuple):
    hr: torch.Tensor  # (b, t, 3, H, W)
    flow: torch.Tensor  # (b, t, 2, h, w): LR flow from frame t to t-1
    state: State


class FrameRecurrentGenerator(nn.Module):
    pad_multiple = FlowNet.stride

    def __init__(
        self,
        *,
        scale: int = 4,
        channels: int = 64,
        blocks: int = 10,
        flow_channels: int = 32,
        hr_warp: bool = True,
    ) -> None:
        super().__init__()
        self.args = GeneratorArgs(
            scale=scale,
            channels=channels,
            blocks=blocks,
            flow_channels=flow_channels,
            hr_warp=hr_warp,
        )
        self.scale = scale
        self.hr_warp = hr_warp
        folded = 3 * scale * scale
        self.flow = FlowNet(flow_channels)
        self.bicubic = FoldedBicubic(scale)
        self.head = conv3x3(3 + folded, channels)
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.tail = conv3x3(channels, folded)
        # A fresh model outputs the bicubic upsample exactly.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @classmethod
    def from_args(cls, args: GeneratorArgs) -> FrameRecurrentGenerator:
        return cls(**asdict(args))

    def init_state(self, lr: torch.Tensor) -> State:
        """State before the first frame: no motion, and the bicubic upsample as the estimate."""
        return lr, self.bicubic(lr)

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        """One step as a pure function (what exporters trace): the HR frame, folded.

        ``F.pixel_shuffle(out, scale)`` is the (b, 3, h s, w s) frame; ``out`` itself is the
        next step's ``prev_folded``.
        """
        return self._step(lr, prev_lr, prev_folded)[0]

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(b, 3, h, w) LR frame -> (b, 3, h s, w s) HR frame and the next state."""
        folded = self(lr, *state)
        return F.pixel_shuffle(folded, self.scale), (lr, folded)

    def _warp(self, prev_folded: torch.Tensor, coarse_flow: torch.Tensor) -> torch.Tensor:
        _, _, h, w = prev_folded.shape
        s = self.scale
        if self.hr_warp:
            # FRVSR: warp the HR frame with the flow upsampled to HR, then fold it again.
            hr_flow = upsample_flow(coarse_flow, h * s, w * s)  # (b, 2, sh, sw)
            warped = backward_warp(F.pixel_shuffle(prev_folded, s), hr_flow)
            return F.pixel_unshuffle(warped, s)
        # Warp the folded frame with the LR flow: each s x s block moves as one. Exact for
        # whole-LR-pixel motion, interpolated between blocks otherwise; 4x cheaper than HR warping.
        return backward_warp(prev_folded, upsample_flow(coarse_flow, h, w))

    def _step(
        self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # lr, prev_lr (b, 3, h, w); prev_folded (b, 3 s^2, h, w)
        coarse_flow = self.flow(lr, prev_lr)  # (b, 2, h/4, w/4)
        warped = self._warp(prev_folded, coarse_flow)  # (b, 3 s^2, h, w)
        x = F.relu(self.head(torch.cat([lr, warped], dim=1)))
        residual = self.tail(F.relu(self.body(x)))  # (b, 3 s^2, h, w)
        return residual.float() + self.bicubic(lr), coarse_flow

    def forward_sequence(self, lr: torch.Tensor, state: State | None = None) -> SequenceOutput:
        """Run frames (b, t, 3, h, w) in order; used by training and tests."""
        _, t, _, h, w = lr.shape
        if state is None:
            state = self.init_state(lr[:, 0])
        outputs, flows = [], []
        for i in range(t):
            folded, coarse_flow = self._step(lr[:, i], *state)
            state = (lr[:, i], folded)
            outputs.append(F.pixel_shuffle(folded, self.scale))
            flows.append(upsample_flow(coarse_flow, h, w))
        return SequenceOutput(torch.stack(outputs, dim=1), torch.stack(flows, dim=1), state)
