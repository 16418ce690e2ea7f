"""The reader: demux and decode a video with PyAV into FrameBatches.

Audio, subtitle and other non-video packets are handed, untouched, to a callback so the writer
can copy them into the output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.codec.hwaccel import HWAccel

from vsr.errors import BackendUnavailableError, InputError
from vsr.frames import FrameBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the writer needs to reproduce the input's geometry, timing and colour."""

    width: int
    height: int
    frames: int  # estimated frame count; 0 when unknown
    rate: Fraction | None
    time_base: Fraction
    pix_fmt: str
    bit_depth: int
    rotation: int  # counter-clockwise degrees, as VideoFrame.rotation reports
    sample_aspect_ratio: Fraction | None
    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int
    codec: str


ON_ERROR = ("fail", "skip")


def _frame_bit_depth(frame: av.VideoFrame) -> int:
    return max(c.bits for c in frame.format.components)


def _clock(seconds: float) -> str:
    minutes, s = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes // 60):02d}:{int(minutes % 60):02d}:{s:06.3f}"


@dataclass
class Damage:
    """What --on-error skip let through: concealed frames, rejected packets, dropped timestamps."""

    concealed: int = 0  # frames FFmpeg's decoder marked corrupt (damaged data, concealed)
    rejected: int = 0  # packets the decoder refused outright
    first_at: float | None = None  # seconds into the video of the first damage
    duplicate_pts: int = 0  # frames dropped for a timestamp not after the previous one (as ffmpeg)
    truncated: str | None = None  # how much shorter the video is than its header says

    def __bool__(self) -> bool:
        return bool(self.concealed or self.rejected or self.truncated)

    def summary(self) -> str:
        parts = []
        if self.concealed:
            parts.append(f"{self.concealed} damaged frame(s) concealed by the decoder")
        if self.rejected:
            parts.append(f"{self.rejected} undecodable packet(s) skipped")
        where = f", the first at {_clock(self.first_at)}" if self.first_at is not None else ""
        text = "; ".join(parts) + where
        if self.truncated:
            text = f"{text}; {self.truncated}" if text else self.truncated
        return text


HWACCEL_THREADS = 2  # decoder threads with a hardware decoder (see VideoReader._open_stream)


def decoded_on_device(context: av.codec.context.CodecContext, hwaccel: str) -> bool:
    """Whether the decoder delivers hardware frames (pixel format "cuda" for NVDEC): call after
    the first frame; a software fallback leaves a software pixel format in the context."""
    device_type = hwaccel.partition(":")[0]
    fmt = context.format
    return bool(context.is_hwaccel) and fmt is not None and fmt.name == device_type


class VideoReader:
    """Opens `path`, checks it holds decodable video, and yields its frames in batches."""

    def __init__(
        self,
        path: str | Path,
        *,
        stream_index: int | None = None,
        on_error: str = "fail",
        hwaccel: str | None = None,
        hwaccel_required: bool = False,
    ) -> None:
        """`hwaccel`: decode on a device through FFmpeg (e.g. "cuda": NVDEC; frames are downloaded
        to system memory). Where it cannot start, decoding falls back to the CPU, or with
        `hwaccel_required` the reader refuses; FFmpeg itself falls back per stream for codecs the
        device does not decode."""
        self.path = str(path)
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.on_error = on_error
        self.damage = Damage()
        self.layout = "rgb"  # what batches() yields; "yuv420p" where the runner converts on its device
        if not Path(self.path).exists():
            raise InputError(f"input {self.path!r} does not exist")
        if Path(self.path).is_dir():
            raise InputError(f"input {self.path!r} is a directory, not a video file")
        self.hwaccel = hwaccel
        self.container = self._open(hwaccel, hwaccel_required)
        try:
            self._open_stream(stream_index)
        except BaseException:
            self.container.close()
            raise

    def _open(self, hwaccel: str | None, required: bool) -> av.container.InputContainer:
        if hwaccel is not None:
            device_type, _, index = hwaccel.partition(":")
            accel = HWAccel(device_type=device_type, device=index or None, allow_software_fallback=True)
            try:
                return av.open(self.path, metadata_errors="ignore", hwaccel=accel)
            except av.FFmpegError as exc:
                reason = exc.strerror
            container = self._open(None, False)  # a bad file fails here with its own message
            if required:
                container.close()
                raise BackendUnavailableError(
                    f"--hwaccel {hwaccel}: FFmpeg cannot open a {device_type} decoding device here ({reason})"
                )
            log.info("hardware decoding (%s) unavailable (%s); decoding on the CPU", hwaccel, reason)
            self.hwaccel = None
            return container
        try:
            return av.open(self.path, metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise InputError(f"input {self.path!r} is not a video FFmpeg can read ({exc.strerror})") from None

    def _open_stream(self, stream_index: int | None) -> None:
        fmt = self.container.format.name
        if fmt.endswith("_pipe") or fmt == "image2":  # png_pipe, jpeg_pipe, webp_pipe...: one picture
            raise InputError(f"input {self.path!r} is a still image ({fmt}), not a video")
        videos = [s for s in self.container.streams.video if s.codec_context is not None]
        if not videos:
            raise InputError(f"input {self.path!r} has no video stream")
        if stream_index is None:
            self.stream = videos[0]
        else:
            matching = [s for s in videos if s.index == stream_index]
            if not matching:
                raise InputError(f"input {self.path!r} has no video stream with index {stream_index}")
            self.stream = matching[0]
        self.stream.thread_type = "AUTO"
        if self.hwaccel is not None:
            # A hardware decoder needs one surface per frame thread: FFmpeg's automatic count on a
            # many-core machine asks NVDEC for more than its 32 and silently decodes in software.
            self.stream.codec_context.thread_count = HWACCEL_THREADS
        self.side_streams = [
            s
            for s in self.container.streams
            if s.index != self.stream.index and s.type in ("audio", "subtitle")
        ]
        self.attachments = [s for s in self.container.streams if s.type == "attachment"]  # fonts...
        carried = {self.stream.index, *(s.index for s in self.side_streams + self.attachments)}
        self.uncarried = [s for s in self.container.streams if s.index not in carried]  # data, other video
        self._packets = self.container.demux()
        self._pending: list[av.VideoFrame] = []
        self._flushed = False
        self._last_pts: int | None = None  # of the last frame _shown_frames() yielded
        self._side: Callable[[av.Packet], None] | None = None
        self._side_backlog: list[av.Packet] = []  # side packets demuxed before batches() starts
        first = self._next_frame()
        if first is None:
            raise InputError(f"input {self.path!r} has a video stream but no decodable frame")
        self._pending.insert(0, first)  # frames decoded with it stay behind it
        if self.hwaccel is not None and not decoded_on_device(self.stream.codec_context, self.hwaccel):
            # FFmpeg fell back to its software decoder (a codec or profile the device lacks):
            # say so, and do not report hardware decoding.
            log.warning(
                "--hwaccel %s: FFmpeg decodes this %s stream in software",
                self.hwaccel,
                self.stream.codec_context.name,
            )
            self.hwaccel = None
        self.info = self._describe(first)

    def _describe(self, frame: av.VideoFrame) -> VideoInfo:
        s = self.stream
        rate = s.average_rate or s.guessed_rate
        frames = s.frames
        if not frames and s.duration and rate:
            frames = int(round(float(s.duration * s.time_base * rate)))
        elif not frames and self.container.duration and rate:
            frames = int(round(self.container.duration / av.time_base * float(rate)))
        return VideoInfo(
            width=frame.width,
            height=frame.height,
            frames=int(frames or 0),
            rate=Fraction(rate) if rate else None,
            time_base=Fraction(s.time_base) if s.time_base else Fraction(1, 90000),
            pix_fmt=frame.format.name,
            bit_depth=_frame_bit_depth(frame),
            rotation=int(frame.rotation or 0),
            sample_aspect_ratio=Fraction(s.sample_aspect_ratio) if s.sample_aspect_ratio else None,
            colorspace=self._tag(frame.colorspace, s.codec_context.colorspace, unspecified=2),
            color_range=self._tag(frame.color_range, s.codec_context.color_range, unspecified=0),
            color_primaries=int(frame.color_primaries),
            color_trc=int(frame.color_trc),
            codec=s.codec_context.name,
        )

    def _tag(self, frame_value: int, stream_value: int, unspecified: int) -> int:
        """A frame's colour tag; from a hardware decoder, whose downloaded frames may lack the
        tags, the stream's where the frame has none."""
        if self.hwaccel is not None and int(frame_value) == unspecified:
            return int(stream_value)
        return int(frame_value)

    def _damaged(self, seconds: float | None, what: str) -> None:
        """--on-error: fail on the first damage, or count it and go on."""
        at = f" at {_clock(seconds)}" if seconds is not None else ""
        if self.on_error == "fail":
            raise InputError(
                f"input {self.path!r} is corrupt{at}: {what} (--on-error skip conceals and counts such frames)"
            )
        if self.damage.first_at is None and seconds is not None:
            self.damage.first_at = seconds

    def _seconds(self, pts: int | None) -> float | None:
        if pts is None:
            return None
        return float((pts - (self.stream.start_time or 0)) * self.stream.time_base)

    def _next_frame(self) -> av.VideoFrame | None:
        """The next decoded frame of the chosen stream; side packets go to the callback."""
        while True:
            if self._pending:
                frame = self._pending.pop(0)
                if frame.is_corrupt:  # FFmpeg concealed damaged data in it
                    self._damaged(self._seconds(frame.pts), "the decoder concealed damaged data in a frame")
                    self.damage.concealed += 1
                return frame
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.FFmpegError as exc:
                if self.on_error == "fail" or self._flushed:
                    raise InputError(
                        f"input {self.path!r} is corrupt or truncated ({exc.strerror})"
                    ) from None
                self.damage.truncated = f"reading stopped early ({exc.strerror})"
                self._flushed = True  # skip: keep the frames the decoder still holds, then stop
                self._pending.extend(self.stream.codec_context.decode(None))
                if not self._pending:
                    return None
                continue
            if packet.stream.index != self.stream.index:
                if packet.size and packet.stream in self.side_streams:
                    if self._side is None:
                        self._side_backlog.append(packet)
                    else:
                        self._side(packet)
                continue
            try:
                self._pending.extend(packet.decode())
            except av.FFmpegError as exc:
                self._damaged(self._seconds(packet.pts), f"cannot decode video ({exc.strerror})")
                self.damage.rejected += 1

    def batches(
        self,
        size: int,
        side: Callable[[av.Packet], None] | None = None,
        *,
        skip: int = 0,
        boundary: int = 0,
    ) -> Iterator[FrameBatch]:
        """Decode the whole stream into FrameBatches of up to `size` frames, in display order.

        `skip` frames are decoded and dropped first (resuming a job); with `boundary`, no batch
        crosses a multiple of `boundary` frames (counted from the first frame, skipped ones
        included). At the end the video is checked against the length its header states.
        """
        if side is not None:
            for packet in self._side_backlog:
                side(packet)
        self._side_backlog.clear()
        self._side = side if side is not None else (lambda packet: None)
        arrays: list[np.ndarray] = []
        pts: list[int] = []
        for index, (p, frame) in enumerate(self._shown_frames(), start=1):  # skipped ones included
            if index <= skip:
                continue
            arrays.append(self._array(frame))
            pts.append(p)
            if len(arrays) == size or (boundary and index % boundary == 0):
                yield self._batch(arrays, pts)
                arrays, pts = [], []
        if arrays:
            yield self._batch(arrays, pts)
        self.check_length()

    def frames_from(
        self, start: int | None, *, count_from: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(pts, array in `layout`) of every frame from pts `start` on (None: the first), seeking there.

        For segment-parallel upscaling: several readers of one file at different places. Side
        packets are dropped (the join copies them from the input). Repeated timestamps are
        counted only from pts `count_from` on (warm-up frames that another reader outputs are not
        counted twice).
        """
        self._side = lambda packet: None
        self._side_backlog.clear()
        if start is not None:
            self._seek(start)
        for p, frame in self._shown_frames(count_from):
            if start is None or p >= start:
                yield p, self._array(frame)

    def _seek(self, pts: int) -> None:
        """Go to the key frame at or before `pts`; to the top if the demuxer lands after it."""
        self.container.seek(pts, stream=self.stream, backward=True)
        self._packets = self.container.demux()
        self._pending.clear()
        first = self._next_frame()
        if first is not None and first.pts is not None and first.pts > pts:  # overshot (MPEG-TS...)
            self.container.seek(0, backward=True)
            self._packets = self.container.demux()
            self._pending.clear()
        elif first is not None:
            self._pending.insert(0, first)

    def _shown_frames(self, count_from: int | None = None) -> Iterator[tuple[int, av.VideoFrame]]:
        """(pts, frame) in display order. A frame whose timestamp is not after the previous one
        cannot be shown: it is dropped and counted (from pts `count_from` on), as ffmpeg does.
        Frames without a pts get the previous one's plus a frame; `_last_pts` keeps the last."""
        self._last_pts = None
        while (frame := self._next_frame()) is not None:
            last = self._last_pts
            p = int(frame.pts) if frame.pts is not None else (0 if last is None else last + self._pts_step)
            if last is not None and p <= last:
                if count_from is None or p >= count_from:
                    self.damage.duplicate_pts += 1
                continue
            self._last_pts = p
            yield p, frame

    def _array(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as RGB (swscale converts it with its own colour tags), or as yuv420p planes."""
        # A stream whose frame size changes midway is scaled to its first size, as ffmpeg does.
        if self.layout == "yuv420p":
            fmt = "yuv420p"
        else:
            fmt = "rgb24" if self.info.bit_depth <= 8 else "rgb48le"
        return frame.to_ndarray(format=fmt, width=self.info.width, height=self.info.height)

    def _batch(self, arrays: list[np.ndarray], pts: list[int]) -> FrameBatch:
        data = torch.from_numpy(np.stack(arrays))
        return FrameBatch(data, tuple(pts), self.info.time_base, layout=self.layout)

    @property
    def _pts_step(self) -> int:
        """pts increment of one frame (for frames without a pts, and the last frame's duration)."""
        rate, time_base = self.info.rate, self.info.time_base
        return max(1, round(1 / (rate * time_base))) if rate else 1

    def check_length(self) -> None:
        """After the last frame: fail (or count) when the video ends well before the end its
        header states (truncation)."""
        stated = self._stated_end()
        if stated is None or self._last_pts is None:
            return
        frame = float(self._pts_step * self.info.time_base)
        got = float(self._last_pts * self.stream.time_base) + frame
        if stated - got > max(0.5, 2 * frame):
            ends = f"the video ends at {_clock(got)} but its header says {_clock(stated)}"
            if self.on_error == "fail":
                raise InputError(
                    f"input {self.path!r} is truncated: {ends} (--on-error skip upscales what is there)"
                )
            self.damage.truncated = f"truncated: {ends}"

    def _stated_end(self) -> float | None:
        """When the container says the video stream ends (its timestamps, in seconds), if it says."""
        s = self.stream
        if s.duration:  # MP4 index, etc.: a duration from the stream's start
            return float(((s.start_time or 0) + s.duration) * s.time_base)
        # Matroska: FFmpeg's muxer tags each stream with its end timestamp.
        tag = next((v for k, v in s.metadata.items() if k.upper() == "DURATION"), None)
        if tag:
            try:
                h, m, sec = tag.split(":")
                return int(h) * 3600 + int(m) * 60 + float(sec)
            except ValueError:
                return None
        return None

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
