"""The generator's step run by OpenVINO on the CPU (`--backend openvino`, the [openvino] extra).

The step is exported to ONNX once per frame size (the same graph and cache as `--backend ort`),
read by OpenVINO, given a static shape per (batch, height, width) and compiled for the CPU with
the latency hint and the Runner's threads. Precision follows --dtype: float32 runs in f32 (the
CPU plugin would otherwise pick bf16 on CPUs that have it), bfloat16 in bf16.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vsr.engine.backends import ExportedStep
from vsr.errors import BackendUnavailableError, OptionError
from vsr.models.generator import FrameRecurrentGenerator

PRECISION = {torch.float32: "f32", torch.bfloat16: "bf16"}


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise BackendUnavailableError(
            "--backend openvino needs the [openvino] extra: pip install 'vsr[openvino]'"
        ) from None
    return openvino


class OpenVinoGenerator(ExportedStep):
    """`forward(lr, prev_lr, prev_folded) -> folded` compiled by OpenVINO per input shape."""

    def __init__(self, model: FrameRecurrentGenerator, device: torch.device, dtype: torch.dtype) -> None:
        if device.type != "cpu":
            raise OptionError("--backend openvino runs on the CPU; pass --device cpu")
        if dtype not in PRECISION:
            raise OptionError(f"--backend openvino runs in float32 or bfloat16, not {dtype}")
        self._ov = _import_openvino()
        super().__init__(model)
        self.precision = PRECISION[dtype]
        self._core = self._ov.Core()
        self._compiled: dict[tuple[int, ...], Any] = {}

    def request(self, batch: int, height: int, width: int) -> Any:
        """An infer request of the step compiled for this shape (compiled once, then reused)."""
        shape = (batch, height, width)
        if shape not in self._compiled:
            graph = self._core.read_model(str(self.exported(height, width)))
            s2 = self.carried_channels
            graph.reshape(
                {
                    "lr": [batch, 3, height, width],
                    "prev_lr": [batch, 3, height, width],
                    "prev_folded": [batch, s2, height, width],
                }
            )
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
        return torch.from_numpy(request.get_output_tensor(0).data.copy())
