"""`vsr bench`: frames per second per stage and end to end, beside the bicubic baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsr.commands.common import one_line_errors
from vsr.commands.options import Backend, DeviceOpt, DtypeOpt, Scale


def bench(
    input: Annotated[
        Path | None, typer.Argument(help="Video to benchmark on (default: a synthetic clip of --size).")
    ] = None,
    size: Annotated[
        list[str] | None, typer.Option(help="Synthetic input size, e.g. 320x180; repeat for several.")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames timed per measurement (after the warm-up).")] = 60,
    warmup: Annotated[int, typer.Option(help="Frames decoded and run before timing starts.")] = 8,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Shipped model, .safetensors path.")
    ] = None,
    scale: Scale = 4,
    batch: Annotated[list[int] | None, typer.Option(help="Frames per batch; repeat for several.")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    backend: Backend = "eager",
    codec: Annotated[str, typer.Option(help="Encoder for the encode stage and end to end.")] = "libx264",
    preset: Annotated[str, typer.Option(help="Encoder preset.")] = "veryfast",
    colour: Annotated[
        str, typer.Option(help="YUV<->RGB on the device, in swscale, or auto (device on CUDA).")
    ] = "auto",
    sweep: Annotated[
        bool, typer.Option(help="Sizes 320x180, 640x360, 960x540 x batches 1, 4, 8 (stages only).")
    ] = False,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time vsr upscale end to end, model and bicubic.")
    ] = True,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot fps against resolution (needs matplotlib).")] = None,
) -> None:
    """Frames per second per stage and end to end, beside the bicubic baseline."""
    import json

    from vsr.bench import BenchConfig, parse_size, plot_report, run_bench, table

    with one_line_errors():
        sizes = [parse_size(s) for s in (size or [])]
        batches = list(batch or [])
        if sweep:
            sizes = sizes or [(320, 180), (640, 360), (960, 540)]
            batches = batches or [1, 4, 8]
        cfg = BenchConfig(
            input=input,
            sizes=tuple(sizes or [(320, 180)]),
            frames=frames,
            warmup=warmup,
            model=model,
            scale=scale,
            batches=tuple(batches or [8]),
            device=device,
            dtype=dtype,
            backend=backend,
            codec=codec,
            preset=preset,
            colour=colour,
            end_to_end=end_to_end and not sweep,
        )
        report = run_bench(cfg, progress=lambda m: typer.echo(f"vsr: bench {m}", err=True))
        if json_path is not None:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        if plot is not None:
            plot_report(report, plot)
    typer.echo(table(report))
