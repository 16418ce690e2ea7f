"""The runner: upscales FrameBatches of one sequence with a generator, carrying its state."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsr.engine.transfer import DeviceIO
from vsr.engine.yuv import YuvMatrix, folded_to_yuv420, rgb_to_yuv420, yuv420_to_rgb
from vsr.errors import BackendUnavailableError, Cancelled, OptionError
from vsr.frames import FrameBatch
from vsr.machine import native_bf16
from vsr.models.generator import FrameRecurrentGenerator, State, hr_frame

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
    """auto: fp16 on CUDA, bf16 on CPUs with native bf16 (AVX512-BF16/AMX, not capped below it:
    vsr.machine.native_bf16), else fp32."""
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if native_bf16() else torch.float32
    if name not in DTYPES:
        raise OptionError(f"--dtype {name!r} is not one of auto, {', '.join(DTYPES)}")
    if device.type == "cpu" and name == "float16":
        raise OptionError("--dtype float16 is for CUDA; use bfloat16 or float32 on the CPU")
    return DTYPES[name]


def to_frames(hr: torch.Tensor, max_value: int) -> torch.Tensor:
    """(n, 3, H, W) float in [0, 1] -> (n, H, W, 3) uint8/uint16, on hr's device."""
    out = hr.float().clamp_(0, 1).mul_(max_value).round_()
    out = out.to(torch.uint8) if max_value == 255 else out.to(torch.int32).to(torch.uint16)
    return out.permute(0, 2, 3, 1).contiguous()


@dataclass(frozen=True)
class RunnerSettings:
    device: torch.device
    dtype: torch.dtype = torch.float32
    # Mean absolute LR difference (0..1) above which a frame starts a new sequence (scene cut).
    scene_cut: float = 0.2
    # Decide scene cuts on the device without waiting for it (torch.where instead of a Python
    # branch); None: on CUDA, where a per-frame synchronisation would stall the GPU.
    sync_free: bool | None = None


@dataclass(frozen=True)
class ColourPlan:
    """yuv420p batches are converted on the device with these matrices (vsr.engine.yuv)."""

    input: YuvMatrix
    output: YuvMatrix


@dataclass
class StreamState:
    """The recurrent state of one of several streams sharing a Runner (live sources, parts)."""

    state: State | None = None
    cuts: int = 0
    pending_cuts: torch.Tensor | None = None  # counted on the device (sync_free), not yet read

    @property
    def scene_cuts(self) -> int:
        if self.pending_cuts is not None:
            self.cuts += int(self.pending_cuts)  # sync point: only when the count is read
            self.pending_cuts = None
        return self.cuts


class _DeviceFrames:
    """Frames in and out of the device: upload, integer or yuv420p -> float RGB and back, download."""

    device: torch.device
    io: DeviceIO
    scale: int
    colour: ColourPlan | None = None
    pad_multiple = 1

    def convert_on_device(self, plan: ColourPlan | None) -> None:
        """Accept yuv420p batches and return yuv420p, converting with `plan` on the device."""
        self.colour = plan

    def _frames_to_model(self, data: torch.Tensor, layout: str = "rgb") -> torch.Tensor:
        """integer RGB (n, h, w, 3) or yuv420p (n, h*3/2, w) -> (n, 3, h', w') float in [0, 1],
        padded to the model's multiple."""
        x = self.io.upload(data)
        if layout == "yuv420p":
            if self.colour is None:
                raise ValueError("a yuv420p batch needs convert_on_device() first")
            x = yuv420_to_rgb(x, self.colour.input)
        else:
            x = x.permute(0, 3, 1, 2).float().div_(255 if data.dtype == torch.uint8 else 65535)
        m = self.pad_multiple
        pad_h, pad_w = -x.shape[2] % m, -x.shape[3] % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x.contiguous(memory_format=torch.channels_last)

    def _output(self, hr: torch.Tensor, height: int, width: int, layout: str, max_value: int) -> torch.Tensor:
        """Model output, cropped to `scale` x the input size, as integer frames in `layout` (on the device)."""
        hr = hr[..., : height * self.scale, : width * self.scale]
        if layout == "yuv420p":
            assert self.colour is not None
            return rgb_to_yuv420(hr, self.colour.output)
        return to_frames(hr, max_value)

    def _folded_output(
        self, folded: torch.Tensor, height: int, width: int, layout: str, max_value: int
    ) -> torch.Tensor:
        """`_output` of the HR frame folded in the model's output (b, 3 s^2 [+ k], h, w).

        yuv420p is made from the folded frame at LR (folded_to_yuv420: one linear map per LR
        pixel; at 1280x720 on the Zen 3, 5.8 ms a frame against 16-29 ms for the pixel shuffle and
        conversion at HR, equal to it but for rounding ties, at most one code). RGB goes through
        the HR frame: rearranging the folded 8-bit codes was slower there (11.0 against 7.9 ms)."""
        if layout == "yuv420p" and self.scale % 2 == 0:
            assert self.colour is not None
            return folded_to_yuv420(folded[..., :height, :width], self.scale, self.colour.output)
        return self._output(hr_frame(folded, self.scale), height, width, layout, max_value)

    def _to_batch(self, hr: torch.Tensor, like: FrameBatch) -> FrameBatch:
        """Model output for `like`'s frames -> a FrameBatch of the same layout, on its way to the host."""
        return self._as_batch(self._output(hr, like.height, like.width, like.layout, like.max_value), like)

    def _as_batch(self, out: torch.Tensor, like: FrameBatch) -> FrameBatch:
        """Integer frames in `like`'s layout -> a FrameBatch, on its way to the host."""
        data, ready = self.io.download(out)
        return FrameBatch(data, like.pts, like.time_base, like.reset, like.layout, ready)

    def _to_host(
        self, out: torch.Tensor, frames: torch.Tensor, layout: str, folded: bool = False
    ) -> torch.Tensor:
        """Model output for the input `frames` (HR, or `folded` at LR) -> integer frames in
        `layout` on the CPU, now."""
        height = frames.shape[1] * 2 // 3 if layout == "yuv420p" else frames.shape[1]
        max_value = 255 if frames.dtype == torch.uint8 else 65535
        convert = self._folded_output if folded else self._output
        data, ready = self.io.download(convert(out, height, frames.shape[2], layout, max_value))
        if ready is not None:
            ready.synchronize()
        return data


class Runner(_DeviceFrames):
    """Upscales consecutive FrameBatches of one video; the recurrent state lives here.

    `step_streams` instead takes one frame from each of several independent streams, whose states
    the caller keeps, and runs them as one batch.
    """

    def __init__(self, model: FrameRecurrentGenerator, settings: RunnerSettings) -> None:
        self.settings = settings
        self.device = settings.device
        self.io = DeviceIO(self.device)
        # channels_last like the input: on CPU fp32 too, where NCHW weights ran 13.0 / 23.5 fps
        # against 16.9 / 30.4 (fast-x4 / rt-x4 model stage, Zen 3 AVX2; model_speed_ab_rt_zen3.json).
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.scale = model.scale
        self.pad_multiple = model.pad_multiple
        self.sync_free = settings.sync_free if settings.sync_free is not None else self.device.type == "cuda"
        self.state: State | None = None
        self.backend, self.backend_reason = "eager", ""  # set by build_runner
        self._cuts = 0
        self._pending_cuts: torch.Tensor | None = None  # counted on the device (sync_free)

    @property
    def scene_cuts(self) -> int:
        if self._pending_cuts is not None:
            self._cuts += int(self._pending_cuts)
            self._pending_cuts = None
        return self._cuts

    @scene_cuts.setter
    def scene_cuts(self, value: int) -> None:
        self._pending_cuts = None
        self._cuts = value

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

    def _is_cut(self, previous: torch.Tensor, current: torch.Tensor) -> bool:
        """A scene cut, or a frame of another size (the state cannot carry over)."""
        if previous.shape != current.shape:
            return True
        return float((current - previous).abs().mean()) > self.settings.scene_cut

    def _carried(self, frame: torch.Tensor) -> State:
        """The state to step `frame` from: the carried one, or a fresh one after a scene cut."""
        state = self.state
        if state is None:
            return self.model.init_state(frame)
        if self.sync_free and state[0].shape == frame.shape:
            # Both candidates are computed and the choice stays on the device: no host sync.
            cut = (frame - state[0]).abs().mean() > self.settings.scene_cut
            counted = cut.to(torch.int32)
            self._pending_cuts = counted if self._pending_cuts is None else self._pending_cuts + counted
            fresh = self.model.init_state(frame)
            return torch.where(cut, fresh[0], state[0]), torch.where(cut, fresh[1], state[1])
        if self._is_cut(state[0], frame):
            self._cuts += 1
            return self.model.init_state(frame)
        return state

    def _folded_output(
        self, folded: torch.Tensor, height: int, width: int, layout: str, max_value: int
    ) -> torch.Tensor:
        """As _DeviceFrames', but a runtime that makes the 8-bit RGB frame in its own graph
        (`rgb8_of`: OpenVINO) hands it over as made; the runtime is told whether the frames
        asked for are such (`rgb8`), so it makes them only when they are used."""
        rgb8_of = getattr(self.model, "rgb8_of", None)
        if rgb8_of is not None:
            wanted = layout == "rgb" and max_value == 255
            self.model.rgb8 = wanted  # from the next step on
            frames = rgb8_of(folded) if wanted else None
            if frames is not None:
                frames = frames[:, : height * self.scale, : width * self.scale]
                return frames if frames.is_contiguous() else frames.contiguous()
        return super()._folded_output(folded, height, width, layout, max_value)

    def _autocast(self) -> torch.autocast:
        dtype = self.settings.dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32)

    @torch.inference_mode()
    def step_streams(
        self, frames: torch.Tensor, streams: list[StreamState], resets: list[bool], layout: str = "rgb"
    ) -> torch.Tensor:
        """One frame of each stream, all the same size, as a batch in `layout` -> the upscaled
        frames in the same layout, on the CPU.

        Each stream's state is reset where `resets` says so or at a scene cut, then all n frames
        go through the model as one batch and every stream keeps its own next state. With
        `sync_free` (CUDA) each lane's cut is decided on the device (torch.where), as `upscale`
        does; otherwise the cut scores of all streams are read back together, one sync per call.
        """
        lr = self._frames_to_model(frames, layout)
        with self._autocast():
            carried = [
                i
                for i, s in enumerate(streams)
                if not resets[i] and s.state is not None and s.state[0].shape == lr[i : i + 1].shape
            ]
            for i, stream in enumerate(streams):
                if not resets[i] and stream.state is not None and i not in carried:
                    stream.cuts += 1  # a frame of another size: the state cannot carry over
            if self.sync_free:
                states = self._lanes_on_device(lr, streams, carried)
            else:
                states = self._lanes_on_host(lr, streams, carried)
            prev_lr = torch.cat([s[0] for s in states])
            prev_folded = torch.cat([s[1] for s in states])
            folded = self.model(lr, prev_lr, prev_folded)
        for i, stream in enumerate(streams):
            stream.state = (lr[i : i + 1], folded[i : i + 1])
        return self._to_host(folded, frames, layout, folded=True)

    def _lanes_on_host(self, lr: torch.Tensor, streams: list[StreamState], carried: list[int]) -> list[State]:
        scores = (
            torch.stack([(lr[i : i + 1] - streams[i].state[0]).abs().mean() for i in carried]).tolist()
            if carried
            else []
        )  # sync point: all lanes' cut scores at once
        kept = {i for i, score in zip(carried, scores, strict=True) if score <= self.settings.scene_cut}
        states = []
        for i, stream in enumerate(streams):
            if i in carried and i not in kept:
                stream.cuts += 1
            states.append(stream.state if i in kept else self.model.init_state(lr[i : i + 1]))
        return states

    def _lanes_on_device(
        self, lr: torch.Tensor, streams: list[StreamState], carried: list[int]
    ) -> list[State]:
        fresh_lr, fresh_carried = self.model.init_state(lr)  # every lane's fresh state, one call
        states = []
        for i, stream in enumerate(streams):
            fresh = (fresh_lr[i : i + 1], fresh_carried[i : i + 1])
            if i not in carried:
                states.append(fresh)
                continue
            prev = stream.state
            cut = (lr[i : i + 1] - prev[0]).abs().mean() > self.settings.scene_cut
            counted = cut.to(torch.int32)
            stream.pending_cuts = counted if stream.pending_cuts is None else stream.pending_cuts + counted
            states.append((torch.where(cut, fresh[0], prev[0]), torch.where(cut, fresh[1], prev[1])))
        return states

    @torch.inference_mode()
    def upscale(self, batch: FrameBatch, stop: threading.Event | None = None) -> FrameBatch:
        """Upscale the batch, carrying the state; `stop` set: raise Cancelled before the next frame."""
        lr = self._frames_to_model(batch.data, batch.layout)
        if batch.reset:
            self.reset()
        outputs = []
        with self._autocast():
            for i in range(lr.shape[0]):
                if stop is not None and stop.is_set():
                    raise Cancelled
                frame = lr[i : i + 1]
                folded = self.model(frame, *self._carried(frame))
                self.state = (frame, folded)
                # Converted frame by frame: joining the integer frames moves a quarter of the
                # bytes that joining float HR frames would; join + conversion took 9.3 ms a 720p
                # frame against 14.3 (Zen 3, 2 threads).
                outputs.append(
                    self._folded_output(folded, batch.height, batch.width, batch.layout, batch.max_value)
                )
        return self._as_batch(torch.cat(outputs), batch)


class BicubicRunner(_DeviceFrames):
    """The baseline: bicubic upscaling (no model, no state).

    On the CPU, integer RGB frames are resized by OpenCV (INTER_CUBIC, the same a = -0.75 kernel
    and pixel centres as PyTorch's bicubic) on their integers: 6.4 ms per 720p output frame
    against 69 ms for PyTorch's float interpolation and the conversion back (Zen 3, 2 cores), and
    equal to it within one level. Elsewhere (CUDA, or 4:2:0 planes converted beside the model) it
    interpolates with PyTorch, with the same conversions as Runner."""

    def __init__(self, scale: int, device: torch.device) -> None:
        self.scale = scale
        self.device = device
        self.io = DeviceIO(device)
        self.scene_cuts = 0

    def reset(self) -> None:
        pass

    def snapshot(self) -> None:
        return None

    def restore(self, state: State | None) -> None:
        pass

    def _on_host(self, frames: torch.Tensor, layout: str) -> torch.Tensor | None:
        """OpenCV's bicubic of integer RGB frames, or of the planes of 4:2:0 frames whose matrix
        does not change, on the CPU; None where PyTorch does it."""
        if self.device.type != "cpu" or frames.device.type != "cpu":
            return None
        if layout == "yuv420p":
            if self.colour is None or self.colour.input != self.colour.output:
                return None
            return self._planes(frames)
        if layout != "rgb":
            return None
        n, h, w, _ = frames.shape
        size = (w * self.scale, h * self.scale)
        images = frames.numpy()
        out = np.empty((n, size[1], size[0], 3), dtype=images.dtype)
        for i in range(n):
            cv2.resize(images[i], size, dst=out[i], interpolation=cv2.INTER_CUBIC)
        return torch.from_numpy(out)

    def _planes(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, h*3/2, w) yuv420p -> (n, H*3/2, W): each plane resized on its own, as FFmpeg's
        scale filter does; no conversion to RGB and back (which costs two chroma resamplings)."""
        n, rows, w = frames.shape
        h, s = rows * 2 // 3, self.scale
        images = frames.numpy()
        out = np.empty((n, h * s * 3 // 2, w * s), dtype=np.uint8)
        luma, chroma = h * w, (h // 2) * (w // 2)
        big_luma, big_chroma = luma * s * s, chroma * s * s
        for i in range(n):
            src, dst = images[i].reshape(-1), out[i].reshape(-1)
            cv2.resize(
                src[:luma].reshape(h, w), (w * s, h * s), dst=dst[:big_luma].reshape(h * s, w * s),
                interpolation=cv2.INTER_CUBIC,
            )  # fmt: skip
            for k in range(2):
                plane = src[luma + k * chroma : luma + (k + 1) * chroma].reshape(h // 2, w // 2)
                at = big_luma + k * big_chroma
                target = dst[at : at + big_chroma].reshape(h * s // 2, w * s // 2)
                cv2.resize(plane, (w * s // 2, h * s // 2), dst=target, interpolation=cv2.INTER_CUBIC)
        return torch.from_numpy(out)

    @torch.inference_mode()
    def upscale(self, batch: FrameBatch, stop: threading.Event | None = None) -> FrameBatch:
        host = self._on_host(batch.data, batch.layout)
        if host is not None:
            return FrameBatch(host, batch.pts, batch.time_base, batch.reset, batch.layout)
        return self._to_batch(self._bicubic(self._frames_to_model(batch.data, batch.layout)), batch)

    def step_streams(
        self, frames: torch.Tensor, streams: list[StreamState], resets: list[bool], layout: str = "rgb"
    ) -> torch.Tensor:
        """Same contract as Runner.step_streams; bicubic has no state to keep."""
        for stream in streams:
            stream.state = None
        host = self._on_host(frames, layout)
        if host is not None:
            return host
        with torch.inference_mode():
            return self._to_host(self._bicubic(self._frames_to_model(frames, layout)), frames, layout)

    def _bicubic(self, x: torch.Tensor) -> torch.Tensor:
        # Plain NCHW: on the CPU, bicubic plus the conversion to uint8 took 28-34 ms per 720p
        # output frame against 37-45 ms from channels_last (Xeon, 2 threads).
        return F.interpolate(x.contiguous(), scale_factor=self.scale, mode="bicubic", align_corners=False)
