"""The reader: demux and decode a video with PyAV into FrameBatches.

Audio, subtitle and other non-video packets are handed, untouched, to a callback so the writer
can copy them into the output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vsr.errors import InputError
from vsr.frames import FrameBatch


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


def _frame_bit_depth(frame: av.VideoFrame) -> int:
    return max(c.bits for c in frame.format.components)


class VideoReader:
    """Opens `path`, checks it holds decodable video, and yields its frames in batches."""

    def __init__(self, path: str | Path, *, stream_index: int | None = None) -> None:
        self.path = str(path)
        if not Path(self.path).exists():
            raise InputError(f"input {self.path!r} does not exist")
        if Path(self.path).is_dir():
            raise InputError(f"input {self.path!r} is a directory, not a video file")
        try:
            self.container = av.open(self.path, metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise InputError(f"input {self.path!r} is not a video FFmpeg can read ({exc.strerror})") from None
        try:
            self._open_stream(stream_index)
        except BaseException:
            self.container.close()
            raise

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
        self.side_streams = [
            s
            for s in self.container.streams
            if s.index != self.stream.index and s.type in ("audio", "subtitle")
        ]
        self._packets = self.container.demux()
        self._pending: list[av.VideoFrame] = []
        self._side: Callable[[av.Packet], None] | None = None
        self._side_backlog: list[av.Packet] = []  # side packets demuxed before batches() starts
        first = self._next_frame()
        if first is None:
            raise InputError(f"input {self.path!r} has a video stream but no decodable frame")
        self._pending.insert(0, first)  # frames decoded with it stay behind it
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
            colorspace=int(frame.colorspace),
            color_range=int(frame.color_range),
            color_primaries=int(frame.color_primaries),
            color_trc=int(frame.color_trc),
            codec=s.codec_context.name,
        )

    def _next_frame(self) -> av.VideoFrame | None:
        """The next decoded frame of the chosen stream; side packets go to the callback."""
        while True:
            if self._pending:
                return self._pending.pop(0)
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.FFmpegError as exc:
                raise InputError(f"input {self.path!r} is corrupt or truncated ({exc.strerror})") from None
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
                raise InputError(
                    f"input {self.path!r} is corrupt: cannot decode video ({exc.strerror})"
                ) from None

    def batches(self, size: int, side: Callable[[av.Packet], None] | None = None) -> Iterator[FrameBatch]:
        """Decode the whole stream into FrameBatches of up to `size` frames, in display order."""
        if side is not None:
            for packet in self._side_backlog:
                side(packet)
        self._side_backlog.clear()
        self._side = side
        fmt = "rgb24" if self.info.bit_depth <= 8 else "rgb48le"
        time_base = self.info.time_base
        step = (
            max(1, round(1 / (self.info.rate * time_base))) if self.info.rate else 1
        )  # pts increment when a frame has none
        arrays: list[np.ndarray] = []
        pts: list[int] = []
        last_pts: int | None = None
        while (frame := self._next_frame()) is not None:
            p = frame.pts if frame.pts is not None else (0 if last_pts is None else last_pts + step)
            last_pts = p
            # A stream whose frame size changes midway is scaled to its first size, as ffmpeg does.
            arrays.append(frame.to_ndarray(format=fmt, width=self.info.width, height=self.info.height))
            pts.append(int(p))
            if len(arrays) == size:
                yield FrameBatch(torch.from_numpy(np.stack(arrays)), tuple(pts), time_base)
                arrays, pts = [], []
        if arrays:
            yield FrameBatch(torch.from_numpy(np.stack(arrays)), tuple(pts), time_base)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
