"""A file cut into parts: `--segments N` upscales N parts side by side in one batch (each part
starting early to warm its recurrent state), and the Ray path upscales one part per actor
(`upscale_part`) and joins the parts' segments into the output (`join_parts`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
from tqdm import tqdm

from vsr.config import UpscaleConfig
from vsr.errors import OutputError
from vsr.io.reader import VideoReader
from vsr.io.segments import SegmentEncoder, SegmentInfo
from vsr.io.writer import EncodeSettings, VideoWriter, atomic_output, check_encoder, usable_encoder
from vsr.pipeline.job import FileJob, Loaded, Progress, open_reader, prepare_job
from vsr.pipeline.parallel import ParallelJob, Part, frame_timestamps, plan_parts
from vsr.pipeline.resume import join_segments


def encode_parts(
    job: FileJob, bar: Progress, parts: list[Part], readers: list[VideoReader], encoders: list[SegmentEncoder]
) -> int:
    """Upscale the parts side by side, each into its encoder; returns the frames written."""
    parallel = ParallelJob(readers, parts, encoders)
    written = 0

    def encode(outputs: list) -> None:
        nonlocal written
        try:
            n = parallel.encode(outputs, job.reader.info.time_base)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"writing the parts of {str(job.cfg.output)!r} failed: {exc}") from None
        written += n
        bar.update(n)

    job.pipeline(parallel.rows(), lambda row, stop: parallel.upscale(job.runner, row, stop), encode)
    job.damage = parallel.damage()
    job.runner.scene_cuts = sum(lane.state.scene_cuts for lane in parallel.lanes)
    return written


def run_parallel(job: FileJob, bar: Progress, segments: int) -> int:
    """Upscale `segments` parts side by side, each into its own segment, then join them."""
    cfg, vi = job.cfg, job.reader.info
    parts = plan_parts(frame_timestamps(cfg.input, job.reader.stream.index), segments, cfg.warmup)
    work = cfg.output.with_name(f".{cfg.output.name}.vsr-parts")
    shutil.rmtree(work, ignore_errors=True)  # left by a killed run: nothing in it can be reused
    work.mkdir()
    readers = [job.reader]
    encoders: list[SegmentEncoder] = []
    writer: VideoWriter | None = None
    try:
        for _ in parts[1:]:
            readers.append(
                VideoReader(
                    cfg.input,
                    stream_index=job.reader.stream.index,
                    on_error=cfg.on_error,
                    hwaccel=job.reader.hwaccel,
                )
            )
            readers[-1].layout = job.reader.layout
        writer = job.writer(work / f"partial{cfg.output.suffix}")
        encoders = [job.segment_encoder(work / f"part-{n:03d}.vsrseg", writer) for n in range(len(parts))]
        written = encode_parts(job, bar, parts, readers, encoders)
        try:
            segments_done = [(e.path, e.finish().headers) for e in encoders]
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"writing the parts in {str(work)!r} failed: {exc}") from None
        try:
            join_segments(writer, segments_done, written, vi, cfg.input)
        except av.FFmpegError as exc:
            raise job.output_error("joining segments into", exc) from None
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
            writer = job.writer(Path(scratch) / f"format{cfg.output.suffix}")
            try:
                encoder = job.segment_encoder(tmp, writer)
            finally:
                writer.abort()
        try:
            frames = encode_parts(job, Progress(tqdm(disable=True), on_frames), [part], [reader], [encoder])
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
