"""Live: capture -> upscale -> outputs in real time, with bounded latency and reconnection.

Threads: one capture thread per source (vsr.pipeline.capture: connection, reconnection, and the
one-frame mailbox that drops stale frames), the upscaler in the calling thread, one output thread
per source. Between upscaler and outputs sits a short queue that drops its oldest frame when full.
A source whose frames are being dropped is served by the next, cheaper level of the --fallback
chain (by default the shipped real-time model, then bicubic) for a while, by the rules of
vsr.pipeline.fallback.

With --backend auto (the default) on a CPU, every model level runs on the fastest correct runtime
for this CPU, model and frame size (vsr.engine.autotune: eager, OpenVINO, OpenVINO int8, ONNX
Runtime, whichever are installed). The measurement runs once, after the sources connect and before
the first frame is taken, and is cached, so later streams of that size start at once.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vsr.engine.autotune import MEASURE_FRAMES
from vsr.engine.build import build_runner, runner_for
from vsr.engine.runner import Runner, StreamState, resolve_device
from vsr.errors import OptionError
from vsr.io.live_outputs import (
    EncodedOutput,
    LiveEncode,
    PreviewOutput,
    check_file_output,
    describe_output,
)
from vsr.io.sources import parse_source
from vsr.models.zoo import live_fallback
from vsr.pipeline.capture import Capture, Captured
from vsr.pipeline.fallback import FallbackPolicy
from vsr.pipeline.live_stats import LiveStats, write_json
from vsr.pipeline.web import Publisher, WebConfig, WebServer

log = logging.getLogger(__name__)

OUTPUT_QUEUE = 4  # frames between the upscaler and a source's outputs
# What an unbounded stream tells `auto` of its length: enough to measure the runtimes, too few for
# torch.compile to be a candidate (its first compile, ~13 s on these CPUs, would hold every cold
# start up). A run bounded by --max-frames, --duration or the length of its files tells what it will
# take at most, so a short run uses a cached choice or eager, as a short `vsr upscale` does.
STREAM_FRAMES_HINT = MEASURE_FRAMES
REOPEN_AFTER_S = 1.0  # live sources are reconnected when choosing the runtimes took longer


@dataclass(frozen=True)
class LiveConfig:
    sources: tuple[str, ...]
    outputs: tuple[str, ...] = ()  # "DEST" or "N=DEST" (N: source index, from 0)
    preview: bool = False
    model: str | None = None
    scale: int = 4
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "auto"
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
    web: WebConfig | None = None  # --web: the page, /stats.json and /metrics (vsr.pipeline.web)

    def __post_init__(self) -> None:
        if not self.sources:
            raise OptionError("give at least one SOURCE")
        if self.duration is not None and self.duration <= 0:
            raise OptionError(f"--duration must be positive, got {self.duration}")
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError(f"--max-frames must be at least 1, got {self.max_frames}")
        if self.timeout <= 0:
            raise OptionError(f"--timeout must be positive, got {self.timeout}")
        if not self.outputs and not self.preview and self.stats_json is None and self.web is None:
            raise OptionError("nothing to do: give --output DEST, --preview, --web PORT or --stats-json PATH")


@dataclass
class _Result:
    image: np.ndarray  # upscaled (H, W, 3) uint8
    lr: np.ndarray
    captured: float
    media_time: float


class _SourceRun:
    """Everything about one source: its capture, outputs, fallback level and states."""

    def __init__(self, capture: Capture, levels: int = 1) -> None:
        self.index = capture.index
        self.source = capture.source
        self.capture = capture
        self.outputs: list[EncodedOutput] = []
        self.preview: PreviewOutput | None = None
        self.page = Publisher()  # what --web shows of this source
        self.queue: queue.Queue[_Result | None] = queue.Queue(OUTPUT_QUEUE)
        self.fallback = FallbackPolicy(levels)  # who serves: 0 the model, 1.. the fallback chain
        self.states = [StreamState() for _ in range(levels)]
        self.done = False  # reached --max-frames


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
    def __init__(
        self,
        cfg: LiveConfig,
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        on_ready: Callable[[LiveSession], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_stats = on_stats
        # called once when everything is open, before the first frame: runtimes(), web.url
        self.on_ready = on_ready
        self.web: WebServer | None = None
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
        # Built now so a bad model fails before anything connects; with `auto` on a CPU, rebuilt on
        # the measured runtime once the sources' size is known (open()).
        options = {"backend": cfg.backend, "device": cfg.device, "dtype": cfg.dtype}
        runner, model_name = build_runner(cfg.model, cfg.scale, **options)
        self.level_names = [model_name, *live_fallback(cfg.fallback, model_name, cfg.scale)]
        self.levels = [runner] + [build_runner(n, cfg.scale, **options)[0] for n in self.level_names[1:]]
        self.stats = LiveStats([s.text for s in sources], model=model_name, fallback=self.level_names[1:])
        self.runs = [
            _SourceRun(
                Capture(
                    i,
                    s,
                    self.ready,
                    timeout=cfg.timeout,
                    reconnect=cfg.reconnect if cfg.reconnect is not None else s.reconnectable,
                    stats=self.stats,
                ),
                len(self.levels),
            )
            for i, s in enumerate(sources)
        ]
        self.t0 = time.monotonic()
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        """Connect every source (each must answer within --timeout), then open the outputs."""
        for run in self.runs:
            run.capture.open()
        started = time.monotonic()
        self._choose_runtimes()
        if time.monotonic() - started > REOPEN_AFTER_S:  # a measurement ran: what queued is stale
            for run in self.runs:
                if run.source.kind != "file":
                    run.capture.reopen()
        created: list[Path] = []
        try:
            for run in self.runs:
                w, h = run.capture.size[0] * self.cfg.scale, run.capture.size[1] * self.cfg.scale
                for dest in self.routes[run.index]:
                    kind, fmt, options = describe_output(dest)
                    if kind == "file":
                        created.append(Path(dest))
                    run.outputs.append(
                        EncodedOutput(
                            dest,
                            fmt,
                            options,
                            width=w,
                            height=h,
                            rate=run.capture.rate,
                            encode=self.cfg.encode,
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

    def _choose_runtimes(self) -> None:
        """--backend auto on a CPU: each model level on its measured runtime at the largest
        source's size (a source of another size runs on the same runtime)."""
        if self.cfg.backend != "auto" or resolve_device(self.cfg.device).type != "cpu":
            return
        size = max((run.capture.size for run in self.runs), key=lambda wh: wh[0] * wh[1])
        lengths = [run.capture.length for run in self.runs]
        frames = STREAM_FRAMES_HINT if None in lengths else min(STREAM_FRAMES_HINT, max(lengths))
        if self.cfg.max_frames is not None:
            frames = min(frames, self.cfg.max_frames)
        if self.cfg.duration is not None:
            rate = max(float(run.capture.rate) for run in self.runs)
            frames = min(frames, int(self.cfg.duration * rate))
        for i, level in enumerate(self.levels):
            if not isinstance(level, Runner):
                continue  # bicubic
            self.levels[i] = runner_for(
                level.model,
                backend="auto",
                device=self.cfg.device,
                dtype=self.cfg.dtype,
                frames_hint=frames,
                size_hint=size,
            )
            chosen = self.levels[i]
            log.info("%s runs on %s: %s", self.level_names[i], chosen.backend, chosen.backend_reason)

    def runtimes(self) -> list[dict[str, str]]:
        """What each level runs on and why (bicubic: OpenCV)."""
        return [
            {
                "level": name,
                "runtime": getattr(level, "backend", "bicubic"),
                "reason": getattr(level, "backend_reason", "OpenCV resize"),
            }
            for name, level in zip(self.level_names, self.levels, strict=True)
        ]

    def _guarded(self, body: Callable[[], None], done: threading.Event | None) -> None:
        """Thread body: a failure is handed to the main thread and stops the run; `done` is set
        (and the upscaler woken) when the body returns, however it returns."""
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.errors.append(exc)
            self.stop.set()
        finally:
            if done is not None:
                done.set()
                self.ready.set()

    # -- outputs -------------------------------------------------------------------------------

    def _emit(self, run: _SourceRun) -> None:
        stats = self.stats.sources[run.index]
        while True:
            item = run.queue.get()
            if item is None:
                return
            for out in run.outputs:
                out.write(item.image, item.media_time)
            run.page.offer(item.image, item.lr)
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
        stats = self.stats.sources[run.index]
        handover = run.fallback.update(now, stats.frames_in, stats.frames_dropped)
        if handover is not None:
            with self.stats.lock:
                stats.fallback_switches += 1
            log.warning(
                "source %s: %s drops %d of %d frames; %s takes over for %.0f s",
                run.source.text,
                self.level_names[handover.behind],
                handover.dropped,
                handover.frames,
                self.level_names[handover.to],
                handover.hold,
            )
        return run.fallback.level

    def _upscale(self, taken: list[tuple[_SourceRun, Captured]]) -> None:
        now = time.monotonic()
        groups: dict[tuple[int, tuple[int, int]], list[tuple[_SourceRun, Captured]]] = {}
        for run, item in taken:
            groups.setdefault((self._level(run, now), item.image.shape[:2]), []).append((run, item))
        for (level, _), members in groups.items():
            frames = torch.from_numpy(np.stack([item.image for _, item in members]))
            states = [run.states[level] for run, _ in members]
            resets = [item.reset or run.fallback.resets[level] for run, item in members]
            out = self.levels[level].step_streams(frames, states, resets).numpy()
            for i, (run, item) in enumerate(members):
                run.fallback.resets[level] = False
                stats = self.stats.sources[run.index]
                with self.stats.lock:
                    stats.add_upscaled(level, now)
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
                (run, item)
                for run in self.runs
                if not run.done and (item := run.capture.mailbox.take()) is not None
            ]
            if taken:
                self._upscale(taken)
            elif all(run.capture.ended.is_set() or run.done for run in self.runs):
                self.stop_reason = "sources ended"
                return
        self.stop_reason = "stopped"

    def snapshot(self) -> dict[str, Any]:
        """The stats (what --stats-json holds), with the runtime of each level and the level that
        serves each source now."""
        runtimes = [getattr(level, "backend", "bicubic") for level in self.levels]
        snap = self.stats.snapshot(stop_reason=self.stop_reason, runtimes=runtimes)
        for run, source in zip(self.runs, snap["sources"], strict=True):
            source["serving"] = self.level_names[run.fallback.level]
        return snap

    def _report(self) -> None:
        snapshot = self.snapshot()
        if self.on_stats is not None:
            self.on_stats(snapshot)
        if self.cfg.stats_json is not None:
            write_json(self.cfg.stats_json, snapshot)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Open everything, run until a stop condition, finalise every output; the final stats."""
        try:
            self.open()
            if self.cfg.web is not None:
                self.web = WebServer(self.cfg.web, [run.page for run in self.runs], self.snapshot)
                self.web.start()
            if self.on_ready is not None:
                self.on_ready(self)
            self.t0 = time.monotonic()
            self.stats.started = self.t0
            for run in self.runs:
                capture = functools.partial(run.capture.run, self.stop, self.t0)
                for body, name, done in (
                    (capture, "capture", run.capture.ended),
                    (functools.partial(self._emit, run), "output", None),
                ):
                    thread = threading.Thread(
                        target=self._guarded,
                        args=(body, done),
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
        snapshot = self.snapshot()
        if self.cfg.stats_json is not None:
            write_json(self.cfg.stats_json, snapshot)
        return snapshot

    def _shutdown(self) -> None:
        self.stop.set()
        if self.web is not None:
            self.web.close()
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


def run_live(
    cfg: LiveConfig,
    on_stats: Callable[[dict[str, Any]], None] | None = None,
    on_ready: Callable[[LiveSession], None] | None = None,
) -> dict[str, Any]:
    """Run a live session to its end; returns the final stats (what --stats-json holds)."""
    return LiveSession(cfg, on_stats, on_ready).run()
