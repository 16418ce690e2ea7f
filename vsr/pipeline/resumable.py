"""`--resume`: a file upscaled into segments kept in a journal beside the output (vsr.pipeline.resume),
then joined into the output; an interrupted run continues from the last finished segment."""

from __future__ import annotations

import os
import threading
from typing import Any

import av

from vsr.engine.runner import BicubicRunner
from vsr.errors import Interrupted, OutputError
from vsr.frames import FrameBatch
from vsr.io.segments import SegmentEncoder
from vsr.io.writer import VideoWriter
from vsr.models.generator import State
from vsr.models.zoo import BICUBIC, resolve_weights
from vsr.pipeline.job import FileJob, Progress
from vsr.pipeline.resume import Journal, file_digest, input_identity, join_segments
from vsr.version import __version__


def journal_key(job: FileJob, model_name: str, segment_frames: int) -> dict[str, Any]:
    """Everything the output depends on: a journal made under another key is not reused."""
    cfg = job.cfg
    if model_name == BICUBIC:
        weights = BICUBIC
    else:
        weights = file_digest(resolve_weights(cfg.model, cfg.scale, cfg.trust_pickle)[1])
    dtype = "float32" if isinstance(job.runner, BicubicRunner) else str(job.runner.settings.dtype)
    return {
        "vsr": __version__,
        "input": input_identity(cfg.input),
        "stream": job.reader.stream.index,
        "weights": weights,
        "scale": cfg.scale,
        "backend": cfg.backend,
        "device": str(job.runner.device),
        "dtype": dtype,
        "codec": cfg.codec,
        "crf": cfg.crf,
        "preset": cfg.preset,
        "pix_fmt": cfg.pix_fmt,
        "on_error": cfg.on_error,
        "segment_frames": segment_frames,
        "container": cfg.output.suffix.lower(),
        "colour": job.reader.layout,
    }


def run_resumable(job: FileJob, bar: Progress, model_name: str) -> int:
    """Encode segments into the journal, then join them into the output (see vsr.pipeline.resume)."""
    cfg, runner, vi = job.cfg, job.runner, job.reader.info
    segment_frames = max(1, round(cfg.checkpoint_every * float(vi.rate or 25)))
    journal = Journal(cfg.output, journal_key(job, model_name, segment_frames))
    progress = journal.open()
    runner.restore(journal.state())
    runner.scene_cuts = progress.scene_cuts
    job.resumed = progress.frames
    bar.update(progress.frames)
    partial = journal.dir / f"partial{cfg.output.suffix}"
    writer: VideoWriter | None = None
    segment: SegmentEncoder | None = None

    def new_segment() -> SegmentEncoder:
        assert writer is not None
        return job.segment_encoder(journal.next_segment(), writer)

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
        writer = job.writer(partial)  # opened first: a bad extension or encoder fails before the work
        segment = new_segment()
        batches = job.reader.batches(job.batch, skip=progress.frames, boundary=segment_frames)
        job.pipeline(batches, upscale, encode)
        last, segment = segment, None
        assert last is not None
        if last.frames:
            try:
                info = last.finish()
            except (av.FFmpegError, OSError) as exc:
                last.abort()
                raise OutputError(f"writing the resume journal {str(journal.dir)!r} failed: {exc}") from None
            journal.commit(last.path, info, None, runner.scene_cuts)
        else:
            last.abort()
        try:
            join_segments(writer, journal.segments(), journal.progress.frames, vi, cfg.input)
        except av.FFmpegError as exc:
            raise job.output_error("joining segments into", exc) from None
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
