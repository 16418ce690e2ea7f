"""One live source: its connection, the capture thread's loop, and the one-frame mailbox between it
and the upscaler.

A frame the upscaler has not taken when the next one arrives is stale and is dropped (counted), so
latency never grows with a backlog. A lost source reconnects with backoff; a gap in a real-time
source's frames, or a reconnection, marks the next frame as the start of a new sequence (the
recurrent state is reset).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from vsr.errors import InputError
from vsr.io.sources import KEY_FRAME_WAIT, Source, decoded_frames, open_source
from vsr.pipeline.live_stats import LiveStats

log = logging.getLogger(__name__)

GAP_RESET_S = 1.0  # a pause this long between frames starts a new sequence (state reset)
BACKOFF_S = (0.5, 8.0)  # first and longest wait between reconnection attempts


@dataclass
class Captured:
    image: np.ndarray  # (h, w, 3) uint8 RGB
    captured: float  # time.monotonic() when decoded
    media_time: float  # seconds since the run started (real time), or the file's own clock
    reset: bool  # first frame after a (re)connection or a gap


class Mailbox:
    """The newest frame of one source. `drop`: a new frame replaces an untaken one (counted);
    otherwise put() waits for the upscaler (files read as fast as the model goes)."""

    def __init__(self, drop: bool, ready: threading.Event) -> None:
        self.drop = drop
        self.ready = ready
        self._cond = threading.Condition()
        self._item: Captured | None = None

    def put(self, item: Captured, stop: threading.Event) -> bool:
        """Store `item`; True when it replaced a frame that was never taken (a drop)."""
        with self._cond:
            while not self.drop and self._item is not None:
                if stop.is_set():
                    return False  # shutting down: the frame is discarded, not dropped
                self._cond.wait(0.1)
            dropped = self._item is not None
            self._item = item
        self.ready.set()
        return dropped

    def take(self) -> Captured | None:
        with self._cond:
            item, self._item = self._item, None
            self._cond.notify_all()
            return item


class Capture:
    """A source's connection and capture loop; frames go to `mailbox`, counters to `stats`."""

    def __init__(
        self,
        index: int,
        source: Source,
        ready: threading.Event,
        *,
        timeout: float,
        reconnect: bool,
        stats: LiveStats,
    ) -> None:
        self.index = index
        self.source = source
        self.timeout = timeout
        self.reconnect = reconnect
        self.stats = stats
        self.mailbox = Mailbox(drop=source.realtime, ready=ready)
        self.container: av.container.InputContainer | None = None
        self.frames: Iterator[av.VideoFrame] = iter(())
        self.first: av.VideoFrame | None = None
        self.size = (0, 0)
        self.rate = Fraction(30)
        self.length: int | None = None  # frames in a file source, where its header says
        self.ended = threading.Event()

    def connect(self) -> av.VideoFrame:
        """Open the source and decode its first frame; raises av.FFmpegError/OSError/InputError."""
        container = open_source(self.source, timeout=self.timeout)
        try:
            if not container.streams.video:
                raise InputError(f"source {self.source.text!r} has no video stream")
            stream = container.streams.video[0]
            # Frame threading holds frames back (one per thread); slices do not add latency.
            stream.thread_type = (
                "AUTO" if self.source.kind == "file" and not self.source.realtime else "SLICE"
            )
            frames = decoded_frames(container, stream, self.source, max(KEY_FRAME_WAIT, self.timeout))
            first = next(frames, None)
            if first is None:
                raise InputError(f"source {self.source.text!r} ended before its first frame")
        except BaseException:
            container.close()
            raise
        self.container, self.frames = container, frames
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and 1 <= float(rate) <= 240:
            self.rate = Fraction(rate)
        if self.source.kind == "file" and stream.frames > 0:
            self.length = stream.frames
        return first

    def open(self) -> None:
        """The first connection, which must answer within the timeout: one clear error if not."""
        try:
            self.first = self.connect()
        except av.error.ProtocolNotFoundError:
            scheme = self.source.url.split("://")[0]
            raise InputError(
                f"cannot open source {self.source.text!r}: PyAV's FFmpeg was built without {scheme}"
            ) from None
        except (av.FFmpegError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InputError(f"cannot open source {self.source.text!r}: {reason}") from None
        self.size = (self.first.width, self.first.height)

    def reopen(self) -> None:
        """Connect again, dropping what the first connection has queued since (a live source
        that waited for the runtime measurement would otherwise start seconds behind)."""
        if self.container is not None:
            self.container.close()
            self.container = None
        self.open()

    def run(self, stop: threading.Event, t0: float) -> None:
        """The capture thread: decode into the mailbox until `stop`, the end, or a loss that is
        not reconnected. `t0` is the run's start on the monotonic clock (real-time media time)."""
        stats = self.stats.sources[self.index]
        frame: av.VideoFrame | None = self.first
        reset, last = True, None
        pace: tuple[float, float] | None = None  # (first pts in s, wall time) for --realtime files
        backoff = BACKOFF_S[0]
        w, h = self.size
        source = self.source
        while not stop.is_set():
            try:
                while frame is not None and not stop.is_set():
                    now = time.monotonic()
                    pts = (
                        float(frame.pts * frame.time_base)
                        if frame.pts is not None and frame.time_base
                        else None
                    )
                    if source.kind == "file" and source.realtime and pts is not None:
                        if pace is None:
                            pace = (pts, now)
                        wait = pace[1] + (pts - pace[0]) - now
                        if wait > 0:
                            stop.wait(wait)
                            now = time.monotonic()
                    if source.realtime and last is not None and now - last > GAP_RESET_S:
                        reset = True  # the source stalled: what the state holds is stale
                    media = now - t0 if source.realtime or pts is None else pts
                    image = frame.to_ndarray(format="rgb24", width=w, height=h)
                    dropped = self.mailbox.put(Captured(image, now, media, reset), stop)
                    with self.stats.lock:
                        stats.frames_in += 1
                        stats.frames_dropped += dropped
                    reset, last, backoff = False, now, BACKOFF_S[0]
                    frame = next(self.frames, None)
                reason = "end of stream"
            except av.FFmpegError as exc:
                reason = exc.strerror or str(exc)
            finally:
                if self.container is not None:
                    self.container.close()
                    self.container = None
            if stop.is_set():
                break
            if not self.reconnect:
                log.info("source %s: %s", source.text, reason)
                break
            log.warning("source %s lost (%s); reconnecting", source.text, reason)
            frame = None
            while frame is None and not stop.is_set():
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])
                try:
                    frame = self.connect()
                except (av.FFmpegError, OSError, InputError) as exc:
                    log.info("source %s: reconnection failed (%s)", source.text, exc)
            if frame is not None:
                with self.stats.lock:
                    stats.reconnects += 1
                log.warning("source %s reconnected", source.text)
                reset, pace = True, None
