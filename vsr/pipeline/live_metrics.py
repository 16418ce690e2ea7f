"""A live run's figures in the Prometheus text exposition format (version 0.0.4), for the
/metrics endpoint of `vsr live --web`: one `source` label per stream, one `level` label per level
of the fallback chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Source = dict[str, Any]  # one source of LiveStats' snapshot

COUNTERS = [
    ("vsr_live_frames_in_total", "Frames decoded from the source.", "frames_in"),
    ("vsr_live_frames_dropped_total", "Frames replaced before the upscaler took them.", "frames_dropped"),
    ("vsr_live_frames_upscaled_total", "Frames upscaled, by any level.", "frames_upscaled"),
    ("vsr_live_frames_out_total", "Frames written to every output.", "frames_out"),
    (
        "vsr_live_frames_dropped_output_total",
        "Frames dropped because the outputs were behind.",
        "frames_dropped_output",
    ),
    ("vsr_live_reconnects_total", "Reconnections of the source.", "reconnects"),
    (
        "vsr_live_fallback_switches_total",
        "Times a level fell behind and the next took over.",
        "fallback_switches",
    ),
]


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, source: Source, value: object, **labels: str) -> str:
    pairs = ",".join(f'{key}="{_label(v)}"' for key, v in {"source": source["source"], **labels}.items())
    return f"{name}{{{pairs}}} {value}"


def _family(name: str, help_text: str, kind: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def prometheus(snapshot: dict[str, Any], viewers: list[int]) -> str:
    """The run's figures (LiveStats' snapshot, and the page's viewers of each source) as text."""
    names = [snapshot["model"], *snapshot["fallback"]]
    sources: list[Source] = snapshot["sources"]
    lines: list[str] = []
    for name, help_text, key in COUNTERS:
        lines += _family(name, help_text, "counter")
        lines += [_sample(name, s, s[key]) for s in sources]
    name = "vsr_live_frames_served_total"
    lines += _family(name, "Frames upscaled by each level of the chain.", "counter")
    for s in sources:
        served = [s["frames_upscaled"] - s["fallback_frames"], *s["fallback_served"]]
        lines += [_sample(name, s, n, level=level) for level, n in zip(names, served, strict=True)]
    gauges: list[tuple[str, str, Callable[[Source], object]]] = [
        ("vsr_live_fps_in", "Frames decoded a second, over the run.", lambda s: s["fps_in"]),
        ("vsr_live_fps_out", "Frames sent a second, over the run.", lambda s: s["fps_out"]),
        (
            "vsr_live_level",
            "The level serving the source now (0: the model).",
            lambda s: names.index(s["serving"]),
        ),
    ]
    for name, help_text, value in gauges:
        lines += _family(name, help_text, "gauge")
        lines += [_sample(name, s, value(s)) for s in sources]
    name = "vsr_live_latency_seconds"
    lines += _family(name, "Capture to output, over the most recent frames.", "summary")
    for s in sources:
        for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
            ms = s["latency_ms"][key]
            lines.append(_sample(name, s, "NaN" if ms is None else f"{ms / 1000:.6f}", quantile=quantile))
    name = "vsr_live_web_viewers"
    lines += _family(name, "Browsers watching the source's picture.", "gauge")
    lines += [_sample(name, s, n) for s, n in zip(sources, viewers, strict=True)]
    return "\n".join(lines) + "\n"
