"""File to file: `upscale_file`, the one call behind `vsr upscale` and `vsr.upscale()`.

It checks the paths, opens the reader and the runner, and runs the file's job (vsr.pipeline.job):
plainly, decode -> upscale -> encode in three threads written atomically; with --resume as
journaled segments (vsr.pipeline.resumable); with --segments as parts side by side
(vsr.pipeline.segmented).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from vsr.config import UpscaleConfig
from vsr.engine.runner import BicubicRunner
from vsr.errors import InputError, OutputError
from vsr.io.reader import Damage
from vsr.io.writer import check_encoder
from vsr.pipeline.colour import colour_label
from vsr.pipeline.job import Loaded, Progress, load_runner, open_reader, prepare_job
from vsr.pipeline.resumable import run_resumable
from vsr.pipeline.segmented import run_parallel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpscaleReport:
    input: Path
    output: Path
    frames: int
    seconds: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    model: str
    device: str
    dtype: str
    scene_cuts: int
    damage: Damage = field(default_factory=Damage)
    resumed: int = 0  # frames a --resume run found finished in its journal
    colour: str = "swscale"  # where YUV<->RGB ran: swscale, device, or planes (4:2:0 resized as is)
    hwaccel: str | None = None  # FFmpeg's hardware decoder, where one decoded (cuda: NVDEC)
    backend: str = ""  # the runtime that ran the model (what --backend auto chose)

    @property
    def fps(self) -> float:
        return (self.frames - self.resumed) / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        (w, h), (ow, oh) = self.input_size, self.output_size
        resumed = f" ({self.resumed} resumed)" if self.resumed else ""
        colour = {"device": ", colour on the device", "planes": ", 4:2:0 planes resized"}
        notes = colour.get(self.colour, "") + (f", decoded by {self.hwaccel}" if self.hwaccel else "")
        return (
            f"{self.frames} frames{resumed} {w}x{h} -> {ow}x{oh} in {self.seconds:.1f} s ({self.fps:.1f} fps), "
            f"model {self.model} on {self.device} ({self.dtype}{notes})"
            + (f" via {self.backend}" if self.backend else "")
            + f" -> {self.output}"
        )


def check_paths(input: Path, output: Path, overwrite: bool) -> None:
    if not input.exists():
        text = str(input)
        if "://" in text or text.startswith(("rtsp:/", "rtmp:/", "udp:/", "srt:/", "http:/", "https:/")):
            url = text if "://" in text else text.replace(":/", "://", 1)  # Path() folds the "//"
            raise InputError(f"input {url!r} is a URL: vsr upscale reads files; use vsr live for streams")
        raise InputError(f"input {str(input)!r} does not exist")
    if output.is_dir():
        raise OutputError(f"output {str(output)!r} is a directory; give a file name")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {str(parent)!r} does not exist")
    if output.exists():
        if os.path.samefile(input, output):
            raise OutputError(f"output {str(output)!r} is the input file; choose another name")
        if not overwrite:
            raise OutputError(f"output {str(output)!r} exists; pass -y/--overwrite to replace it")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory {str(parent)!r} is not writable")


def upscale_file(
    cfg: UpscaleConfig, on_frames: Callable[[int], None] | None = None, loaded: Loaded | None = None
) -> UpscaleReport:
    """Upscale cfg.input into cfg.output; `on_frames(n)` is called as frames are done.

    `loaded`: a runner built before (by load_runner) to use instead of building one."""
    check_paths(cfg.input, cfg.output, cfg.overwrite)
    check_encoder(cfg.codec)
    start = time.perf_counter()
    with open_reader(cfg) as reader:
        vi = reader.info
        for s in reader.uncarried:  # said, never dropped silently
            name = s.codec_context.name if s.codec_context is not None else "unknown"
            log.warning("input stream #%d (%s, %s) is not carried into the output", s.index, s.type, name)
        runner, model_name = loaded or load_runner(cfg, vi.frames, (vi.width, vi.height))
        job = prepare_job(cfg, reader, runner)
        bar = tqdm(
            total=vi.frames or None,
            unit="frame",
            disable=not cfg.progress,
            dynamic_ncols=True,
            desc="upscale",
        )
        progress = Progress(bar, on_frames)
        try:
            if cfg.resume:
                frames = run_resumable(job, progress, model_name)
            elif cfg.segments > 1:
                frames = run_parallel(job, progress, segments=job.batch)
            else:
                frames = job.run(progress)
        finally:
            bar.close()
    return UpscaleReport(
        input=cfg.input,
        output=cfg.output,
        frames=frames,
        seconds=time.perf_counter() - start,
        input_size=(vi.width, vi.height),
        output_size=(job.width, job.height),
        model=model_name,
        device=str(runner.device),
        dtype="float32"
        if isinstance(runner, BicubicRunner)
        else str(runner.settings.dtype).removeprefix("torch."),
        scene_cuts=runner.scene_cuts,
        damage=job.damage,
        resumed=job.resumed,
        colour=colour_label(job.runner),
        hwaccel=reader.hwaccel,
        backend=getattr(runner, "backend", ""),
    )
