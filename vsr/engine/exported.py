"""The generator's step as an ONNX graph (base layer of vsr.engine): the export, and the base class
of the runtimes that run that graph (ONNX Runtime, OpenVINO), exporting it into the cache once
per frame size."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from vsr.engine.base import RuntimeStep, cache_dir, cache_key, weights_digest
from vsr.errors import BackendUnavailableError
from vsr.models.generator import FrameRecurrentGenerator

ONNX_OPSET = 17  # grid_sample (opset 16+) and pixel shuffle as DepthToSpace
# In every cache key of an exported graph: bumped when graphs exported before are wrong. 2: graphs
# exported inside a bf16 Runner's autocast carried its casts (bf16 in an fp32 graph, and int8
# calibrated on that: 17 dB from eager on Zen 4).
EXPORT_VERSION = 2


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
    # The export may run inside a Runner's autocast (a runtime that exports on its first frame);
    # the graph must be the fp32 model's, whatever autocast the caller has on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape constants: intended, see above
        with torch.no_grad(), torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
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


class ExportedStep(RuntimeStep):
    """Base of the runtimes that run the exported ONNX step (ONNX Runtime, OpenVINO): the
    generator's interface around `forward(lr, prev_lr, prev_folded) -> folded`."""

    def __init__(self, model: FrameRecurrentGenerator) -> None:
        super().__init__(model, own_bicubic=True)
        # Graphs are exported from a CPU copy kept outside the module tree (a tuple is not
        # registered): the Runner moves this module, and every registered submodule, to its
        # device, while the exporter traces with CPU example inputs.
        self._export_source: tuple[FrameRecurrentGenerator] = (copy.deepcopy(model).float().cpu().eval(),)
        self._digest = weights_digest(model)

    def exported(self, height: int, width: int, **key: Any) -> Path:
        """The step's ONNX graph for frames of this size, exported into the cache on first use."""
        parts = {
            "format": "onnx",
            "opset": ONNX_OPSET,
            "export": EXPORT_VERSION,
            "size": (height, width),
            **key,
        }
        path = (
            cache_dir() / "onnx" / f"{cache_key(self._export_source[0], digest=self._digest, **parts)}.onnx"
        )
        if not path.exists():
            export_onnx(self._export_source[0], path, height=height, width=width)
        return path
