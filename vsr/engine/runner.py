"""The runner: upscales FrameBatches of one sequence with a generator, carrying its state."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vsr.errors import BackendUnavailableError, Cancelled, OptionError
from vsr.frames import FrameBatch
from vsr.models.generator import FrameRecurrentGenerator, State

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"--device {name!r} is not a device (use auto, cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"--device {name!r}: this torch build or machine has no CUDA")
    if device.type not in ("cpu", "cuda"):
        raise OptionError(f"--device {name!r} is not supported (use auto, cpu or cuda)")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA, bf16 on CPUs with native bf16 (AVX512-BF16/AMX), else fp32."""
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() else torch.float32
    if name not in DTYPES:
        raise OptionError(f"--dtype {name!r} is not one of auto, {', '.join(DTYPES)}")
    if device.type == "cpu" and name == "float16":
        raise OptionError("--dtype float16 is for CUDA; use bfloat16 or float32 on the CPU")
    return DTYPES[name]


def to_frames(hr: torch.Tensor, max_value: int) -> torch.Tensor:
    """(n, 3, H, W) float in [0, 1] -> (n, H, W, 3) uint8/uint16 on the CPU."""
    out = hr.float().clamp_(0, 1).mul_(max_value).round_()
    out = out.to(torch.uint8) if max_value == 255 else out.to(torch.int32).to(torch.uint16)
    return out.permute(0, 2, 3, 1).contiguous().cpu()


@dataclass(frozen=True)
class RunnerSettings:
    device: torch.device
    dtype: torch.dtype = torch.float32
    # Mean absolute LR difference (0..1) above which a frame starts a new sequence (scene cut).
    scene_cut: float = 0.2


@dataclass
class StreamState:
    """The recurrent state of one of several streams sharing a Runner (live sources)."""

    state: State | None = None
    scene_cuts: int = 0


class Runner:
    """Upscales consecutive FrameBatches of one video; the recurrent state lives here.

    `step_streams` instead takes one frame from each of several independent streams, whose states
    the caller keeps, and runs them as one batch.
    """

    def __init__(self, model: FrameRecurrentGenerator, settings: RunnerSettings) -> None:
        self.settings = settings
        self.device = settings.device
        self.model = model.to(self.device).eval()
        if self.device.type == "cuda" or settings.dtype != torch.float32:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.scale = model.scale
        self.state: State | None = None
        self.scene_cuts = 0

    def reset(self) -> None:
        self.state = None

    def snapshot(self) -> State | None:
        """A copy of the recurrent state on the CPU (to save, and restore later)."""
        return (
            None
            if self.state is None
            else (self.state[0].to("cpu", copy=True), self.state[1].to("cpu", copy=True))
        )

    def restore(self, state: State | None) -> None:
        self.state = None if state is None else (state[0].to(self.device), state[1].to(self.device))

    def _to_model(self, batch: FrameBatch) -> torch.Tensor:
        return self._frames_to_model(batch.data)

    def _frames_to_model(self, data: torch.Tensor) -> torch.Tensor:
        # (n, h, w, 3) integer -> (n, 3, h', w') float in [0, 1], padded to the model's multiple
        max_value = 255 if data.dtype == torch.uint8 else 65535
        x = data.to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(max_value)
        m = self.model.pad_multiple
        pad_h, pad_w = -data.shape[1] % m, -data.shape[2] % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x.contiguous(memory_format=torch.channels_last)

    def _from_model(self, hr: torch.Tensor, batch: FrameBatch) -> torch.Tensor:
        return to_frames(hr[..., : batch.height * self.scale, : batch.width * self.scale], batch.max_value)

    def _is_cut(self, previous: torch.Tensor, current: torch.Tensor) -> bool:
        """A scene cut, or a frame of another size (the state cannot carry over)."""
        if previous.shape != current.shape:
            return True
        return float((current - previous).abs().mean()) > self.settings.scene_cut

    def _autocast(self) -> torch.autocast:
        dtype = self.settings.dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32)

    @torch.inference_mode()
    def step_streams(
        self, frames: torch.Tensor, streams: list[StreamState], resets: list[bool]
    ) -> torch.Tensor:
        """One frame of each stream, (n, h, w, 3) integer, all the same size -> (n, H, W, 3).

        Each stream's state is reset where `resets` says so or at a scene cut, then all n frames
        go through the model as one batch and every stream keeps its own next state.
        """
        lr = self._frames_to_model(frames)
        with self._autocast():
            for i, stream in enumerate(streams):
                frame = lr[i : i + 1]
                if resets[i]:
                    stream.state = None
                elif stream.state is not None and self._is_cut(stream.state[0], frame):
                    stream.scene_cuts += 1
                    stream.state = None
                if stream.state is None:
                    stream.state = self.model.init_state(frame)
            prev_lr = torch.cat([s.state[0] for s in streams])
            prev_folded = torch.cat([s.state[1] for s in streams])
            hr, (_, folded) = self.model.step(lr, (prev_lr, prev_folded))
        for i, stream in enumerate(streams):
            stream.state = (lr[i : i + 1], folded[i : i + 1])
        h, w = frames.shape[1:3]
        max_value = 255 if frames.dtype == torch.uint8 else 65535
        return to_frames(hr[..., : h * self.scale, : w * self.scale], max_value)

    @torch.inference_mode()
    def upscale(self, batch: FrameBatch, stop: threading.Event | None = None) -> FrameBatch:
        """Upscale the batch, carrying the state; `stop` set: raise Cancelled before the next frame."""
        lr = self._to_model(batch)
        if batch.reset:
            self.reset()
        outputs = []
        with self._autocast():
            for i in range(lr.shape[0]):
                if stop is not None and stop.is_set():
                    raise Cancelled
                frame = lr[i : i + 1]
                if self.state is not None and self._is_cut(self.state[0], frame):
                    self.scene_cuts += 1
                    self.state = None
                if self.state is None:
                    self.state = self.model.init_state(frame)
                hr, self.state = self.model.step(frame, self.state)
                outputs.append(hr)
        return FrameBatch(
            self._from_model(torch.cat(outputs), batch), batch.pts, batch.time_base, batch.reset
        )


class BicubicRunner:
    """The baseline: bicubic upscaling with the same conversions as Runner (no model, no state)."""

    def __init__(self, scale: int, device: torch.device) -> None:
        self.scale = scale
        self.device = device
        self.scene_cuts = 0

    def reset(self) -> None:
        pass

    def snapshot(self) -> None:
        return None

    def restore(self, state: State | None) -> None:
        pass

    @torch.inference_mode()
    def upscale(self, batch: FrameBatch, stop: threading.Event | None = None) -> FrameBatch:
        return FrameBatch(self._upscale(batch.data), batch.pts, batch.time_base, batch.reset)

    def step_streams(
        self, frames: torch.Tensor, streams: list[StreamState], resets: list[bool]
    ) -> torch.Tensor:
        """Same contract as Runner.step_streams; bicubic has no state to keep."""
        for stream in streams:
            stream.state = None
        with torch.inference_mode():
            return self._upscale(frames)

    def _upscale(self, data: torch.Tensor) -> torch.Tensor:
        max_value = 255 if data.dtype == torch.uint8 else 65535
        x = data.to(self.device).permute(0, 3, 1, 2).float().div_(max_value)
        hr = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return to_frames(hr, max_value)
