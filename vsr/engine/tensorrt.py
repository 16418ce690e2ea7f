"""Torch-TensorRT backend (`--backend trt`, the [trt] extra, NVIDIA GPUs only).

The step `forward(lr, prev_lr, prev_folded)` is compiled ahead of time with the dynamo frontend
for static shape buckets: the frame is padded to a multiple of 16 (grid_sample and pixel shuffle
are the ops TensorRT handles worst with dynamic sizes, and buckets keep the engine count small),
and each (batch, height, width, precision) gets its own engine, saved with `torch_tensorrt.save`
in the cache under a key of weights checksum, shape, precision, torch / torch-tensorrt / TensorRT
versions and GPU name. Without the extra, ONNX Runtime's TensorRT execution provider runs the
exported ONNX graph instead where onnxruntime-gpu has it (`backends.make_generator`); without
either, or without CUDA, a clear error names what is missing.

Written against the documented torch_tensorrt 2.x API (compile(ir="dynamo", arg_inputs=...,
enabled_precisions=...), save(..., arg_inputs=...), torch.export.load); see the README for what
was verified where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vsr.engine.backends import cache_dir, cache_key, weights_digest
from vsr.errors import BackendUnavailableError
from vsr.models.generator import FrameRecurrentGenerator, State, hr_frame, initial_state

BUCKET = 16  # frames are padded to a multiple of this before the engine runs


def _import_trt() -> tuple[Any, Any]:
    try:
        import tensorrt
        import torch_tensorrt
    except ImportError:
        raise BackendUnavailableError(
            "--backend trt needs the [trt] extra (pip install 'vsr[trt]'), or onnxruntime-gpu with "
            "TensorRT, and an NVIDIA GPU"
        ) from None
    return torch_tensorrt, tensorrt


class TrtGenerator(nn.Module):
    def __init__(self, model: FrameRecurrentGenerator, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self._torch_trt, self._trt = _import_trt()
        if device.type != "cuda":
            raise BackendUnavailableError("--backend trt runs on an NVIDIA GPU: pass --device cuda")
        self.model = model.to(device).eval()
        self.args = model.args
        self.scale = model.scale
        self.pad_multiple = model.pad_multiple
        self.bicubic = model.bicubic
        self.state_channels = model.state_channels
        self.carried_channels = model.carried_channels
        self.device = device
        self.dtype = dtype
        self._digest = weights_digest(model)
        self._engines: dict[tuple[int, int, int], Any] = {}

    def engine_path(self, batch: int, height: int, width: int) -> Path:
        key = cache_key(
            self.model,
            digest=self._digest,
            format="trt",
            shape=(batch, height, width),
            precision=str(self.dtype),
            torch_tensorrt=self._torch_trt.__version__,
            tensorrt=self._trt.__version__,
            gpu=torch.cuda.get_device_name(self.device),
        )
        return cache_dir() / "trt" / f"{key}.ep"

    def engine(self, batch: int, height: int, width: int) -> Any:
        shape = (batch, height, width)
        if shape not in self._engines:
            path = self.engine_path(*shape)
            if path.exists():
                self._engines[shape] = torch.export.load(str(path)).module()
            else:
                s2 = self.carried_channels
                inputs = [
                    torch.rand(batch, 3, height, width, device=self.device),
                    torch.rand(batch, 3, height, width, device=self.device),
                    torch.rand(batch, s2, height, width, device=self.device),
                ]
                compiled = self._torch_trt.compile(
                    self.model, ir="dynamo", arg_inputs=inputs, enabled_precisions={self.dtype, torch.float32}
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                self._torch_trt.save(compiled, str(path), arg_inputs=inputs)
                self._engines[shape] = compiled
        return self._engines[shape]

    def init_state(self, lr: torch.Tensor) -> State:
        return initial_state(self.bicubic, lr, self.state_channels)

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        b, _, h, w = lr.shape
        pad_h, pad_w = -h % BUCKET, -w % BUCKET
        if pad_h or pad_w:
            pad = (0, pad_w, 0, pad_h)
            lr, prev_lr = F.pad(lr, pad, mode="replicate"), F.pad(prev_lr, pad, mode="replicate")
            prev_folded = F.pad(prev_folded, pad, mode="replicate")
        folded = self.engine(b, h + pad_h, w + pad_w)(lr.float(), prev_lr.float(), prev_folded.float())
        return folded[..., :h, :w].float()

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        folded = self(lr, *state)
        return hr_frame(folded, self.scale), (lr, folded)
