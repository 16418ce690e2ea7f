"""`vsr upscale`: one video file, on this machine or on Ray."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vsr.commands.common import echo_above_the_bar, fail, interrupt, one_line_errors
from vsr.commands.options import (
    Backend,
    BatchOpt,
    CodecOpt,
    ColourOpt,
    CrfOpt,
    DeviceOpt,
    DtypeOpt,
    HwaccelOpt,
    ModelOpt,
    OnErrorOpt,
    OverwriteOpt,
    PartFramesOpt,
    PixFmtOpt,
    PresetOpt,
    ProgressOpt,
    RayCpusOpt,
    RayDataOpt,
    RayGpusOpt,
    RayOpt,
    RayWorkersOpt,
    Scale,
    SegmentsOpt,
    TrustPickleOpt,
    WarmupOpt,
)

if TYPE_CHECKING:
    from vsr.cluster.driver import RayOptions
    from vsr.config import UpscaleConfig


def upscale(
    input: Annotated[Path, typer.Argument(help="Video to upscale (anything FFmpeg can read).")],
    output: Annotated[Path, typer.Argument(help="Output file; its extension picks the container.")],
    scale: Scale = 4,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    backend: Backend = "auto",
    codec: CodecOpt = "libx264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    pix_fmt: PixFmtOpt = None,
    batch: BatchOpt = 8,
    stream: Annotated[
        int | None,
        typer.Option(
            help="Container index of the video stream to upscale, as ffprobe lists it (default: the first video stream)."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = True,
    trust_pickle: TrustPickleOpt = False,
    on_error: OnErrorOpt = "fail",
    resume: Annotated[
        bool,
        typer.Option(
            help="Keep finished segments beside OUTPUT (.OUTPUT.vsr-resume/) so that the same command "
            "continues after an interruption or a crash."
        ),
    ] = False,
    checkpoint_every: Annotated[
        float, typer.Option(help="With --resume: seconds of video per finished segment.")
    ] = 10.0,
    segments: SegmentsOpt = 1,
    warmup: WarmupOpt = 4,
    colour: ColourOpt = "auto",
    hwaccel: HwaccelOpt = "auto",
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 0,
    ray_cpus: RayCpusOpt = 1.0,
    ray_gpus: RayGpusOpt = 0.0,
    ray_data: RayDataOpt = "auto",
    part_frames: PartFramesOpt = 3000,
) -> None:
    """Upscale a video file; audio and subtitles are copied, timestamps kept."""
    options = dict(locals())  # the options, by name: those of UpscaleConfig make the config
    from vsr.config import UpscaleConfig
    from vsr.pipeline.offline import upscale_file

    signal.signal(signal.SIGTERM, interrupt)  # clean up like Ctrl-C: no partial output left
    stopped = "interrupted; no output was written"
    if not resume and ray is None:
        stopped += " (with --resume, a rerun could go on from where it stopped)"
    with one_line_errors(stopped, "no output was written; "):
        cfg = UpscaleConfig.from_options(options)
        if ray is not None:
            _upscale_on_ray(cfg, ray_options(ray, ray_workers, ray_cpus, ray_gpus, ray_data, part_frames))
            return
        report = upscale_file(cfg)
    if report.damage:
        typer.echo(f"vsr: warning: {report.damage.summary()}", err=True)
    if report.damage.duplicate_pts:
        typer.echo(
            f"vsr: warning: {report.damage.duplicate_pts} frame(s) with a timestamp not after the previous "
            "one were dropped, as ffmpeg does",
            err=True,
        )
    typer.echo(f"vsr: {report.summary()}", err=True)


def ray_options(
    address: str, workers: int, cpus: float, gpus: float, data: str, part_frames: int
) -> RayOptions:
    from vsr.cluster.driver import RayOptions

    return RayOptions(address, workers=workers, cpus=cpus, gpus=gpus, data=data, part_frames=part_frames)


def _upscale_on_ray(cfg: UpscaleConfig, ropts: RayOptions) -> None:
    from vsr.cluster.driver import run_on_ray
    from vsr.pipeline.offline import check_paths

    check_paths(cfg.input, cfg.output, cfg.overwrite)
    [outcome] = run_on_ray(
        [(cfg.input, cfg.output)], cfg, ropts, progress=cfg.progress, echo=echo_above_the_bar
    )
    if not outcome.done:
        raise fail(outcome.error)
    fps = outcome.frames / outcome.seconds if outcome.seconds > 0 else 0.0
    typer.echo(
        f"vsr: {outcome.frames} frames in {outcome.seconds:.1f} s ({fps:.1f} fps) on Ray -> {cfg.output}",
        err=True,
    )
