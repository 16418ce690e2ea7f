"""One file's job: its reader, runner, encoder settings and batch size, and the plain
decode -> upscale -> encode run in three threads, written atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import av
import torch
from tqdm import tqdm

from vsr.config import UpscaleConfig
from vsr.engine.build import build_runner
from vsr.engine.runner import BicubicRunner, Runner, resolve_device
from vsr.errors import OutputError
from vsr.frames import FrameBatch
from vsr.io.reader import VideoReader
from vsr.io.segments import SegmentEncoder
from vsr.io.writer import EncodeSettings, VideoWriter, atomic_output, usable_encoder
from vsr.pipeline.colour import colour_plan
from vsr.pipeline.memory import fit_batch, fit_batch_gpu
from vsr.pipeline.stages import Pipeline

T = TypeVar("T")


def decode_hwaccel(setting: str, device: torch.device) -> tuple[str | None, bool]:
    """(FFmpeg hwaccel for --hwaccel, whether it is required): auto decodes with NVDEC when the
    model runs on CUDA (same GPU), and falls back to the CPU where NVDEC cannot start."""
    if setting == "none":
        return None, False
    if setting == "auto":
        if device.type != "cuda":
            return None, False
        return ("cuda" if device.index is None else f"cuda:{device.index}"), False
    return setting, True


class Progress:
    """The per-file bar, and a caller's frame counter beside it (vsr batch's overall bar)."""

    def __init__(self, bar: tqdm, on_frames: Callable[[int], None] | None) -> None:
        self.bar, self.on_frames = bar, on_frames

    def update(self, n: int) -> None:
        self.bar.update(n)
        if self.on_frames is not None and n:
            self.on_frames(n)


Loaded = tuple[Runner | BicubicRunner, str]  # a runner and its model's name, built once, reused


def open_reader(cfg: UpscaleConfig) -> VideoReader:
    hwaccel, required = decode_hwaccel(cfg.hwaccel, resolve_device(cfg.device))
    return VideoReader(
        cfg.input, stream_index=cfg.stream, on_error=cfg.on_error, hwaccel=hwaccel, hwaccel_required=required
    )


def load_runner(
    cfg: UpscaleConfig, frames_hint: int | None, size_hint: tuple[int, int] | None = None
) -> Loaded:
    return build_runner(
        cfg.model,
        cfg.scale,
        backend=cfg.backend,
        device=cfg.device,
        dtype=cfg.dtype,
        frames_hint=frames_hint,
        size_hint=size_hint,
        trust_pickle=cfg.trust_pickle,
    )


def prepare_job(cfg: UpscaleConfig, reader: VideoReader, runner: Runner | BicubicRunner) -> FileJob:
    """Encoder settings, batch size and colour plan of one file; the runner starts afresh."""
    vi = reader.info
    settings = EncodeSettings(codec=cfg.codec, crf=cfg.crf, preset=cfg.preset, pix_fmt=cfg.pix_fmt)
    out_w, out_h = vi.width * cfg.scale, vi.height * cfg.scale
    settings = usable_encoder(settings, out_w, out_h)  # NVENC: size limit, or absent
    # Refuse, before any work, what cannot fit; segment-parallel runs hold `segments` frames a step.
    batch = fit_batch(out_w, out_h, cfg.segments if cfg.segments > 1 else cfg.batch)
    if runner.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(runner.device)
        batch = fit_batch_gpu(out_w, out_h, batch, free)
    runner.reset()  # a runner reused across files (vsr batch on Ray) carries nothing over
    runner.scene_cuts = 0
    planes = isinstance(runner, BicubicRunner) and runner.device.type == "cpu"
    plan = colour_plan(cfg, vi, runner.device, settings, out_h, planes=planes)
    runner.convert_on_device(plan)
    if plan is not None:
        reader.layout = "yuv420p"
    return FileJob(cfg, reader, runner, settings, out_w, out_h, batch)


class FileJob:
    """One file's decode -> upscale -> encode: the plain run (straight into the output) and what the
    resumable (vsr.pipeline.resumable) and segment-parallel (vsr.pipeline.segmented) runs share."""

    def __init__(
        self,
        cfg: UpscaleConfig,
        reader: VideoReader,
        runner: Runner | BicubicRunner,
        settings: EncodeSettings,
        width: int,
        height: int,
        batch: int,
    ) -> None:
        self.cfg, self.reader, self.runner, self.settings = cfg, reader, runner, settings
        self.width, self.height, self.batch = width, height, batch
        self.resumed = 0
        self.damage = reader.damage

    def writer(self, path: Path) -> VideoWriter:
        return VideoWriter(
            path,
            info=self.reader.info,
            width=self.width,
            height=self.height,
            settings=self.settings,
            side_streams=self.reader.side_streams,
            attachments=self.reader.attachments,
            display_name=str(self.cfg.output),
        )

    def pipeline(
        self,
        batches: Iterable[FrameBatch],
        upscale: Callable[[FrameBatch, threading.Event], T],
        encode: Callable[[T], None],
    ) -> None:
        """decode -> upscale -> encode in three threads; `upscale` gets the cancel event too."""
        pipe = Pipeline(depth=4)
        decoded = pipe.source("decode", lambda: batches)
        upscaled = pipe.stage("upscale", decoded, lambda batch: upscale(batch, pipe.cancel))
        pipe.sink("encode", upscaled, encode)
        pipe.run()

    def output_error(self, doing: str, exc: av.FFmpegError) -> OutputError:
        return OutputError(f"{doing} {str(self.cfg.output)!r} failed: {exc.strerror}")

    def run(self, bar: Progress) -> int:
        """Encode straight into a temporary file beside the output, renamed at the end."""
        with atomic_output(self.cfg.output) as tmp:
            writer = self.writer(tmp)

            def encode(batch: FrameBatch) -> None:
                try:
                    writer.write(batch)
                except av.FFmpegError as exc:
                    raise self.output_error("writing", exc) from None
                bar.update(len(batch))

            try:
                batches = self.reader.batches(self.batch, side=writer.add_side_packet)
                self.pipeline(batches, lambda b, stop: self.runner.upscale(b, stop), encode)
                try:
                    writer.finish()
                except av.FFmpegError as exc:
                    raise self.output_error("finishing", exc) from None
            except BaseException:
                writer.abort()
                raise
        return writer.frames_written

    def segment_encoder(self, path: Path, writer: VideoWriter) -> SegmentEncoder:
        """An encoder of one segment whose packets `writer` can take (same format and headers)."""
        return SegmentEncoder(
            path,
            info=writer.info,
            width=self.width,
            height=self.height,
            settings=self.settings,
            pix_fmt=writer.pix_fmt,
            global_header=bool(writer.video.codec_context.flags & av.codec.context.Flags.global_header),
        )
