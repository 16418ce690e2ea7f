"""Record the aten ops a piece of code runs (to check that a hot path does no host sync)."""

from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode

LIFT_FRESH = "aten.lift_fresh.default"  # what torch.tensor(python data) dispatches
SCALAR_READ = "aten._local_scalar_dense.default"  # what .item(), float() run: a host sync


class OpRecorder(TorchDispatchMode):
    """Records every aten op that runs (names only)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))
