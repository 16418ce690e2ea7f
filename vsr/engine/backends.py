"""Runtimes for the generator's step: eager PyTorch, torch.compile, ONNX Runtime, Torch-TensorRT,
and `auto`, which picks between the first two by device and input length.

Every backend yields a module with the generator's interface (`scale`, `pad_multiple`,
`init_state`, `step`, `forward(lr, prev_lr, prev_folded) -> folded`), so the Runner and the
pipelines do not know which one runs. Exported artefacts (ONNX files, TensorRT engines) are cached
on disk under a key made of everything that changes them: weights checksum, frame shape, precision,
library versions and, for TensorRT, the GPU.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vsr.config import BACKENDS
from vsr.engine.runner import BicubicRunner, Runner, RunnerSettings, resolve_device, resolve_dtype
from vsr.errors import BackendUnavailableError, OptionError
from vsr.models.generator import FrameRecurrentGenerator, State, hr_frame, initial_state
from vsr.models.zoo import BICUBIC, load_model

log = logging.getLogger(__name__)

# `auto` compiles on the CPU for inputs at least this long. Measured on the 2-core CI machine
# (benchmarks/results/speed_backends_cpu.json): torch.compile saves ~7 ms per frame end to end at
# 320x180 -> 1280x720 (28.2 -> 34.8 fps) and costs ~13 s the first time (cold Inductor cache)
# and ~3 s after; 2000 frames pays back even the cold compile.
AUTO_COMPILE_FRAMES = 2000
ONNX_OPSET = 17  # grid_sample (opset 16+) and pixel shuffle as DepthToSpace


def resolve_backend(backend: str, device: torch.device, frames_hint: int | None) -> str:
    """`auto` -> compile on CPUs with a C++ compiler for long inputs, else eager."""
    if backend not in BACKENDS:
        raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    long_input = frames_hint is not None and frames_hint >= AUTO_COMPILE_FRAMES
    compiler = any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++"))
    return "compile" if device.type == "cpu" and long_input and compiler else "eager"


def cache_dir() -> Path:
    root = os.environ.get("VSR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vsr"
    )
    return Path(root)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the generator's hyperparameters and weights (what an exported artefact depends on)."""
    h = hashlib.sha256(json.dumps(asdict(model.args), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(model: nn.Module, *, digest: str | None = None, **parts: Any) -> str:
    """Key of an exported artefact: weights digest + every setting that changes it."""
    fields = {"weights": digest or weights_digest(model), "torch": torch.__version__, **parts}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


def export_onnx(model: FrameRecurrentGenerator, path: Path, *, height: int, width: int) -> Path:
    """Export the pure step `forward(lr, prev_lr, prev_folded) -> folded` for frames of one size.

    The size is fixed in the graph (the warp's pixel-to-grid factors are traced as constants);
    the batch dimension stays dynamic. `height` and `width` must be multiples of pad_multiple.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise BackendUnavailableError("ONNX export needs the [onnx] extra: pip install 'vsr[onnx]'") from None
    model = model.float().eval()
    s2 = model.carried_channels
    example = (
        torch.rand(1, 3, height, width),
        torch.rand(1, 3, height, width),
        torch.rand(1, s2, height, width),
    )
    dynamic = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape constants: intended, see above
        torch.onnx.export(
            model,
            example,
            str(tmp),
            input_names=["lr", "prev_lr", "prev_folded"],
            output_names=["folded"],
            dynamic_axes={"lr": dynamic, "prev_lr": dynamic, "prev_folded": dynamic, "folded": dynamic},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    os.replace(tmp, path)
    return path


class ExportedStep(nn.Module):
    """Base of the runtimes that run the exported ONNX step (ONNX Runtime, OpenVINO): the
    generator's interface around `forward(lr, prev_lr, prev_folded) -> folded`."""

    def __init__(self, model: FrameRecurrentGenerator) -> None:
        super().__init__()
        # Graphs are exported from a CPU copy kept outside the module tree (a tuple is not
        # registered): the Runner moves this module, and every registered submodule, to its
        # device, while the exporter traces with CPU example inputs.
        self._export_source: tuple[FrameRecurrentGenerator] = (copy.deepcopy(model).float().cpu().eval(),)
        self.args = model.args
        self.scale = model.scale
        self.pad_multiple = model.pad_multiple
        self.bicubic = copy.deepcopy(model.bicubic)
        self.state_channels = model.state_channels
        self.carried_channels = model.carried_channels
        self._digest = weights_digest(model)

    def exported(self, height: int, width: int, **key: Any) -> Path:
        """The step's ONNX graph for frames of this size, exported into the cache on first use."""
        parts = {"format": "onnx", "opset": ONNX_OPSET, "size": (height, width), **key}
        path = (
            cache_dir() / "onnx" / f"{cache_key(self._export_source[0], digest=self._digest, **parts)}.onnx"
        )
        if not path.exists():
            export_onnx(self._export_source[0], path, height=height, width=width)
        return path

    def init_state(self, lr: torch.Tensor) -> State:
        return initial_state(self.bicubic, lr, self.state_channels)

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        folded = self(lr, *state)
        return hr_frame(folded, self.scale), (lr, folded)


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


class CompiledGenerator(nn.Module):
    """The step compiled by torch.compile (Inductor): fused elementwise work around the convolutions.

    Compiled on the first frame of each size (tens of seconds on a small CPU; Inductor keeps its
    cache on disk, so later runs start faster). Needs a C++ compiler on CPU. On the CPU in fp32
    the step is first captured by torch.export for the input's shapes and layout, then compiled
    with Inductor's freezing: the weights become constants, which lets Inductor pre-pack them
    for oneDNN and fold what depends only on them. torch.compile of the module itself keeps the
    weights as graph inputs, and freezing then does nothing. `fast-x4` at 320x180 (Zen 3, 2
    threads, medians of 5 alternating rounds, `benchmarks/results/compile_freezing_zen3.json`):
    the step alone 16.8 fps eager, 12.0 module compiled, 21.1 exported and frozen; Runner.upscale
    13.7 / 9.8 / 16.4; first call 0.8 / 6.4 / 4.7 s; output within one level of eager. Under bf16
    autocast (CPUs with native bf16) the module is compiled as before: export does not carry an
    outer autocast context into the graph. On CUDA the mode is "reduce-overhead": each step is
    replayed as a CUDA graph (the shapes are static per frame size), which removes the launch
    cost of its many small kernels. A graph's outputs live in memory the next replay
    overwrites, so each step's output is cloned before it becomes the recurrent state.
    """

    def __init__(self, model: FrameRecurrentGenerator, device: torch.device | None = None) -> None:
        super().__init__()
        self.model = model.eval()
        self.args = model.args
        self.scale = model.scale
        self.pad_multiple = model.pad_multiple
        self.bicubic = model.bicubic
        self.state_channels = model.state_channels
        self.carried_channels = model.carried_channels
        self.cuda_graphs = device is not None and device.type == "cuda"
        self._frozen_graphs: dict[tuple[Any, ...], Any] = {}  # CPU fp32: per input shapes/layouts
        self._module_compiled: Any = None  # CPU under autocast: the module compiled as it is
        if self.cuda_graphs:
            self._compiled: Any = torch.compile(self.model, dynamic=False, mode="reduce-overhead")
        elif device is None or device.type == "cpu":
            self._compiled = self._frozen
        else:
            self._compiled = torch.compile(self.model, dynamic=False)
        self.fallback: str | None = None  # what runs instead of the compiled graph, and why

    def _frozen(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        """CPU: the step exported for these inputs' shapes and strides and compiled with freezing
        (once per shape; the module compiled as it is under autocast)."""
        inputs = (lr, prev_lr, prev_folded)
        if torch.is_autocast_enabled("cpu"):
            if self._module_compiled is None:
                self._module_compiled = torch.compile(self.model, dynamic=False)
            return self._module_compiled(*inputs)
        if prev_lr.data_ptr() == lr.data_ptr():
            # A fresh state holds the frame itself as the previous one. Export and Dynamo
            # specialise on aliased inputs (the graph would read lr for prev_lr ever after).
            inputs = (lr, prev_lr.clone(), prev_folded)
        key = tuple((tuple(t.shape), t.stride(), t.dtype) for t in inputs)
        graph = self._frozen_graphs.get(key)
        if graph is None:
            exported = torch.export.export(self.model, inputs)
            graph = torch.compile(exported.module(), dynamic=False, options={"freezing": True})
            self._frozen_graphs[key] = graph
        return graph(*inputs)

    def init_state(self, lr: torch.Tensor) -> State:
        return initial_state(self.bicubic, lr, self.state_channels)

    def forward(self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor) -> torch.Tensor:
        try:
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs are done with
                return self._compiled(lr, prev_lr, prev_folded).clone()
            return self._compiled(lr, prev_lr, prev_folded)
        except Exception as exc:  # noqa: BLE001 - no compiler, unsupported platform...: fall back, loudly
            if self._compiled is self.model:
                raise
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            if self.cuda_graphs:
                # e.g. torch < 2.12 (pytorch/pytorch#123177): graphs captured in one thread assert
                # when replayed in another. Fused kernels without graphs are still worth having.
                self.cuda_graphs = False
                self._compiled = torch.compile(self.model, dynamic=False)
                self.fallback = f"compiled without CUDA graphs ({reason})"
            else:
                self._compiled = self.model
                self.fallback = f"eager PyTorch, torch.compile failed ({reason})"
            log.warning("--backend compile: running %s", self.fallback)
            return self.forward(lr, prev_lr, prev_folded)

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        folded = self(lr, *state)
        return hr_frame(folded, self.scale), (lr, folded)


def _ort_has_tensorrt() -> bool:
    """Whether ONNX Runtime (onnxruntime-gpu) can run graphs with TensorRT here."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "TensorrtExecutionProvider" in ort.get_available_providers()


def make_generator(
    model: FrameRecurrentGenerator, backend: str, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """The module the Runner drives for `backend`."""
    if backend == "eager":
        return model
    if backend == "compile":
        return CompiledGenerator(model, device)
    if backend == "ort":
        if dtype != torch.float32:
            raise OptionError("--backend ort runs in float32; pass --dtype float32")
        return OrtGenerator(model, device)
    if backend in ("openvino", "openvino-int8"):
        from vsr.engine.openvino import OpenVinoGenerator

        return OpenVinoGenerator(model, device, dtype, int8=backend == "openvino-int8")
    if backend == "trt":
        from vsr.engine.tensorrt import TrtGenerator

        try:
            return TrtGenerator(model, device, dtype)
        except BackendUnavailableError as missing:
            if device.type != "cuda" or not _ort_has_tensorrt():
                raise
            log.warning("%s; using ONNX Runtime's TensorRT execution provider instead", missing)
            return OrtGenerator(model, device, tensorrt=True)
    raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")


def backend_dtype(name: str, device: torch.device, backend: str) -> torch.dtype:
    """--dtype for a backend: ORT runs the exported fp32 graph; TensorRT builds fp16 engines."""
    if backend not in BACKENDS:
        raise OptionError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "ort":
        if name not in ("auto", "float32"):
            raise OptionError(f"--backend ort runs in float32, not {name}")
        return torch.float32
    if backend == "openvino-int8":
        if name not in ("auto", "float32"):
            raise OptionError(f"--backend openvino-int8 runs int8 with float32 around it, not {name}")
        return torch.float32
    if backend == "trt" and name == "auto":
        return torch.float16
    return resolve_dtype(name, device)


def build_runner(
    model: str | None,
    scale: int,
    *,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    frames_hint: int | None = None,
    size_hint: tuple[int, int] | None = None,
    trust_pickle: bool = False,
) -> tuple[Runner | BicubicRunner, str]:
    """(runner, model name) for a --model/--backend/--device/--dtype combination.

    `frames_hint` (how many frames the input has; 0/None: unknown) and `size_hint` (its width and
    height) let `auto` choose: on a CPU by measurement (vsr.engine.autotune), elsewhere eager.
    The runner's `backend` and `backend_reason` say what was chosen and why."""
    dev = resolve_device(device)
    resolved = resolve_backend(backend, dev, frames_hint)
    if model == BICUBIC:
        return BicubicRunner(scale, dev), BICUBIC
    generator, info = load_model(model, scale, trust_pickle)
    module: nn.Module | None = None
    reason = "asked for"
    if backend == "auto" and dev.type == "cpu":
        from vsr.engine import autotune

        choice = autotune.choose(generator, dtype, size_hint, frames_hint)
        resolved, reason, module = choice.backend, choice.reason, choice.module
    elif backend == "auto":
        reason = f"{resolved} on {dev.type}"
    dt = backend_dtype(dtype, dev, resolved)
    module = module if module is not None else make_generator(generator, resolved, dev, dt)
    runner = Runner(module, RunnerSettings(device=dev, dtype=dt))
    runner.backend, runner.backend_reason = resolved, reason
    return runner, info["name"]
