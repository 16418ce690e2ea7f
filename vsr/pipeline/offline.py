"""File to file: decode -> upscale -> encode in three threads, written atomically.

With --resume the encoded video goes into segments in a journal beside the output instead, and
is joined into the output at the end (vsr.pipeline.resume).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import av
import torch
from tqdm import tqdm

from vsr import __version__
from vsr.config import UpscaleConfig
from vsr.engine.backends import build_runner
from vsr.engine.runner import BicubicRunner, ColourPlan, Runner, resolve_device
from vsr.engine.yuv import YuvMatrix, supports_matrix
from vsr.errors import InputError, Interrupted, OutputError
from vsr.frames import FrameBatch
from vsr.io.reader import Damage, VideoInfo, VideoReader
from vsr.io.segments import SegmentEncoder, SegmentInfo
from vsr.io.writer import (
    EncodeSettings,
    VideoWriter,
    atomic_output,
    check_encoder,
    output_pix_fmt,
    usable_encoder,
)
from vsr.models.generator import State
from vsr.models.zoo import BICUBIC, resolve_weights
from vsr.pipeline.memory import fit_batch, fit_batch_gpu
from vsr.pipeline.parallel import ParallelJob, Part, frame_timestamps, plan_parts
from vsr.pipeline.resume import Journal, file_digest, input_identity, join_segments
from vsr.pipeline.stages import Pipeline

T = TypeVar("T")
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


def colour_on_device(colour: str, device: torch.device) -> bool:
    """--colour: device, or auto on CUDA (where it saves the copies most); swscale otherwise."""
    return colour == "device" or (colour == "auto" and device.type == "cuda")


def colour_plan(
    cfg: UpscaleConfig,
    info: VideoInfo,
    device: torch.device,
    settings: EncodeSettings,
    out_height: int,
    planes: bool = False,
) -> ColourPlan | None:
    """Convert YUV<->RGB on the model's device where input and output are 8-bit 4:2:0 with a
    known matrix; None: swscale converts on the CPU.

    `planes` (bicubic on the CPU): with --colour auto, keep 4:2:0 end to end where the input and
    output matrices are the same, and let the runner resize the planes (no RGB at all)."""
    wanted = colour_on_device(cfg.colour, device) or (planes and cfg.colour == "auto")
    if not wanted:
        return None
    pix_fmt, out_info = output_pix_fmt(info, out_height, settings)
    why = None
    if info.pix_fmt not in ("yuv420p", "nv12"):
        why = f"the input is {info.pix_fmt}"
    elif info.width % 2 or info.height % 2:
        why = f"the input's size {info.width}x{info.height} is odd"
    elif pix_fmt != "yuv420p":
        why = f"the output is {pix_fmt}"
    elif not (supports_matrix(info.colorspace) and supports_matrix(out_info.colorspace)):
        why = "the input's colour matrix is not one vsr converts"
    if why is not None:
        if cfg.colour == "device":
            log.warning("--colour device: %s, so swscale converts instead", why)
        return None
    plan = ColourPlan(
        YuvMatrix.from_tags(info.colorspace, info.color_range),
        YuvMatrix.from_tags(out_info.colorspace, out_info.color_range),
    )
    if planes and cfg.colour == "auto" and plan.input != plan.output:
        return None  # a matrix change needs RGB in between: swscale's
    return plan


def colour_label(runner: Runner | BicubicRunner) -> str:
    """Where the colour work of a run happened, for its report."""
    if runner.colour is None:
        return "swscale"
    planes = isinstance(runner, BicubicRunner) and runner.device.type == "cpu"
    return "planes" if planes and runner.colour.input == runner.colour.output else "device"


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


class _Progress:
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


def prepare_job(cfg: UpscaleConfig, reader: VideoReader, runner: Runner | BicubicRunner) -> _Job:
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
    return _Job(cfg, reader, runner, settings, out_w, out_h, batch)


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
        progress = _Progress(bar, on_frames)
        try:
            if cfg.resume:
                frames = job.run_resumable(progress, model_name)
            elif cfg.segments > 1:
                frames = job.run_parallel(progress, segments=job.batch)
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


class _Job:
    """One file's decode -> upscale -> encode, written directly or as resumable segments."""

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

    def _writer(self, path: Path) -> VideoWriter:
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

    def _pipeline(
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

    def _output_error(self, doing: str, exc: av.FFmpegError) -> OutputError:
        return OutputError(f"{doing} {str(self.cfg.output)!r} failed: {exc.strerror}")

    def run(self, bar: _Progress) -> int:
        """Encode straight into a temporary file beside the output, renamed at the end."""
        with atomic_output(self.cfg.output) as tmp:
            writer = self._writer(tmp)

            def encode(batch: FrameBatch) -> None:
                try:
                    writer.write(batch)
                except av.FFmpegError as exc:
                    raise self._output_error("writing", exc) from None
                bar.update(len(batch))

            try:
                batches = self.reader.batches(self.batch, side=writer.add_side_packet)
                self._pipeline(batches, lambda b, stop: self.runner.upscale(b, stop), encode)
                try:
                    writer.finish()
                except av.FFmpegError as exc:
                    raise self._output_error("finishing", exc) from None
            except BaseException:
                writer.abort()
                raise
        return writer.frames_written

    def _key(self, model_name: str, segment_frames: int) -> dict[str, Any]:
        """Everything the output depends on: a journal made under another key is not reused."""
        cfg = self.cfg
        if model_name == BICUBIC:
            weights = BICUBIC
        else:
            weights = file_digest(resolve_weights(cfg.model, cfg.scale, cfg.trust_pickle)[1])
        dtype = "float32" if isinstance(self.runner, BicubicRunner) else str(self.runner.settings.dtype)
        return {
            "vsr": __version__,
            "input": input_identity(cfg.input),
            "stream": self.reader.stream.index,
            "weights": weights,
            "scale": cfg.scale,
            "backend": cfg.backend,
            "device": str(self.runner.device),
            "dtype": dtype,
            "codec": cfg.codec,
            "crf": cfg.crf,
            "preset": cfg.preset,
            "pix_fmt": cfg.pix_fmt,
            "on_error": cfg.on_error,
            "segment_frames": segment_frames,
            "container": cfg.output.suffix.lower(),
            "colour": self.reader.layout,
        }

    def run_resumable(self, bar: _Progress, model_name: str) -> int:
        """Encode segments into the journal, then join them into the output (see vsr.pipeline.resume)."""
        cfg, runner, vi = self.cfg, self.runner, self.reader.info
        segment_frames = max(1, round(cfg.checkpoint_every * float(vi.rate or 25)))
        journal = Journal(cfg.output, self._key(model_name, segment_frames))
        progress = journal.open()
        runner.restore(journal.state())
        runner.scene_cuts = progress.scene_cuts
        self.resumed = progress.frames
        bar.update(progress.frames)
        partial = journal.dir / f"partial{cfg.output.suffix}"
        writer: VideoWriter | None = None
        segment: SegmentEncoder | None = None

        def new_segment() -> SegmentEncoder:
            assert writer is not None
            return self.segment_encoder(journal.next_segment(), writer)

        done = progress.frames

        def upscale(
            batch: FrameBatch, stop: threading.Event
        ) -> tuple[FrameBatch, tuple[State | None, int] | None]:
            nonlocal done
            out = runner.upscale(batch, stop)
            done += len(batch)
            return out, (runner.snapshot(), runner.scene_cuts) if done % segment_frames == 0 else None

        def encode(item: tuple[FrameBatch, tuple[State | None, int] | None]) -> None:
            nonlocal segment
            batch, end = item
            assert segment is not None
            try:
                segment.write(batch)
                if end is not None:
                    journal.commit(segment.path, segment.finish(), *end)
                    segment = new_segment()
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"writing the resume journal {str(journal.dir)!r} failed: {exc}") from None
            bar.update(len(batch))

        try:
            writer = self._writer(partial)  # opened first: a bad extension or encoder fails before the work
            segment = new_segment()
            batches = self.reader.batches(self.batch, skip=progress.frames, boundary=segment_frames)
            self._pipeline(batches, upscale, encode)
            last, segment = segment, None
            assert last is not None
            if last.frames:
                try:
                    info = last.finish()
                except (av.FFmpegError, OSError) as exc:
                    last.abort()
                    raise OutputError(
                        f"writing the resume journal {str(journal.dir)!r} failed: {exc}"
                    ) from None
                journal.commit(last.path, info, None, runner.scene_cuts)
            else:
                last.abort()
            try:
                join_segments(writer, journal.segments(), journal.progress.frames, vi, cfg.input)
            except av.FFmpegError as exc:
                raise self._output_error("joining segments into", exc) from None
            os.replace(partial, cfg.output)
        except BaseException as exc:
            if segment is not None:
                segment.abort()
            if writer is not None:
                writer.abort()
            partial.unlink(missing_ok=True)
            if not journal.progress.segments:
                journal.remove()
            elif isinstance(exc, KeyboardInterrupt):
                raise Interrupted(
                    f"interrupted; {journal.progress.frames} upscaled frames are kept in {str(journal.dir)!r}: "
                    "run the same command again to go on"
                ) from None
            raise
        finally:
            journal.close()
        journal.remove()
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

    def encode_parts(
        self, bar: _Progress, parts: list[Part], readers: list[VideoReader], encoders: list[SegmentEncoder]
    ) -> int:
        """Upscale the parts side by side, each into its encoder; returns the frames written."""
        job = ParallelJob(readers, parts, encoders)
        written = 0

        def encode(outputs: list) -> None:
            nonlocal written
            try:
                n = job.encode(outputs, self.reader.info.time_base)
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"writing the parts of {str(self.cfg.output)!r} failed: {exc}") from None
            written += n
            bar.update(n)

        self._pipeline(job.rows(), lambda row, stop: job.upscale(self.runner, row, stop), encode)
        self.damage = job.damage()
        self.runner.scene_cuts = sum(lane.state.scene_cuts for lane in job.lanes)
        return written

    def run_parallel(self, bar: _Progress, segments: int) -> int:
        """Upscale `segments` parts side by side, each into its own segment, then join them."""
        cfg, vi = self.cfg, self.reader.info
        parts = plan_parts(frame_timestamps(cfg.input, self.reader.stream.index), segments, cfg.warmup)
        work = cfg.output.with_name(f".{cfg.output.name}.vsr-parts")
        shutil.rmtree(work, ignore_errors=True)  # left by a killed run: nothing in it can be reused
        work.mkdir()
        readers = [self.reader]
        encoders: list[SegmentEncoder] = []
        writer: VideoWriter | None = None
        try:
            for _ in parts[1:]:
                readers.append(
                    VideoReader(
                        cfg.input,
                        stream_index=self.reader.stream.index,
                        on_error=cfg.on_error,
                        hwaccel=self.reader.hwaccel,
                    )
                )
                readers[-1].layout = self.reader.layout
            writer = self._writer(work / f"partial{cfg.output.suffix}")
            encoders = [
                self.segment_encoder(work / f"part-{n:03d}.vsrseg", writer) for n in range(len(parts))
            ]
            written = self.encode_parts(bar, parts, readers, encoders)
            try:
                segments_done = [(e.path, e.finish().headers) for e in encoders]
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"writing the parts in {str(work)!r} failed: {exc}") from None
            try:
                join_segments(writer, segments_done, written, vi, cfg.input)
            except av.FFmpegError as exc:
                raise self._output_error("joining segments into", exc) from None
            os.replace(work / f"partial{cfg.output.suffix}", cfg.output)
            return written
        except BaseException:
            for encoder in encoders:
                encoder.abort()
            if writer is not None:
                writer.abort()
            raise
        finally:
            for reader in readers[1:]:
                reader.close()
            shutil.rmtree(work, ignore_errors=True)


def upscale_part(
    cfg: UpscaleConfig,
    part: Part,
    segment: Path,
    loaded: Loaded,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[int, SegmentInfo]:
    """Upscale one part of cfg.input (warm-up frames first) into the segment file `segment`,
    written under a temporary name and renamed when complete; (frames, segment info)."""
    check_encoder(cfg.codec)
    tmp = segment.with_name(f".{segment.name}.partial")
    with open_reader(cfg) as reader:
        job = prepare_job(cfg, reader, loaded[0])
        with tempfile.TemporaryDirectory(prefix="vsr-format-") as scratch:
            # The encoder format and headers a writer of the whole output would use.
            writer = job._writer(Path(scratch) / f"format{cfg.output.suffix}")
            try:
                encoder = job.segment_encoder(tmp, writer)
            finally:
                writer.abort()
        try:
            frames = job.encode_parts(_Progress(tqdm(disable=True), on_frames), [part], [reader], [encoder])
            info = encoder.finish()
        except BaseException:
            encoder.abort()
            raise
    os.replace(tmp, segment)
    return frames, info


def join_parts(cfg: UpscaleConfig, segments: list[tuple[Path, str]], frames: int) -> None:
    """Remux finished parts' segments, in order, with cfg.input's side streams into cfg.output."""
    check_encoder(cfg.codec)
    with VideoReader(cfg.input, stream_index=cfg.stream, on_error=cfg.on_error) as reader:
        vi = reader.info
        settings = EncodeSettings(codec=cfg.codec, crf=cfg.crf, preset=cfg.preset, pix_fmt=cfg.pix_fmt)
        out_w, out_h = vi.width * cfg.scale, vi.height * cfg.scale
        settings = usable_encoder(settings, out_w, out_h)
        with atomic_output(cfg.output) as tmp:
            writer = VideoWriter(
                tmp,
                info=vi,
                width=out_w,
                height=out_h,
                settings=settings,
                side_streams=reader.side_streams,
                attachments=reader.attachments,
                display_name=str(cfg.output),
            )
            try:
                join_segments(writer, segments, frames, vi, cfg.input)
            except av.FFmpegError as exc:
                writer.abort()
                raise OutputError(
                    f"joining segments into {str(cfg.output)!r} failed: {exc.strerror}"
                ) from None
            except BaseException:
                writer.abort()
                raise
