"""`vsr live`: webcams, RTSP cameras and any FFmpeg stream upscaled in real time."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from vsr.commands.common import interrupt, one_line_errors
from vsr.commands.options import Backend, DeviceOpt, DtypeOpt, ModelOpt, OverwriteOpt, Scale


def live(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Webcam (0, /dev/video0), rtsp://, rtmp://, srt://, udp://, http(s):// URL, or a file; several are batched."
        ),
    ],
    output: Annotated[
        list[str] | None,
        typer.Option(
            "--output",
            "-o",
            help="File (.mkv/.ts) or rtsp://, rtmp://, udp://, srt:// URL; repeat for several; N=DEST picks source N.",
        ),
    ] = None,
    preview: Annotated[
        bool, typer.Option(help="Show a window (b: side by side with bicubic, q: quit).")
    ] = False,
    scale: Scale = 4,
    model: ModelOpt = None,
    fallback: Annotated[
        str,
        typer.Option(
            help="Models or bicubic, comma-separated, each serving a source while the one before drops "
            "frames; none: drop frames (auto: rt-x4,bicubic)."
        ),
    ] = "auto",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    backend: Backend = "auto",
    rtsp_transport: Annotated[str, typer.Option(help="RTSP input transport: tcp or udp.")] = "tcp",
    realtime: Annotated[
        bool, typer.Option(help="Play file sources at their own frame rate (drop frames when behind).")
    ] = False,
    reconnect: Annotated[
        bool | None,
        typer.Option(
            help="Reconnect lost sources with backoff (default: on for network sources and webcams)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a source to connect or send data.")
    ] = 5.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    max_frames: Annotated[
        int | None, typer.Option(help="Stop after upscaling this many frames per source.")
    ] = None,
    stats_json: Annotated[
        Path | None,
        typer.Option("--stats-json", help="Write frame counts, fps and latency here (also during the run)."),
    ] = None,
    stats_every: Annotated[float, typer.Option(help="Log stats every N seconds (0: never).")] = 10.0,
    codec: Annotated[str, typer.Option(help="Video encoder for outputs.")] = "libx264",
    crf: Annotated[int, typer.Option(help="Constant rate factor of the outputs.")] = 23,
    preset: Annotated[str, typer.Option(help="Encoder preset of the outputs.")] = "veryfast",
    overwrite: OverwriteOpt = False,
    web: Annotated[
        str | None,
        typer.Option(
            metavar="[HOST:]PORT",
            help="Serve a page to watch each source against bicubic, /stats.json and /metrics "
            "(Prometheus) on PORT; 127.0.0.1 unless HOST is given, where a token is required.",
        ),
    ] = None,
    web_token: Annotated[
        str | None,
        typer.Option(help="The token the page asks for off loopback (default: generated and printed once)."),
    ] = None,
) -> None:
    """Upscale live sources in real time: bounded latency, stale frames dropped, reconnects."""
    from vsr.io.live_outputs import LiveEncode
    from vsr.pipeline.live import LiveConfig, LiveSession, run_live
    from vsr.pipeline.live_stats import LiveStats
    from vsr.pipeline.web import WebConfig

    def ready(session: LiveSession) -> None:
        levels = ", ".join(
            r["level"] if r["runtime"] == "bicubic" else f"{r['level']} on {r['runtime']}"
            for r in session.runtimes()
        )
        typer.echo(f"vsr: serving {levels}", err=True)
        if session.web is not None:
            typer.echo(f"vsr: watch at {session.web.url}", err=True)

    signal.signal(signal.SIGTERM, interrupt)  # SIGTERM stops like Ctrl-C: outputs are finalised
    with one_line_errors("interrupted before the sources were open"):
        cfg = LiveConfig(
            sources=tuple(sources),
            outputs=tuple(output or ()),
            preview=preview,
            model=model,
            scale=scale,
            device=device,
            dtype=dtype,
            fallback=fallback,
            backend=backend,
            rtsp_transport=rtsp_transport,
            realtime=realtime,
            reconnect=reconnect,
            timeout=timeout,
            duration=duration,
            max_frames=max_frames,
            stats_json=stats_json,
            stats_every=stats_every,
            encode=LiveEncode(codec=codec, crf=crf, preset=preset),
            overwrite=overwrite,
            web=None if web is None else WebConfig.parse(web, web_token),
        )
        final = run_live(
            cfg,
            on_stats=lambda snap: typer.echo(f"vsr: {LiveStats.line(snap)}", err=True),
            on_ready=ready,
        )
    typer.echo(f"vsr: stopped ({final['stop_reason']}): {LiveStats.line(final)}", err=True)
