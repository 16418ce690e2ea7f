"""ONNX Runtime (`--backend ort`, the [onnx] extra): the exported step run by ONNX Runtime on the
CPU, or on CUDA with onnxruntime-gpu, and the ONNX -> TensorRT path through its TensorRT execution
provider."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vsr.engine.base import cache_dir
from vsr.engine.exported import ExportedStep
from vsr.errors import BackendUnavailableError
from vsr.models.generator import FrameRecurrentGenerator


class OrtGenerator(ExportedStep):
    """The generator's step run by ONNX Runtime (CPU, or CUDA with onnxruntime-gpu).

    One ONNX graph and session per frame size, exported on first use into the cache
    (`~/.cache/vsr/onnx`, or $VSR_CACHE_DIR) under a key of weights, size, opset and versions.
    """

    def __init__(self, model: FrameRecurrentGenerator, device: torch.device, tensorrt: bool = False) -> None:
        super().__init__(model)
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError(
                "--backend ort needs the [onnx] extra: pip install 'vsr[onnx]'"
            ) from None
        self._ort = ort
        self.device = device
        self.providers: list[Any] = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailableError("--backend ort on CUDA needs onnxruntime-gpu")
            self.providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        if tensorrt:  # the ONNX -> TensorRT path: ORT builds (and caches) fp16 engines per graph
            trt_options = {
                "device_id": device.index or 0,
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache_dir() / "ort-trt"),
            }
            self.providers.insert(0, ("TensorrtExecutionProvider", trt_options))
        self._sessions: dict[tuple[int, int], Any] = {}

    def session(self, height: int, width: int) -> Any:
        if (height, width) not in self._sessions:
            path = self.exported(height, width, onnxruntime=self._ort.__version__)
            options = self._ort.SessionOptions()
            options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = torch.get_num_threads()
            self._sessions[(height, width)] = self._ort.InferenceSession(
                str(path), options, providers=self.providers
            )
        return self._sessions[(height, width)]

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        if lr.device.type == "cuda":
            return self._forward_bound(lr, prev_lr, prev_folded)
        feeds = {
            "lr": lr.float().contiguous().cpu().numpy(),
            "prev_lr": prev_lr.float().contiguous().cpu().numpy(),
            "prev_folded": prev_folded.float().contiguous().cpu().numpy(),
        }
        (folded,) = self.session(*lr.shape[-2:]).run(["folded"], feeds)
        return torch.from_numpy(folded).to(lr.device)

    def _forward_bound(
        self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor
    ) -> torch.Tensor:
        """ORT reads the inputs and writes the output where the tensors are (I/O binding): on
        CUDA, GPU memory, with no host copies. Used on CUDA; works on the CPU too (tested there)."""
        session = self.session(*lr.shape[-2:])
        device, index = lr.device.type, lr.device.index or 0
        inputs = {"lr": lr, "prev_lr": prev_lr, "prev_folded": prev_folded}
        inputs = {name: t.float().contiguous() for name, t in inputs.items()}
        b, _, h, w = lr.shape
        folded = torch.empty(b, prev_folded.shape[1], h, w, device=lr.device)
        binding = session.io_binding()
        for name, t in inputs.items():
            binding.bind_input(name, device, index, np.float32, tuple(t.shape), t.data_ptr())
        binding.bind_output("folded", device, index, np.float32, tuple(folded.shape), folded.data_ptr())
        if device == "cuda":
            torch.cuda.current_stream(lr.device).synchronize()  # ORT runs on a stream of its own
        session.run_with_iobinding(binding)
        return folded


def has_tensorrt() -> bool:
    """Whether ONNX Runtime (onnxruntime-gpu) can run graphs with TensorRT here."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "TensorrtExecutionProvider" in ort.get_available_providers()
