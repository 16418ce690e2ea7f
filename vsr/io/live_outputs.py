"""Live outputs: files that stay readable if the process is killed, network pushes, a preview window.

Every output takes upscaled RGB frames with their capture time (seconds since the run started) and
encodes them with wall-clock timestamps in milliseconds, so timestamps are monotonic and real time
whatever the source's own clock does (or whether it has one).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import av
import cv2
import numpy as np

from vsr.errors import OptionError, OutputError
from vsr.io.writer import check_encoder

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
# Files must survive a kill: Matroska (clusters of at most 1 s, flushed per packet) or MPEG-TS.
FILE_FORMATS = {".mkv": "matroska", ".ts": "mpegts", ".m2ts": "mpegts"}
FILE_OPTIONS = {
    "matroska": {"cluster_time_limit": "1000", "flush_packets": "1"},
    "mpegts": {"flush_packets": "1"},
}
NETWORK_FORMATS = {
    "rtsp": "rtsp",
    "rtmp": "flv",
    "rtmps": "flv",
    "udp": "mpegts",
    "srt": "mpegts",
    "tcp": "mpegts",
}


@dataclass(frozen=True)
class LiveEncode:
    codec: str = "libx264"
    crf: int = 23
    preset: str = "veryfast"
    gop_seconds: float = 2.0  # a key frame this often, so players can join a network stream


def _listens(url: str) -> bool:
    """Whether FFmpeg serves this URL (waits for peers) rather than connecting to a peer."""
    query = {k.lower(): v.lower() for k, v in parse_qsl(urlsplit(url).query)}
    return query.get("listen", "0") not in ("0", "") or query.get("mode") in ("listener", "rendezvous")


def check_listen_address(url: str) -> None:
    """A serving output binds only where the user says: an empty host would mean every interface."""
    if _listens(url) and not urlsplit(url).hostname:
        raise OptionError(
            f"--output {url!r} listens but names no address; give one (127.0.0.1 for this machine only, "
            "0.0.0.0 to accept peers on every interface)"
        )


def describe_output(dest: str) -> tuple[str, str, dict[str, str]]:
    """(kind, FFmpeg format, muxer options) of an --output value; raises OptionError if unusable."""
    if dest == "preview":
        return "preview", "", {}
    if "://" in dest:
        scheme = urlsplit(dest).scheme.lower()
        if scheme not in NETWORK_FORMATS:
            raise OptionError(
                f"--output {dest!r}: unsupported scheme {scheme!r} (use one of {', '.join(NETWORK_FORMATS)})"
            )
        check_listen_address(dest)
        options = {"rtsp_transport": "tcp"} if scheme == "rtsp" else {}
        return "network", NETWORK_FORMATS[scheme], options
    suffix = Path(dest).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise OptionError(
            f"--output {dest!r}: live files are .mkv or .ts, which stay readable if vsr is killed "
            "(an .mp4 is unreadable until finished)"
        )
    fmt = FILE_FORMATS[suffix]
    return "file", fmt, dict(FILE_OPTIONS[fmt])


def check_file_output(dest: str, overwrite: bool) -> None:
    path = Path(dest)
    if path.is_dir():
        raise OutputError(f"output {dest!r} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {str(parent)!r} does not exist")
    if path.exists() and not overwrite:
        raise OutputError(f"output {dest!r} exists; pass -y/--overwrite to replace it")


class EncodedOutput:
    """A file or network output: libx264 (or --codec) with real-time timestamps."""

    def __init__(
        self,
        dest: str,
        fmt: str,
        options: dict[str, str],
        *,
        width: int,
        height: int,
        rate: Fraction,
        encode: LiveEncode,
    ) -> None:
        self.dest = dest
        codec = check_encoder(encode.codec)
        self.container: av.container.OutputContainer | None = None
        try:
            self.container = av.open(dest, "w", format=fmt, options=options, timeout=10.0)
            stream = self.container.add_stream(codec.name, rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = MS
            cc = stream.codec_context
            cc.time_base = MS
            cc.gop_size = max(1, round(float(rate) * encode.gop_seconds))  # upper bound; see write()
            if codec.name == "libx264":
                cc.options = {"preset": encode.preset, "tune": "zerolatency", "crf": str(encode.crf)}
            cc.thread_type = "AUTO"
            # Open the encoder, connect and write the header now, so an unreachable server or a
            # protocol this FFmpeg lacks fails before the run starts, not at the first frame.
            self.container.start_encoding()
        except BaseException as exc:
            if self.container is not None:
                self.container.close()
            if isinstance(exc, av.error.ProtocolNotFoundError):
                scheme = urlsplit(dest).scheme
                raise OutputError(
                    f"cannot open output {dest!r}: PyAV's FFmpeg was built without {scheme}"
                ) from None
            if isinstance(exc, av.FFmpegError):
                raise OutputError(f"cannot open output {dest!r}: {exc.strerror}") from None
            raise
        self.stream = stream
        self.gop_ms = round(encode.gop_seconds * 1000)
        self._last_pts = -1
        self._last_key = -self.gop_ms

    def write(self, image: np.ndarray, seconds: float) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        pts = max(int(seconds * 1000), self._last_pts + 1)  # strictly increasing
        frame.pts, frame.time_base = pts, MS
        self._last_pts = pts
        # Key frames by time, not frame count: with frames dropped, a GOP of N frames could span
        # many seconds, and a receiver that joins (or an ffmpeg -c copy) waits for a key frame.
        if pts - self._last_key >= self.gop_ms:
            frame.pict_type = av.video.frame.PictureType.I
            self._last_key = pts
        try:
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        except av.FFmpegError as exc:
            raise OutputError(f"writing output {self.dest!r} failed: {exc.strerror}") from None

    def abort(self) -> None:
        try:
            self.container.close()
        except av.FFmpegError:
            pass

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        except av.FFmpegError as exc:
            log.warning("finishing output %s failed: %s", self.dest, exc.strerror)
        finally:
            try:
                self.container.close()
            except av.FFmpegError as exc:
                log.warning("closing output %s failed: %s", self.dest, exc.strerror)


class PreviewOutput:
    """An OpenCV window; `b` toggles bicubic | model side by side, `q` or Esc stops the run."""

    def __init__(self, title: str, stop: threading.Event) -> None:
        self.title = title
        self.stop = stop
        self.side_by_side = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise OptionError(
                "--preview needs OpenCV with GUI support (pip install opencv-python; "
                "the opencv-python-headless build has no windows)"
            ) from None

    def show(self, image: np.ndarray, bicubic: np.ndarray | None) -> None:
        if self.side_by_side and bicubic is not None:
            image = np.concatenate([bicubic, image], axis=1)
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key == ord("b"):
            self.side_by_side = not self.side_by_side
        elif key in (ord("q"), 27):
            self.stop.set()

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass
