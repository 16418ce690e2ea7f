"""torch.compile (`--backend compile`): the step compiled by Inductor, on the CPU exported and
frozen per input shape, on CUDA replayed as CUDA graphs."""

from __future__ import annotations

import logging
from typing import Any

import torch

from vsr.engine.base import RuntimeStep
from vsr.models.generator import FrameRecurrentGenerator

log = logging.getLogger(__name__)


class CompiledGenerator(RuntimeStep):
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
        super().__init__(model)
        self.model = model.eval()
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
