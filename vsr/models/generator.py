"""The frame-recurrent generator (FRVSR / TecoGAN family).

Two kinds of recurrence (``recurrence``):

- ``"flow"`` (FRVSR): for each LR frame t the model estimates the flow from LR frame t to t-1
  (FlowNet), warps its previous HR output with that flow and folds it to LR resolution
  (space-to-depth; ``hr_warp=False`` warps the folded frame at LR resolution instead), and runs
  the SR net on [LR frame, folded estimate].
- ``"hidden"`` (RLSP / RRN): no flow and no warping. The SR net sees [LR frame t, LR frame t-1,
  previous HR output folded, ``state_channels`` hidden features] and returns the residual and the
  next hidden features. Alignment is learned by the convolutions, which on the folded layout can
  shift the HR frame by any sub-pixel amount (bilinear warping of the folded frame cannot).

Either way the residual, pixel-shuffled to HR, is added to a bicubic upsample of the LR frame.
The model is causal: the state after frame t is (LR frame t, carried tensor t), where the carried
tensor is the folded HR output (3 s^2 channels) followed by the hidden features, so the same weights
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
"""(previous LR frame (b, 3, h, w), carried tensor (b, 3 s^2 + state_channels, h, w): the previous
HR output folded, then the hidden features)."""

RECURRENCES = ("flow", "hidden")


def hr_frame(carried: torch.Tensor, scale: int) -> torch.Tensor:
    """The HR frame (b, 3, h s, w s) in a carried state tensor (b, 3 s^2 + k, h, w)."""
    return F.pixel_shuffle(carried[:, : 3 * scale * scale], scale)


def initial_state(bicubic: FoldedBicubic, lr: torch.Tensor, state_channels: int) -> State:
    """The state before the first frame (or after a scene cut): no motion, the bicubic upsample as
    the estimate, zero hidden features. Shared by the generator and the backends that wrap it."""
    base = bicubic(lr)
    if state_channels:
        b, _, h, w = lr.shape
        base = torch.cat([base, base.new_zeros(b, state_channels, h, w)], dim=1)
    return lr, base


@dataclass(frozen=True)
class GeneratorArgs:
    """Hyperparameters of the generator, stored with the weights."""

    scale: int = 4
    channels: int = 64
    blocks: int = 10
    flow_channels: int = 32
    hr_warp: bool = True
    recurrence: str = "flow"  # "flow" (FNet + warp) or "hidden" (flow-free hidden state)
    state_channels: int = 0  # hidden features carried from frame to frame ("hidden" only)
    # "hidden" only: what of the previous output the SR net sees: "output" (the folded frame) or
    # "residual" (the detail it added to the previous frame's bicubic upsample)
    feedback: str = "output"

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        for name in ("channels", "blocks", "flow_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.recurrence not in RECURRENCES:
            raise ValueError(f"recurrence must be one of {RECURRENCES}, got {self.recurrence!r}")
        if self.feedback not in ("output", "residual") or (
            self.recurrence == "flow" and self.feedback != "output"
        ):
            raise ValueError(
                f"feedback must be output or residual (hidden recurrence only), got {self.feedback!r}"
            )
        if self.state_channels < 0 or (self.recurrence == "flow" and self.state_channels):
            raise ValueError(
                f"state_channels must be >= 0, and 0 for the flow recurrence, got {self.state_channels}"
            )


# Sizes chosen by measurement (benchmarks/bench_speed.py --presets; see docs/architecture.md).
PRESETS: dict[str, GeneratorArgs] = {
    "fast": GeneratorArgs(scale=4, channels=16, blocks=3, flow_channels=8, hr_warp=False),
    # For offline files: about 6x `fast`'s compute per pixel; the flow-free hidden-state recurrence
    # with residual feedback, whose state was worth most in issue 12's ablation (docs/architecture.md).
    "quality": GeneratorArgs(
        scale=4,
        channels=32,
        blocks=8,
        flow_channels=32,
        hr_warp=True,
        recurrence="hidden",
        state_channels=16,
        feedback="residual",
    ),
    # For live streams on CPUs that cannot run `fast` in real time: 8 channels, hidden state of 2
    # (the head then reads 56 = 7 x 8 channels, whole AVX2 vectors).
    "realtime": GeneratorArgs(
        scale=4, channels=8, blocks=3, flow_channels=8, hr_warp=False, recurrence="hidden", state_channels=2
    ),
}


class SequenceOutput(NamedTuple):
    hr: torch.Tensor  # (b, t, 3, H, W)
    flow: torch.Tensor | None  # (b, t, 2, h, w): LR flow from frame t to t-1; None without a flow net
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
        recurrence: str = "flow",
        state_channels: int = 0,
        feedback: str = "output",
    ) -> None:
        super().__init__()
        self.args = GeneratorArgs(
            scale=scale,
            channels=channels,
            blocks=blocks,
            flow_channels=flow_channels,
            hr_warp=hr_warp,
            recurrence=recurrence,
            state_channels=state_channels,
            feedback=feedback,
        )
        self.scale = scale
        self.hr_warp = hr_warp
        self.hidden = recurrence == "hidden"
        self.state_channels = state_channels
        self.residual_feedback = feedback == "residual"
        folded = 3 * scale * scale
        self.folded_channels = folded
        self.carried_channels = folded + state_channels  # channels of the carried state tensor
        # The flow recurrence has a flow net; the hidden one none (flow is then None everywhere).
        self.flow = None if self.hidden else FlowNet(flow_channels)
        self.bicubic = FoldedBicubic(scale)
        inputs = 6 + folded + state_channels if self.hidden else 3 + folded
        self.head = conv3x3(inputs, channels)
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.tail = conv3x3(channels, folded + state_channels)
        # A fresh model outputs the bicubic upsample exactly (the hidden outputs keep their
        # random start: zeros would give tanh'(0) gradients only through a dead state).
        nn.init.zeros_(self.tail.weight[:folded])
        nn.init.zeros_(self.tail.bias)

    @classmethod
    def from_args(cls, args: GeneratorArgs) -> FrameRecurrentGenerator:
        return cls(**asdict(args))

    def init_state(self, lr: torch.Tensor) -> State:
        return initial_state(self.bicubic, lr, self.state_channels)

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        """One step as a pure function (what exporters trace): the next carried tensor.

        ``hr_frame(out, scale)`` is the (b, 3, h s, w s) frame; ``out`` itself is the next step's
        ``prev_folded``.
        """
        return self._step(lr, prev_lr, prev_folded)[0]

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(b, 3, h, w) LR frame -> (b, 3, h s, w s) HR frame and the next state."""
        folded = self(lr, *state)
        return hr_frame(folded, self.scale), (lr, folded)

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
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.hidden:
            return self._hidden_step(lr, prev_lr, prev_folded), None
        # lr, prev_lr (b, 3, h, w); prev_folded (b, 3 s^2, h, w)
        coarse_flow = self.flow(lr, prev_lr)  # (b, 2, h/4, w/4)
        warped = self._warp(prev_folded, coarse_flow)  # (b, 3 s^2, h, w)
        x = F.relu(self.head(torch.cat([lr, warped], dim=1)))
        residual = self.tail(F.relu(self.body(x)))  # (b, 3 s^2, h, w)
        return residual.float() + self.bicubic(lr), coarse_flow

    def _hidden_step(self, lr: torch.Tensor, prev_lr: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
        # lr, prev_lr (b, 3, h, w); carried (b, 3 s^2 + k, h, w): previous output folded + hidden
        if self.residual_feedback:  # the detail added last frame, without the picture under it
            f = self.folded_channels
            carried = torch.cat([carried[:, :f] - self.bicubic(prev_lr), carried[:, f:]], dim=1)
        x = F.relu(self.head(torch.cat([lr, prev_lr, carried.to(lr.dtype)], dim=1)))
        out = self.tail(F.relu(self.body(x))).float()  # (b, 3 s^2 + k, h, w)
        f = self.folded_channels
        if torch.is_inference_mode_enabled():
            # Inference: in place, no concatenation (one pass less over the state; exporters and
            # training, which run outside inference mode, take the functional form below).
            out[:, :f] += self.bicubic(lr)
            out[:, f:].tanh_()
            return out
        return torch.cat([out[:, :f] + self.bicubic(lr), torch.tanh(out[:, f:])], dim=1)

    def forward_sequence(
        self, lr: torch.Tensor, state: State | None = None, reset_every_frame: bool = False
    ) -> SequenceOutput:
        """Run frames (b, t, 3, h, w) in order; used by training and tests.

        ``reset_every_frame``: start every frame from a fresh state (no temporal information:
        the single-frame ablation of the same network)."""
        _, t, _, h, w = lr.shape
        if state is None:
            state = self.init_state(lr[:, 0])
        outputs, flows = [], []
        for i in range(t):
            if reset_every_frame:
                state = self.init_state(lr[:, i])
            folded, coarse_flow = self._step(lr[:, i], *state)
            state = (lr[:, i], folded)
            outputs.append(hr_frame(folded, self.scale))
            if coarse_flow is not None:
                flows.append(upsample_flow(coarse_flow, h, w))
        flow = torch.stack(flows, dim=1) if flows else None
        return SequenceOutput(torch.stack(outputs, dim=1), flow, state)
