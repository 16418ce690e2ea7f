"""`vsr export`: the generator's step as an ONNX graph or a TensorRT engine, one frame size per file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsr.commands.common import one_line_errors
from vsr.commands.options import Scale
from vsr.errors import OptionError


def export_(
    output: Annotated[Path, typer.Argument(help="File to write (.onnx, or .ep for TensorRT).")],
    format: Annotated[str, typer.Option("--format", "-f", help="onnx or trt.")] = "onnx",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Shipped model or .safetensors path.")
    ] = None,
    scale: Scale = 4,
    size: Annotated[
        str, typer.Option(help="LR frame size the graph is built for (WxH, multiple of 4).")
    ] = "320x180",
    batch: Annotated[int, typer.Option(help="TensorRT: batch size of the engine.")] = 1,
    dtype: Annotated[str, typer.Option(help="TensorRT: float16 or float32.")] = "float16",
) -> None:
    """Export the generator's step for ONNX Runtime or TensorRT (one frame size per file)."""
    import shutil

    import torch

    from vsr.bench import parse_size
    from vsr.engine.exported import export_onnx
    from vsr.engine.runner import DTYPES
    from vsr.models.zoo import load_model

    with one_line_errors():
        width, height = parse_size(size)
        if width % 4 or height % 4:
            raise OptionError(
                f"--size {size}: width and height must be multiples of 4 (the flow net's stride)"
            )
        generator, _ = load_model(model, scale)
        if format == "onnx":
            path = export_onnx(generator, output, height=height, width=width)
        elif format == "trt":
            from vsr.engine.tensorrt import TrtGenerator, bucket

            if dtype not in ("float16", "float32"):
                raise OptionError(f"--dtype must be float16 or float32 for TensorRT, got {dtype!r}")
            trt = TrtGenerator(generator, torch.device("cuda"), DTYPES[dtype])
            # the engine upscale would use: frames are padded to the bucket size before it runs
            height, width = bucket(height), bucket(width)
            trt.engine(batch, height, width)
            path = Path(shutil.copyfile(trt.engine_path(batch, height, width), output))
        else:
            raise OptionError(f"--format must be onnx or trt, got {format!r}")
    typer.echo(f"vsr: wrote {path}", err=True)
