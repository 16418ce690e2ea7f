"""Live: capture -> upscale -> outputs in real time, with bounded latency and reconnection.

Threads: one capture thread per source, the upscaler in the calling thread, one output thread
per source. Between capture and upscaler sits a one-frame mailbox: a frame the upscaler has not
taken when the next one arrives is stale and is dropped (counted), so latency never grows with a
backlog. Between upscaler and outputs sits a short queue that drops its oldest frame when full.
A source whose frames are being dropped (a tenth over 1-2 s, or a third of the first 0.4 s after a
level took over) is served by the next, cheaper level of the --fallback chain (by default the
shipped real-time model, then bicubic) for a while, then the level above tries again with a fresh
state; each retry that falls behind again doubles the wait, so a model that cannot keep up on this
machine costs about half a second of drops a minute, not one every few seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from vsr.engine.backends import build_runner
from vsr.engine.runner import (
    StreamState,
)
from vsr.errors import InputError, OptionError
from vsr.io.live_outputs import (
    EncodedOutput,
    LiveEncode,
    PreviewOutput,
    check_file_output,
    describe_output,
)
from vsr.io.sources import KEY_FRAME_WAIT, Source, decoded_frames, open_source, parse_source
from vsr.models.zoo import live_fallback
from vsr.pipeline.live_stats import LiveStats, write_json

log = logging.getLogger(__name__)

OUTPUT_QUEUE = 4  # frames between the upscaler and a source's outputs
GAP_RESET_S = 1.0  # a pause this long between frames starts a new sequence (state reset)
BACKOFF_S = (0.5, 8.0)  # first and longest wait between reconnection attempts
FALLBACK_WINDOW_S = 2.0  # drops are judged over this window
FALLBACK_DROP_RATIO = 0.1  # more dropped than this in the window -> the next level
# ... or sooner, judged from when the level took over: after (seconds, at least frames) more than
# (ratio) dropped, so a retry that cannot keep up costs fewer drops; once the level has served a
# whole window this is looser than the rule above, so a short stall in steady state does not trip it
FALLBACK_FAST = (0.4, 8, 1 / 3)
FALLBACK_HOLD_S = (3.0, 60.0)  # how long a level serves before the one above tries again: first, longest
FALLBACK_RETRY_S = 10.0  # a level falling behind this soon after its retry doubles the next hold


@dataclass(frozen=True)
class LiveConfig:
    sources: tuple[str, ...]
    outputs: tuple[str, ...] = ()  # "DEST" or "N=DEST" (N: source index, from 0)
    preview: bool = False
    model: str | None = None
    scale: int = 4
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "eager"
    # models, weights paths or "bicubic", comma-separated; "none"; "auto" (zoo.live_fallback)
    fallback: str = "auto"
    rtsp_transport: str = "tcp"
    realtime: bool = False
    reconnect: bool | None = None  # None: on for network sources and webcams
    timeout: float = 5.0
    duration: float | None = None
    max_frames: int | None = None
    stats_json: Path | None = None
    stats_every: float = 10.0
    encode: LiveEncode = field(default_factory=LiveEncode)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.sources:
            raise OptionError("give at least one SOURCE")
        if self.duration is not None and self.duration <= 0:
            raise OptionError(f"--duration must be positive, got {self.duration}")
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError(f"--max-frames must be at least 1, got {self.max_frames}")
        if self.timeout <= 0:
            raise OptionError(f"--timeout must be positive, got {self.timeout}")
        if not self.outputs and not self.preview and self.stats_json is None:
            raise OptionError("nothing to do: give --output DEST, --preview or --stats-json PATH")


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


@dataclass
class _Result:
    image: np.ndarray  # upscaled (H, W, 3) uint8
    lr: np.ndarray
    captured: float
    media_time: float


class _SourceRun:
    """Everything about one source: its connection, mailbox, outputs and states."""

    def __init__(self, index: int, source: Source, ready: threading.Event, levels: int = 1) -> None:
        self.index = index
        self.source = source
        self.mailbox = Mailbox(drop=source.realtime, ready=ready)
        self.container: av.container.InputContainer | None = None
        self.frames: Iterator[av.VideoFrame] = iter(())
        self.first: av.VideoFrame | None = None
        self.size = (0, 0)
        self.rate = Fraction(30)
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.outputs: list[EncodedOutput] = []
        self.preview: PreviewOutput | None = None
        self.queue: queue.Queue[_Result | None] = queue.Queue(OUTPUT_QUEUE)
        self.level = 0  # who serves: 0 the model, 1.. the fallback chain
        self.states = [StreamState() for _ in range(levels)]
        self.resets = [False] * levels  # a level taking over again starts from a fresh state
        self.hold_until = 0.0  # while level > 0: when the level above tries again
        self.holds = [FALLBACK_HOLD_S[0]] * levels  # the hold of each level (backs off)
        self.retried_at: list[float | None] = [None] * levels  # when each level last took over again
        self.done = False  # reached --max-frames
        self.drop_history: deque[tuple[float, int, int]] = deque()


def _assign_outputs(outputs: tuple[str, ...], sources: int) -> list[list[str]]:
    """Map --output values to sources: "N=DEST" explicitly, else in order (one output per source),
    or all to the only source."""
    per_source: list[list[str]] = [[] for _ in range(sources)]
    plain = []
    for value in outputs:
        head, sep, rest = value.partition("=")
        if sep and head.isdigit() and "://" not in head:
            if int(head) >= sources:
                raise OptionError(f"--output {value!r}: there is no source {head} (sources count from 0)")
            per_source[int(head)].append(rest)
        else:
            plain.append(value)
    if plain:
        if sources == 1:
            per_source[0].extend(plain)
        elif len(plain) == sources:
            for i, dest in enumerate(plain):
                per_source[i].append(dest)
        else:
            raise OptionError(
                f"{len(plain)} outputs for {sources} sources: give one per source, or prefix each with N= "
                "(e.g. --output 1=cam1.mkv)"
            )
    return per_source


class LiveSession:
    def __init__(self, cfg: LiveConfig, on_stats: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.cfg = cfg
        self.on_stats = on_stats
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.errors: list[BaseException] = []
        self.stop_reason = "running"
        sources = [
            parse_source(s, rtsp_transport=cfg.rtsp_transport, realtime=cfg.realtime) for s in cfg.sources
        ]
        self.routes = _assign_outputs(cfg.outputs, len(sources))
        for dests in self.routes:
            for dest in dests:
                kind, _, _ = describe_output(dest)
                if kind == "file":
                    check_file_output(dest, cfg.overwrite)
        options = {"backend": cfg.backend, "device": cfg.device, "dtype": cfg.dtype}
        runner, model_name = build_runner(cfg.model, cfg.scale, **options)
        self.level_names = [model_name, *live_fallback(cfg.fallback, model_name, cfg.scale)]
        self.levels = [runner] + [build_runner(n, cfg.scale, **options)[0] for n in self.level_names[1:]]
        self.runs = [_SourceRun(i, s, self.ready, len(self.levels)) for i, s in enumerate(sources)]
        self.stats = LiveStats([s.text for s in sources], model=model_name, fallback=self.level_names[1:])
        self.t0 = time.monotonic()
        self._threads: list[threading.Thread] = []

    # -- sources -------------------------------------------------------------------------------

    def _connect(self, run: _SourceRun) -> av.VideoFrame:
        """Open the source and decode its first frame; raises av.FFmpegError/OSError/InputError."""
        container = open_source(run.source, timeout=self.cfg.timeout)
        try:
            if not container.streams.video:
                raise InputError(f"source {run.source.text!r} has no video stream")
            stream = container.streams.video[0]
            # Frame threading holds frames back (one per thread); slices do not add latency.
            stream.thread_type = "AUTO" if run.source.kind == "file" and not run.source.realtime else "SLICE"
            frames = decoded_frames(container, stream, run.source, max(KEY_FRAME_WAIT, self.cfg.timeout))
            first = next(frames, None)
            if first is None:
                raise InputError(f"source {run.source.text!r} ended before its first frame")
        except BaseException:
            container.close()
            raise
        run.container, run.frames = container, frames
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and 1 <= float(rate) <= 240:
            run.rate = Fraction(rate)
        return first

    def open(self) -> None:
        """Connect every source (each must answer within --timeout), then open the outputs."""
        for run in self.runs:
            try:
                run.first = self._connect(run)
            except av.error.ProtocolNotFoundError:
                scheme = run.source.url.split("://")[0]
                raise InputError(
                    f"cannot open source {run.source.text!r}: PyAV's FFmpeg was built without {scheme}"
                ) from None
            except (av.FFmpegError, OSError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise InputError(f"cannot open source {run.source.text!r}: {reason}") from None
            run.size = (run.first.width, run.first.height)
        created: list[Path] = []
        try:
            for run in self.runs:
                w, h = run.size[0] * self.cfg.scale, run.size[1] * self.cfg.scale
                for dest in self.routes[run.index]:
                    kind, fmt, options = describe_output(dest)
                    if kind == "file":
                        created.append(Path(dest))
                    run.outputs.append(
                        EncodedOutput(
                            dest, fmt, options, width=w, height=h, rate=run.rate, encode=self.cfg.encode
                        )
                    )
                if self.cfg.preview:
                    run.preview = PreviewOutput(f"vsr {run.source.text}", self.stop)
        except BaseException:  # one output cannot open: leave no empty files behind
            for run in self.runs:
                for out in run.outputs:
                    out.abort()
                run.outputs.clear()
            for path in created:
                path.unlink(missing_ok=True)
            raise

    def _reconnect_enabled(self, run: _SourceRun) -> bool:
        return self.cfg.reconnect if self.cfg.reconnect is not None else run.source.reconnectable

    def _guarded(
        self, body: Callable[[_SourceRun], None], run: _SourceRun, done: threading.Event | None
    ) -> None:
        """Thread body: a failure is handed to the main thread and stops the run; `done` is set
        (and the upscaler woken) when the body returns, however it returns."""
        try:
            body(run)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.errors.append(exc)
            self.stop.set()
        finally:
            if done is not None:
                done.set()
                self.ready.set()

    def _capture(self, run: _SourceRun) -> None:
        stats = self.stats.sources[run.index]
        frame: av.VideoFrame | None = run.first
        reset, last = True, None
        pace: tuple[float, float] | None = None  # (first pts in s, wall time) for --realtime files
        backoff = BACKOFF_S[0]
        w, h = run.size
        while not self.stop.is_set():
            try:
                while frame is not None and not self.stop.is_set():
                    now = time.monotonic()
                    pts = (
                        float(frame.pts * frame.time_base)
                        if frame.pts is not None and frame.time_base
                        else None
                    )
                    if run.source.kind == "file" and run.source.realtime and pts is not None:
                        if pace is None:
                            pace = (pts, now)
                        wait = pace[1] + (pts - pace[0]) - now
                        if wait > 0:
                            self.stop.wait(wait)
                            now = time.monotonic()
                    if run.source.realtime and last is not None and now - last > GAP_RESET_S:
                        reset = True  # the source stalled: what the state holds is stale
                    media = now - self.t0 if run.source.realtime or pts is None else pts
                    image = frame.to_ndarray(format="rgb24", width=w, height=h)
                    dropped = run.mailbox.put(Captured(image, now, media, reset), self.stop)
                    with self.stats.lock:
                        stats.frames_in += 1
                        stats.frames_dropped += dropped
                    reset, last, backoff = False, now, BACKOFF_S[0]
                    frame = next(run.frames, None)
                reason = "end of stream"
            except av.FFmpegError as exc:
                reason = exc.strerror or str(exc)
            finally:
                if run.container is not None:
                    run.container.close()
                    run.container = None
            if self.stop.is_set():
                break
            if not self._reconnect_enabled(run):
                log.info("source %s: %s", run.source.text, reason)
                break
            log.warning("source %s lost (%s); reconnecting", run.source.text, reason)
            frame = None
            while frame is None and not self.stop.is_set():
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])
                try:
                    frame = self._connect(run)
                except (av.FFmpegError, OSError, InputError) as exc:
                    log.info("source %s: reconnection failed (%s)", run.source.text, exc)
            if frame is not None:
                with self.stats.lock:
                    stats.reconnects += 1
                log.warning("source %s reconnected", run.source.text)
                reset, pace = True, None

    # -- outputs -------------------------------------------------------------------------------

    def _emit(self, run: _SourceRun) -> None:
        stats = self.stats.sources[run.index]
        while True:
            item = run.queue.get()
            if item is None:
                return
            for out in run.outputs:
                out.write(item.image, item.media_time)
            if run.preview is not None:
                bicubic = None
                if run.preview.side_by_side:
                    size = (item.image.shape[1], item.image.shape[0])
                    bicubic = cv2.resize(item.lr, size, interpolation=cv2.INTER_CUBIC)
                run.preview.show(item.image, bicubic)
            latency = (time.monotonic() - item.captured) * 1000
            with self.stats.lock:
                stats.frames_out += 1
                stats.add_latency(latency)

    def _deliver(self, run: _SourceRun, result: _Result) -> None:
        try:
            run.queue.put_nowait(result)
        except queue.Full:
            try:
                run.queue.get_nowait()  # the outputs are behind: the oldest frame goes
                with self.stats.lock:
                    self.stats.sources[run.index].frames_dropped_output += 1
            except queue.Empty:
                pass
            run.queue.put_nowait(result)

    # -- upscaling -----------------------------------------------------------------------------

    def _level(self, run: _SourceRun, now: float) -> int:
        """Who serves `run`'s next frame: 0 the model, 1.. the fallback chain."""
        if len(self.levels) == 1:
            return 0
        stats = self.stats.sources[run.index]
        history = run.drop_history
        history.append((now, stats.frames_in, stats.frames_dropped))
        # The baseline is the newest entry at least a window old: with a model slower than the
        # window per frame, that is the previous frame's (never the current one's own entry).
        while len(history) > 1 and now - history[1][0] >= FALLBACK_WINDOW_S:
            history.popleft()
        t, frames_in, dropped = history[0]
        window_in, window_dropped = stats.frames_in - frames_in, stats.frames_dropped - dropped
        fast_s, fast_frames, fast_ratio = FALLBACK_FAST
        behind = (
            now - t >= FALLBACK_WINDOW_S / 2
            and window_in >= 5
            and window_dropped > FALLBACK_DROP_RATIO * window_in
        ) or (now - t >= fast_s and window_in >= fast_frames and window_dropped > fast_ratio * window_in)
        level = run.level
        if behind and level + 1 < len(self.levels):  # this level cannot keep up: the next one serves
            up = run.retried_at[level]
            first, longest = FALLBACK_HOLD_S
            new = level + 1
            run.holds[new] = (
                min(2 * run.holds[new], longest) if up is not None and now - up < FALLBACK_RETRY_S else first
            )
            run.level, run.hold_until, run.resets[new] = new, now + run.holds[new], True
            history.clear()
            with self.stats.lock:
                stats.fallback_switches += 1
            log.warning(
                "source %s: %s drops %d of %d frames; %s takes over for %.0f s",
                run.source.text,
                self.level_names[level],
                window_dropped,
                window_in,
                self.level_names[new],
                run.holds[new],
            )
        elif level and now >= run.hold_until:  # the hold is over: the level above tries again
            run.level = up = level - 1
            run.resets[up], run.retried_at[up] = True, now
            run.hold_until = now + run.holds[up] if up else 0.0
            history.clear()
        return run.level

    def _upscale(self, taken: list[tuple[_SourceRun, Captured]]) -> None:
        now = time.monotonic()
        groups: dict[tuple[int, tuple[int, int]], list[tuple[_SourceRun, Captured]]] = {}
        for run, item in taken:
            groups.setdefault((self._level(run, now), item.image.shape[:2]), []).append((run, item))
        for (level, _), members in groups.items():
            frames = torch.from_numpy(np.stack([item.image for _, item in members]))
            states = [run.states[level] for run, _ in members]
            resets = [item.reset or run.resets[level] for run, item in members]
            out = self.levels[level].step_streams(frames, states, resets).numpy()
            for i, (run, item) in enumerate(members):
                run.resets[level] = False
                stats = self.stats.sources[run.index]
                with self.stats.lock:
                    stats.frames_upscaled += 1
                    if level:
                        stats.served[level - 1] += 1
                    run.done = (
                        self.cfg.max_frames is not None and stats.frames_upscaled >= self.cfg.max_frames
                    )
                self._deliver(run, _Result(out[i], item.image, item.captured, item.media_time))

    def _loop(self) -> None:
        next_stats = time.monotonic() + self.cfg.stats_every if self.cfg.stats_every > 0 else float("inf")
        while not self.stop.is_set():
            now = time.monotonic()
            if self.cfg.duration is not None and now - self.t0 >= self.cfg.duration:
                self.stop_reason = "duration"
                return
            if all(run.done for run in self.runs):
                self.stop_reason = "max-frames"
                return
            if now >= next_stats:
                self._report()
                next_stats = now + self.cfg.stats_every
            self.ready.wait(0.05)
            self.ready.clear()
            taken = [
                (run, item) for run in self.runs if not run.done and (item := run.mailbox.take()) is not None
            ]
            if taken:
                self._upscale(taken)
            elif all(run.ended.is_set() or run.done for run in self.runs):
                self.stop_reason = "sources ended"
                return
        self.stop_reason = "stopped"

    def _report(self) -> None:
        snapshot = self.stats.snapshot(stop_reason=self.stop_reason)
        if self.on_stats is not None:
            self.on_stats(snapshot)
        if self.cfg.stats_json is not None:
            write_json(self.cfg.stats_json, snapshot)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Open everything, run until a stop condition, finalise every output; the final stats."""
        try:
            self.open()
            self.t0 = time.monotonic()
            self.stats.started = self.t0
            for run in self.runs:
                for body, name, done in ((self._capture, "capture", run.ended), (self._emit, "output", None)):
                    thread = threading.Thread(
                        target=self._guarded,
                        args=(body, run, done),
                        name=f"vsr-{name}-{run.index}",
                        daemon=True,
                    )
                    self._threads.append(thread)
                    thread.start()
            try:
                self._loop()
            except KeyboardInterrupt:
                self.stop_reason = "interrupted"
        finally:
            self._shutdown()
        if self.errors:
            raise self.errors[0]
        snapshot = self.stats.snapshot(stop_reason=self.stop_reason)
        if self.cfg.stats_json is not None:
            write_json(self.cfg.stats_json, snapshot)
        return snapshot

    def _shutdown(self) -> None:
        self.stop.set()
        for run in self.runs:
            try:
                run.queue.put(None, timeout=5)
            except queue.Full:
                pass
        for thread in self._threads:
            if thread.name.startswith("vsr-output"):
                thread.join()
        for run in self.runs:
            for out in run.outputs:
                out.close()
            if run.preview is not None:
                run.preview.close()
        # A capture thread blocked in a network read wakes up within --timeout; it is a daemon,
        # so the process does not wait for it.
        for thread in self._threads:
            if thread.name.startswith("vsr-capture"):
                thread.join(timeout=self.cfg.timeout + 1)


def run_live(cfg: LiveConfig, on_stats: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run a live session to its end; returns the final stats (what --stats-json holds)."""
    return LiveSession(cfg, on_stats).run()
