"""The generator's step run by OpenVINO on the CPU (`--backend openvino` and `openvino-int8`, the
[openvino] extra; int8 also needs NNCF, the [int8] extra).

The step is exported to ONNX once per frame size (the same graph and cache as `--backend ort`),
read by OpenVINO, given a static shape per (batch, height, width) and compiled for the CPU with
the latency hint and the Runner's threads. Precision follows --dtype: float32 runs in f32 (the
CPU plugin would otherwise pick bf16 on CPUs that have it), bfloat16 in bf16.

`openvino-int8` runs the same graph after NNCF's post-training quantization (8-bit weights and
activations, f32 elsewhere). It is calibrated on shipped frames (`calibration.mp4`: 16 frames of
the CC0 clip the sample comes from, resized to the input's size, as they are, brightened and
inverted so that the activation ranges cover bright and dark pictures), run through the fp32
model so the recurrent inputs are the ones the model really sees. The calibration never depends on
the user's video, so a frame size always gets the same int8 graph. The quantized graph is kept
on disk beside the ONNX cache, under a key of weights, size and library versions.

In f32 (fp32 and int8) the compiled graph also makes the HR frame as 8-bit RGB, (n, H, W, 3) as
the encoder takes it: pixel shuffle, clamp, x255, rounding and the layout change run inside
OpenVINO, equal to the Runner's PyTorch conversion to the code (`rgb8_of`). On the Zen 4, fast-x4
at 320x180 -> 1280x720, the int8 step with its conversion took 20.4 ms a frame against 28.4 ms
with PyTorch's (fp32 32.5 against 41.9). The Runner turns it off for the frames that do not need
it (4:2:0 planes, 16-bit output); bf16 keeps PyTorch's conversion (rounding x255 in bf16 would
be off by a code).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from vsr.engine.base import cache_dir
from vsr.engine.exported import ExportedStep
from vsr.errors import BackendUnavailableError, OptionError
from vsr.models.generator import FrameRecurrentGenerator

log = logging.getLogger(__name__)

PRECISION = {torch.float32: "f32", torch.bfloat16: "bf16"}
CALIBRATION_CLIP = Path(__file__).with_name("calibration.mp4")
CALIBRATION_VERSION = 2  # bump when the calibration frames or recipe change (it is in the cache key)


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise BackendUnavailableError(
            "--backend openvino needs the [openvino] extra: pip install 'vsr[openvino]'"
        ) from None
    return openvino


def _import_nncf() -> Any:
    try:
        import nncf
    except ImportError:
        raise BackendUnavailableError(
            "--backend openvino-int8 needs the [int8] extra: pip install 'vsr[int8]'"
        ) from None
    return nncf


def calibration_sequences(height: int, width: int) -> list[torch.Tensor]:
    """The calibration clip at (height, width) as three (t, 3, h, w) float sequences in [0, 1]:
    as shot (a dark night scene with bright lights), brightened (gamma 0.5) and inverted."""
    with av.open(str(CALIBRATION_CLIP)) as container:
        images = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    h0, w0 = images[0].shape[:2]
    interpolation = cv2.INTER_AREA if height * width < h0 * w0 else cv2.INTER_CUBIC
    resized = np.stack([cv2.resize(image, (width, height), interpolation=interpolation) for image in images])
    clip = torch.from_numpy(resized).permute(0, 3, 1, 2).float().div_(255)
    return [clip, clip.sqrt(), 1 - clip]


@torch.inference_mode()
def calibration_inputs(
    model: FrameRecurrentGenerator, height: int, width: int
) -> list[dict[str, np.ndarray]]:
    """The step's inputs (lr, prev_lr, prev_folded) along each calibration sequence, as the fp32
    model carries its state through it."""
    model = model.float().eval()
    feeds = []
    for sequence in calibration_sequences(height, width):
        state = model.init_state(sequence[:1])
        for t in range(sequence.shape[0]):
            lr = sequence[t : t + 1]
            feeds.append({"lr": lr.numpy(), "prev_lr": state[0].numpy(), "prev_folded": state[1].numpy()})
            _, state = model.step(lr, state)
    return feeds


class OpenVinoGenerator(ExportedStep):
    """`forward(lr, prev_lr, prev_folded) -> folded` compiled by OpenVINO per input shape."""

    def __init__(
        self, model: FrameRecurrentGenerator, device: torch.device, dtype: torch.dtype, int8: bool = False
    ) -> None:
        name = "openvino-int8" if int8 else "openvino"
        if device.type != "cpu":
            raise OptionError(f"--backend {name} runs on the CPU; pass --device cpu")
        if dtype not in PRECISION or (int8 and dtype != torch.float32):
            allowed = "float32" if int8 else "float32 or bfloat16"
            raise OptionError(f"--backend {name} runs in {allowed}, not {str(dtype).removeprefix('torch.')}")
        self._ov = _import_openvino()
        self._nncf = _import_nncf() if int8 else None
        super().__init__(model)
        self.int8 = int8
        self.precision = PRECISION[dtype]
        self._core = self._ov.Core()
        self._compiled: dict[tuple[int, ...], Any] = {}
        # Whether the graph makes the 8-bit RGB frame too (the Runner sets it from what it outputs)
        self.rgb8 = self.precision == "f32"
        self._last_rgb8: tuple[torch.Tensor, torch.Tensor] | None = None

    def _quantized(self, height: int, width: int) -> Path:
        """The int8 graph for frames of this size: quantized on first use, then read from the cache."""
        onnx_path = self.exported(height, width)
        key = {
            "openvino": self._ov.__version__,
            "nncf": self._nncf.__version__,
            "calibration": CALIBRATION_VERSION,
        }
        path = cache_dir() / "openvino-int8" / f"{onnx_path.stem}-{_short(key)}.xml"
        if not path.exists():
            graph = self._core.read_model(str(onnx_path))
            graph.reshape(self._shapes(1, height, width))
            log.info(
                "openvino-int8: quantizing the step for %dx%d (once; cached in %s)",
                width,
                height,
                path.parent,
            )
            feeds = calibration_inputs(self._export_source[0], height, width)
            # NNCF logs and draws a progress bar on stdout, which may be the user's pipe
            self._nncf.set_log_level(logging.WARNING)
            with contextlib.redirect_stdout(io.StringIO()):
                quantized = self._nncf.quantize(
                    graph,
                    self._nncf.Dataset(feeds),
                    subset_size=len(feeds),
                    preset=self._nncf.QuantizationPreset.MIXED,
                    ignored_scope=self._nncf.IgnoredScope(names=_bicubic_path(graph)),
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.xml")
            self._ov.save_model(quantized, str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(tmp, path)
        return path

    def _shapes(self, batch: int, height: int, width: int) -> dict[str, list[int]]:
        return {
            "lr": [batch, 3, height, width],
            "prev_lr": [batch, 3, height, width],
            "prev_folded": [batch, self.carried_channels, height, width],
        }

    def request(self, batch: int, height: int, width: int) -> Any:
        """An infer request of the step compiled for this shape (compiled once, then reused)."""
        rgb8 = self.rgb8 and self.precision == "f32"
        shape = (batch, height, width, rgb8)
        if shape not in self._compiled:
            source = self._quantized(height, width) if self.int8 else self.exported(height, width)
            graph = self._core.read_model(str(source))
            graph.reshape(self._shapes(batch, height, width))
            if rgb8:
                graph = _with_rgb8(self._ov, graph, self.scale)
            compiled = self._core.compile_model(
                graph,
                "CPU",
                {
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_NUM_THREADS": torch.get_num_threads(),
                    "INFERENCE_PRECISION_HINT": self.precision,
                },
            )
            self._compiled[shape] = compiled.create_infer_request()
        return self._compiled[shape]

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        b, _, h, w = lr.shape
        request = self.request(b, h, w)
        # f32 in (the plugin converts for bf16); the Runner's channels_last input made contiguous
        feeds = [np.ascontiguousarray(t.float().numpy()) for t in (lr, prev_lr, prev_folded)]
        request.infer(feeds, share_inputs=True)
        # copies: the request's buffers are overwritten by its next inference
        folded = torch.from_numpy(request.get_output_tensor(0).data.copy())
        outputs = len(request.model_outputs)
        self._last_rgb8 = (
            (folded, torch.from_numpy(request.get_output_tensor(1).data.copy())) if outputs == 2 else None
        )
        return folded

    def rgb8_of(self, folded: torch.Tensor) -> torch.Tensor | None:
        """The 8-bit RGB HR frames (n, H, W, 3) the graph made beside `folded`, the output of
        the last `forward`; None if it made none (or `folded` is another tensor)."""
        last = self._last_rgb8
        return last[1] if last is not None and last[0] is folded else None


def _with_rgb8(ov: Any, graph: Any, scale: int) -> Any:
    """The step's graph with a second output: its HR frame as (n, H, W, 3) uint8, made as the
    Runner's `to_frames(hr_frame(folded))` makes it (pixel shuffle is DepthToSpace in depth-first
    order; round half to even, as torch.round)."""
    from openvino import opset13 as ops

    step = graph.get_results()[0].input_value(0)
    channels = 3 * scale * scale
    folded = step
    if step.get_partial_shape()[1].get_length() != channels:  # hidden state beside the frame
        folded = ops.slice(step, [0], [channels], [1], [1]).output(0)
    hr = ops.depth_to_space(folded, "depth_first", scale)
    code = ops.round(ops.multiply(ops.clamp(hr, 0.0, 1.0), np.float32(255)), "half_to_even")
    frames = ops.transpose(ops.convert(code, "u8"), np.array([0, 2, 3, 1], dtype=np.int64))
    return ov.Model([step, frames.output(0)], graph.get_parameters(), "step_rgb8")


def _bicubic_path(graph: Any) -> list[str]:
    """Names of the ops that make the bicubic base and add the residual to it: they stay f32.

    Measured on the first 40 frames of a clean validation clip (cockatoo, BI x4; fp32 41.81 dB
    PSNR-Y): everything int8 41.40, with this path in f32 41.56; with it and NNCF's MIXED preset
    (asymmetric activations) 41.75. The base is the picture itself: 8-bit weights on its fixed
    bicubic kernel cost more than any layer of the network."""

    def bicubic(name: str) -> bool:  # /bicubic/..., or /bicubic_1/... for its second call
        return re.match(r"/bicubic(_\d+)?/", name) is not None

    names = []
    for op in graph.get_ordered_ops():
        name = op.get_friendly_name()
        if bicubic(name) or (
            op.get_type_name() in ("Add", "Subtract")
            and any(bicubic(port.get_source_output().get_node().get_friendly_name()) for port in op.inputs())
        ):
            names.append(name)
    return names


def _short(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
