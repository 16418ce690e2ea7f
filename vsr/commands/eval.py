"""`vsr eval`: full-reference quality metrics, of a video against its ground truth or of a model
against bicubic on degraded ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsr.commands.common import one_line_errors
from vsr.commands.options import DeviceOpt, DtypeOpt, ProgressOpt


def eval_(
    ref: Annotated[Path, typer.Option("--ref", help="Ground-truth video.")],
    output: Annotated[Path | None, typer.Argument(help="Video to score against --ref.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Degrade --ref, upscale it with this model and bicubic."),
    ] = None,
    scale: Annotated[
        int, typer.Option("--scale", "-s", help="Scale (and border cropped for PSNR/SSIM).")
    ] = 4,
    degradation: Annotated[
        str,
        typer.Option(
            help="With --model, how the LR input is made: BI, BD (Gaussian sigma 1.6), BI+H264 (CRF 23), "
            "BI+H264-28, BD+H264, BI+H265-28, or a random mix: real, web, mixed, broad, blind (seed 0)."
        ),
    ] = "BI",
    frames: Annotated[int, typer.Option(help="Score at most this many frames (0 = all).")] = 0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Plot per-frame PSNR-Y and flicker (needs matplotlib).")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option(help="PNG of centre crops side by side (middle frame).")
    ] = None,
    jod: Annotated[
        bool,
        typer.Option(
            "--jod",
            help="Also ColorVideoVDP in JOD (needs vsr[jod]; keeps the frames in memory: see --frames).",
        ),
    ] = False,
    progress: ProgressOpt = True,
) -> None:
    """Quality metrics: PSNR-Y, SSIM-Y, tOF, flicker, detail ratio, ERQA (and JOD with --jod)."""
    from vsr.evaluate import EvalConfig, evaluate

    with one_line_errors():
        cfg = EvalConfig(
            reference=ref,
            output=output,
            model=model,
            scale=scale,
            degradation=degradation,
            frames=frames,
            device=device,
            dtype=dtype,
            json=json_path,
            plot=plot,
            compare=compare,
            jod=jod,
            progress=progress,
        )
        report = evaluate(cfg)
    typer.echo(f"{report.frames} frames of {ref}" + (f", {degradation} x{scale}" if model else ""))
    typer.echo(report.table())
