"""Live sources: what a SOURCE argument names, and how to open it with low latency.

A source is a webcam (`0`, `/dev/video0`), a network URL (RTSP, RTMP, SRT, UDP/RTP/TCP MPEG-TS,
HTTP(S)/HLS) or a file. Network sources are opened with a short probe (low start-up latency)
and with open/read timeouts, so a dead peer is noticed and reconnected instead of blocking forever.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import av

from vsr.errors import InputError, OptionError

SourceKind = Literal["webcam", "network", "file"]

NETWORK_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "rtp", "tcp", "http", "https"}
RTSP_TRANSPORTS = ("tcp", "udp")

# Probe at most ~0.5 MB / 1 s of a network stream before the first frame is returned (FFmpeg's
# defaults are 5 MB / 5 s). Not "-fflags nobuffer": it discards the packets read while probing,
# and with them the key frame a stream with long GOPs needs to start (measured: no frame at all
# from an RTSP server sending one key frame per 10 s).
LOW_LATENCY = {"probesize": "500000", "analyzeduration": "1000000"}
KEY_FRAME_WAIT = 30.0  # seconds a joined stream may take to send a key frame (or --timeout if longer)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    text: str  # as the user gave it
    url: str  # what FFmpeg opens
    kind: SourceKind
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    realtime: bool = True  # frames arrive at the source's pace (files only with --realtime)

    @property
    def reconnectable(self) -> bool:
        return self.kind in ("network", "webcam")


def _webcam(device: str) -> Source:
    if sys.platform.startswith("linux"):
        fmt = "v4l2"
    elif sys.platform == "darwin":
        fmt, device = "avfoundation", device.removeprefix("/dev/video")
    else:
        raise OptionError(f"webcam {device!r}: webcams are supported on Linux (V4L2) and macOS only")
    return Source(device, device, "webcam", fmt, {})


def parse_source(text: str, *, rtsp_transport: str = "tcp", realtime: bool = False) -> Source:
    """Classify a SOURCE argument and attach the demuxer options it needs."""
    if rtsp_transport not in RTSP_TRANSPORTS:
        raise OptionError(f"--rtsp-transport must be tcp or udp, got {rtsp_transport!r}")
    if text.isdigit():
        return _webcam(f"/dev/video{text}")
    if text.startswith("/dev/video"):
        return _webcam(text)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme:
        if scheme not in NETWORK_SCHEMES:
            raise OptionError(
                f"source {text!r}: unsupported scheme {scheme!r} (use one of {', '.join(sorted(NETWORK_SCHEMES))})"
            )
        options = dict(LOW_LATENCY)
        if scheme in ("rtsp", "rtsps"):
            options["rtsp_transport"] = rtsp_transport
        elif scheme == "udp":
            options["overrun_nonfatal"] = "1"  # a burst larger than the socket buffer is not fatal
        return Source(text, text, "network", None, options)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"source {text!r} is not a file, a webcam index or a URL FFmpeg can open")
    return Source(text, text, "file", None, {}, realtime=realtime)


def open_source(source: Source, *, timeout: float) -> av.container.InputContainer:
    """Open a source; `timeout` bounds the connection and every later read (seconds)."""
    return av.open(
        source.url,
        format=source.format,
        options=source.options,
        timeout=(timeout, timeout) if source.kind != "file" else None,
        metadata_errors="ignore",
    )


def decoded_frames(
    container: av.container.InputContainer, stream: av.VideoStream, source: Source, wait: float
) -> Iterator[av.VideoFrame]:
    """The stream's frames. A stream joined between key frames (UDP/RTP MPEG-TS, a running
    broadcast) first delivers packets that cannot be decoded without the key frame before them:
    those are skipped, with one line, until a key frame arrives, for at most `wait` seconds."""
    started, skipped = time.monotonic(), 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            if skipped < 0:  # after the first frame, damage is the caller's to handle
                raise
            if skipped == 0:
                log.warning("source %r: joined between key frames; waiting for the next one", source.text)
            skipped += 1
            if time.monotonic() - started > wait:
                raise InputError(
                    f"source {source.text!r}: no key frame within {wait:.0f} s (the stream was joined between "
                    "key frames, and they are further apart than that); raise --timeout to wait longer"
                ) from None
            continue
        for frame in frames:
            skipped = -1
            yield frame
