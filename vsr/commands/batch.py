"""`vsr batch`: many files with the same options, on this machine or across a Ray cluster."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from vsr.commands import options as opt
from vsr.commands.common import echo_above_the_bar, fail, interrupt, one_line_errors
from vsr.commands.upscale import ray_options


def batch_(
    inputs: Annotated[
        list[str], typer.Argument(help="Video files, directories of videos, or glob patterns.")
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Directory for the outputs (created).")],
    suffix: Annotated[str, typer.Option(help="Added to each output's file name, e.g. _x4.")] = "",
    ext: Annotated[
        str | None, typer.Option(help="Output extension (container), e.g. .mkv; default: the input's.")
    ] = None,
    scale: opt.Scale = 4,
    model: opt.ModelOpt = None,
    device: opt.DeviceOpt = "auto",
    dtype: opt.DtypeOpt = "auto",
    backend: opt.Backend = "auto",
    codec: opt.CodecOpt = "libx264",
    crf: opt.CrfOpt = 18,
    preset: opt.PresetOpt = "medium",
    pix_fmt: opt.PixFmtOpt = None,
    batch: opt.BatchOpt = 8,
    overwrite: opt.OverwriteOpt = False,
    progress: opt.ProgressOpt = True,
    trust_pickle: opt.TrustPickleOpt = False,
    on_error: opt.OnErrorOpt = "fail",
    colour: opt.ColourOpt = "auto",
    hwaccel: opt.HwaccelOpt = "auto",
    segments: opt.SegmentsOpt = 1,
    warmup: opt.WarmupOpt = 4,
    ray: opt.RayOpt = None,
    ray_workers: opt.RayWorkersOpt = 0,
    ray_cpus: opt.RayCpusOpt = 1.0,
    ray_gpus: opt.RayGpusOpt = 0.0,
    ray_data: opt.RayDataOpt = "auto",
    part_frames: opt.PartFramesOpt = 3000,
) -> None:
    """Upscale many videos with the same options; finished outputs are skipped, so a rerun continues."""
    given = dict(locals())  # the options, by name: those of UpscaleConfig apply to every file
    from vsr.batch import BatchConfig, run_batch
    from vsr.config import UpscaleConfig

    signal.signal(signal.SIGTERM, interrupt)
    with one_line_errors("interrupted; finished outputs are kept, the one in progress was removed"):
        options = UpscaleConfig.from_options(given, input=Path("."), output=Path("."))
        ropts = (
            None if ray is None else ray_options(ray, ray_workers, ray_cpus, ray_gpus, ray_data, part_frames)
        )
        cfg = BatchConfig(
            tuple(inputs), out_dir, options, suffix=suffix, ext=ext, progress=progress, ray=ropts
        )
        report = run_batch(cfg, echo=echo_above_the_bar)
    typer.echo(report.table())
    if report.failed:
        raise fail(f"{len(report.failed)} of {len(report.results)} files failed")
