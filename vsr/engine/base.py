"""The base every runtime builds on, importing no runtime: what a runtime's module must offer the
Runner, the shared `init_state` / `step` around a runtime's `forward`, and the on-disk cache of
exported artefacts (its directory, and keys made of everything an artefact depends on).

The layers of vsr.engine, lowest first (tests/test_layers.py enforces them):

- base: this module, exported (the ONNX graph of the step), runner, yuv, transfer;
- runtimes, one leaf module each, importing only the base: compiled (torch.compile), ort (ONNX
  Runtime), openvino (OpenVINO, fp32/bf16 and int8), tensorrt (Torch-TensorRT); eager PyTorch is
  the generator itself;
- the choice: runtimes (which runtime a name means, and its dtype), autotune (`auto` by
  measurement, cached per machine);
- build: `build_runner`, a Runner for a --model/--backend/--device/--dtype combination.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs, State, hr_frame, initial_state


class StepModule(Protocol):
    """What the Runner drives: the generator's streaming interface, whoever runs it."""

    args: GeneratorArgs
    scale: int
    pad_multiple: int
    state_channels: int
    carried_channels: int

    def init_state(self, lr: torch.Tensor) -> State: ...

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...

    def __call__(
        self, lr: torch.Tensor, prev_lr: torch.Tensor, prev_folded: torch.Tensor
    ) -> torch.Tensor: ...


class RuntimeStep(nn.Module):
    """Base of every runtime but eager: the generator's interface (a `StepModule`) around the
    runtime's own `forward(lr, prev_lr, prev_folded) -> folded`.

    `own_bicubic`: keep a copy of the model's bicubic upsampler (for runtimes that do not keep the
    model itself), so that the Runner can move this module to its device on its own."""

    def __init__(self, model: FrameRecurrentGenerator, *, own_bicubic: bool = False) -> None:
        super().__init__()
        self.args = model.args
        self.scale = model.scale
        self.pad_multiple = model.pad_multiple
        self.bicubic = copy.deepcopy(model.bicubic) if own_bicubic else model.bicubic
        self.state_channels = model.state_channels
        self.carried_channels = model.carried_channels

    def init_state(self, lr: torch.Tensor) -> State:
        return initial_state(self.bicubic, lr, self.state_channels)

    def step(self, lr: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        folded = self(lr, *state)
        return hr_frame(folded, self.scale), (lr, folded)


def cache_dir() -> Path:
    """Where exported artefacts and the autotune table live: $VSR_CACHE_DIR, else ~/.cache/vsr."""
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
