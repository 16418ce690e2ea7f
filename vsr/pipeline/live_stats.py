"""Counters and latency percentiles of a live run, per source; bounded memory over hours."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LATENCY_WINDOW = 10_000  # percentiles cover the most recent frames; max covers the whole run
RECENT_S = 5.0  # "served_recent": the share of each level over this many seconds


@dataclass
class SourceStats:
    source: str
    frames_in: int = 0  # decoded from the source
    frames_dropped: int = 0  # replaced before the upscaler took them (stale)
    frames_upscaled: int = 0
    frames_out: int = 0  # written to every output
    frames_dropped_output: int = 0  # outputs slower than the upscaler
    served: list[int] = field(default_factory=list)  # frames served by each level of the fallback chain
    fallback_switches: int = 0
    reconnects: int = 0
    latency_max_ms: float = 0.0
    _latency: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False)
    _levels: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=4096), repr=False)

    def add_upscaled(self, level: int, now: float) -> None:
        """A frame upscaled by `level` (0 the model, 1.. the fallback chain) at `now` (monotonic)."""
        self.frames_upscaled += 1
        if level:
            self.served[level - 1] += 1
        self._levels.append((now, level))

    def recent_levels(self, now: float) -> list[int]:
        """Frames upscaled by each level (0 the model) over the last RECENT_S seconds."""
        counts = [0] * (len(self.served) + 1)
        for t, level in reversed(self._levels):
            if now - t > RECENT_S:
                break
            counts[level] += 1
        return counts

    def add_latency(self, ms: float) -> None:
        self._latency.append(ms)
        self.latency_max_ms = max(self.latency_max_ms, ms)

    def summary(self, elapsed: float, now: float | None = None) -> dict[str, Any]:
        latency = np.fromiter(self._latency, dtype=np.float64)
        p50, p95 = np.percentile(latency, [50, 95]).tolist() if len(latency) else (None, None)
        return {
            "source": self.source,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "frames_dropped": self.frames_dropped,
            "frames_dropped_output": self.frames_dropped_output,
            "frames_upscaled": self.frames_upscaled,
            "fallback_frames": sum(self.served),
            "fallback_served": self.served,
            "fallback_switches": self.fallback_switches,
            "reconnects": self.reconnects,
            "fps_in": self.frames_in / elapsed if elapsed > 0 else 0.0,
            "fps_out": self.frames_out / elapsed if elapsed > 0 else 0.0,
            "latency_ms": {"p50": p50, "p95": p95, "max": self.latency_max_ms if len(latency) else None},
            # frames per level (the model first, then the fallback chain) over the last RECENT_S s
            "served_recent": self.recent_levels(time.monotonic() if now is None else now),
        }


class LiveStats:
    """Shared by the capture, upscale and output threads; every update holds one lock."""

    def __init__(self, sources: list[str], model: str = "", fallback: list[str] | None = None) -> None:
        self.model = model
        self.fallback = fallback or []  # what serves a source while the model drops frames, in order
        self.lock = threading.Lock()
        self.sources = [SourceStats(s, served=[0] * len(self.fallback)) for s in sources]
        self.started = time.monotonic()

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        with self.lock:
            now = time.monotonic()
            elapsed = now - self.started
            return {
                "seconds": round(elapsed, 3),
                "model": self.model,
                "fallback": self.fallback,
                **extra,
                "sources": [s.summary(elapsed, now) for s in self.sources],
            }

    @staticmethod
    def line(snapshot: dict[str, Any]) -> str:
        parts = []
        for s in snapshot["sources"]:
            lat = s["latency_ms"]
            latency = (
                f"latency p50 {lat['p50']:.0f} p95 {lat['p95']:.0f} ms"
                if lat["p50"] is not None
                else "latency -"
            )
            served = ""
            if s["fallback_frames"] and s["frames_upscaled"]:
                shares = [
                    f"{name} {100 * n / s['frames_upscaled']:.0f}%"
                    for name, n in zip(snapshot["fallback"], s["fallback_served"], strict=True)
                    if n
                ]
                served = " by " + ", ".join(shares)
            parts.append(
                f"{s['source']}: in {s['frames_in']} ({s['fps_in']:.1f} fps) out {s['frames_out']} "
                f"({s['fps_out']:.1f} fps{served}) dropped {s['frames_dropped']} {latency} "
                f"reconnects {s['reconnects']}"
            )
        return f"{snapshot['seconds']:.0f}s " + " | ".join(parts)


def write_json(path: Path, snapshot: dict[str, Any]) -> None:
    """Replace `path` atomically, so a reader never sees half a file during a long run."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(snapshot, indent=2) + "\n")
    os.replace(tmp, path)
