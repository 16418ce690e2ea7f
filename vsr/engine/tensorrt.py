"""Torch-TensorRT backend (`--backend trt`, the [trt] extra, NVIDIA GPUs only).

The step `forward(lr, prev_lr, prev_folded)` is compiled ahead of time with the dynamo frontend
for static shape buckets: the frame is padded to a multiple of 16 (grid_sample and pixel shuffle
are the ops TensorRT handles worst with dynamic sizes, and buckets keep the engine count small),
and each (batch, height, width, precision) gets its own engine, saved with `torch_tensorrt.save`
in the cache under a key of weights checksum, shape, precision, torch / torch-tensorrt / TensorRT
versions and GPU name. Without the extra, ONNX Runtime's TensorRT execution provider runs the
exported ONNX graph instead where onnxruntime-gpu has it (`runtimes.make_generator`); without
either, or without CUDA, a clear error names what is missing.

Written against the documented torch_tensorrt 2.x API (compile(ir="dynamo", arg_inputs=...),
save(..., arg_inputs=...), torch.export.load); see the README for what was verified where. The
precision is asked for the way each release documents: `enabled_precisions` up to 2.9;
from 2.10, where `use_explicit_typing` is on by default and `enabled_precisions` beside it is an
error, `enable_autocast` with `autocast_low_precision_type` (`precision_options`). Engines are built
with torch's autocast off, so the graph is the same whether the Runner (which runs fp16 under
autocast) or `vsr export` builds it. torch-tensorrt X.Y is built for torch X.Y only: a mismatch
is refused in one line instead of failing inside the compiler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vsr.engine.base import RuntimeStep, cache_dir, cache_key, weights_digest
from vsr.errors import BackendUnavailableError
from vsr.models.generator import FrameRecurrentGenerator

BUCKET = 16  # frames are padded to a multiple of this before the engine runs


def _minor(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '2.10.0+cu128' or '2.9.0.dev20250101'."""
    parts = version.split("+")[0].split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def precision_options(torch_trt_version: str, dtype: torch.dtype) -> dict[str, Any]:
    """The compile() keywords that ask this torch-tensorrt release for `dtype` kernels."""
    if dtype == torch.float32:
        return {}
    if _minor(torch_trt_version) >= (2, 10):
        return {"use_explicit_typing": True, "enable_autocast": True, "autocast_low_precision_type": dtype}
    return {"enabled_precisions": {dtype, torch.float32}}


def check_versions(torch_version: str, torch_trt_version: str) -> None:
    if _minor(torch_version) != _minor(torch_trt_version):
        t, r = _minor(torch_version), _minor(torch_trt_version)
        raise BackendUnavailableError(
            f"torch-tensorrt {torch_trt_version} is built for torch {r[0]}.{r[1]}, not the installed "
            f"torch {torch_version}: pip install 'torch-tensorrt=={t[0]}.{t[1]}.*'"
        )


def _import_trt() -> tuple[Any, Any]:
    try:
        import tensorrt
        import torch_tensorrt
    except ImportError:
        raise BackendUnavailableError(
            "--backend trt needs the [trt] extra (pip install 'vsr[trt]'), or onnxruntime-gpu with "
            "TensorRT, and an NVIDIA GPU"
        ) from None
    check_versions(torch.__version__, torch_tensorrt.__version__)
    return torch_tensorrt, tensorrt


def bucket(size: int) -> int:
    """The engine size a frame dimension is padded to."""
    return size + -size % BUCKET


class TrtGenerator(RuntimeStep):
    def __init__(self, model: FrameRecurrentGenerator, device: torch.device, dtype: torch.dtype) -> None:
        self._torch_trt, self._trt = _import_trt()
        if device.type != "cuda":
            raise BackendUnavailableError("--backend trt runs on an NVIDIA GPU: pass --device cuda")
        super().__init__(model)
        self.model = model.to(device).eval()
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
                # Built in fp32 with autocast off: TensorRT lowers it to self.dtype itself.
                with torch.autocast("cuda", enabled=False):
                    compiled = self._torch_trt.compile(
                        self.model,
                        ir="dynamo",
                        arg_inputs=inputs,
                        **precision_options(self._torch_trt.__version__, self.dtype),
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                self._torch_trt.save(compiled, str(path), arg_inputs=inputs)
                self._engines[shape] = compiled
        return self._engines[shape]

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        b, _, h, w = lr.shape
        pad_h, pad_w = -h % BUCKET, -w % BUCKET
        if pad_h or pad_w:
            pad = (0, pad_w, 0, pad_h)
            lr, prev_lr = F.pad(lr, pad, mode="replicate"), F.pad(prev_lr, pad, mode="replicate")
            prev_folded = F.pad(prev_folded, pad, mode="replicate")
        folded = self.engine(b, h + pad_h, w + pad_w)(lr.float(), prev_lr.float(), prev_folded.float())
        return folded[..., :h, :w].float()
