"""Segments of a resumable job: the encoded video of a run of frames, kept on disk as packets.

Each segment is encoded by a fresh encoder, so it starts with a key frame and depends on no other
segment; its packets are stored exactly as the encoder made them (timestamps in the input's time
base, key-frame flag, payload) in a small file of records. Joining the segments is then a remux,
with no re-encoding and no rounding of timestamps. No container format keeps both pts and dts of
every packet exactly for every time base (Matroska and NUT store no dts, MP4 and MPEG-TS rescale),
hence this format.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.frames import FrameBatch
from vsr.io.reader import VideoInfo
from vsr.io.writer import EncodeSettings, configure_encoder, encoder_frames, open_encoder

MAGIC = b"VSRSEG1\n"
_RECORD = struct.Struct("<qqqBI")  # pts, dts, duration, key frame, payload size
_NONE = -(2**63)  # AV_NOPTS_VALUE: no timestamp


@dataclass(frozen=True)
class SegmentInfo:
    frames: int
    packets: int
    headers: str  # SHA-256 of the encoder's global headers (extradata); equal across segments


def headers_digest(cc: av.CodecContext) -> str:
    return hashlib.sha256(bytes(cc.extradata or b"")).hexdigest()


class SegmentEncoder:
    """Encodes one segment's frames with a new encoder, appending packets to `path` as they come."""

    def __init__(
        self,
        path: Path,
        *,
        info: VideoInfo,
        width: int,
        height: int,
        settings: EncodeSettings,
        pix_fmt: str,
        global_header: bool,
    ) -> None:
        self.path, self.info, self.pix_fmt = path, info, pix_fmt
        cc = av.CodecContext.create(settings.codec, "w")
        configure_encoder(cc, info, width, height, settings, pix_fmt)
        if global_header:  # what the output container asks of its encoder (MP4, Matroska)
            cc.flags |= av.codec.context.Flags.global_header
        open_encoder(cc, settings.codec)
        self.cc = cc
        self.frames = 0
        self.packets = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed by finish() or abort()
        self._file.write(MAGIC)

    def write(self, batch: FrameBatch) -> None:
        for frame in encoder_frames(batch, self.pix_fmt, self.info):
            self._store(self.cc.encode(frame))
            self.frames += 1

    def _store(self, packets: list[av.Packet]) -> None:
        for p in packets:
            data = bytes(p)
            self._file.write(
                _RECORD.pack(
                    _NONE if p.pts is None else p.pts,
                    _NONE if p.dts is None else p.dts,
                    p.duration or 0,
                    int(p.is_keyframe),
                    len(data),
                )
            )
            self._file.write(data)
            self.packets += 1

    def finish(self) -> SegmentInfo:
        """Flush the encoder and make the file durable; the caller then commits it."""
        self._store(self.cc.encode(None))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return SegmentInfo(frames=self.frames, packets=self.packets, headers=headers_digest(self.cc))

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def read_segment(path: Path, time_base: Fraction) -> Iterator[av.Packet]:
    """The packets of a segment file, with their timestamps in `time_base`."""
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path} is not a vsr segment")
        while header := f.read(_RECORD.size):
            if len(header) < _RECORD.size:
                raise ValueError(f"{path} ends inside a packet header")
            pts, dts, duration, key, size = _RECORD.unpack(header)
            data = f.read(size)
            if len(data) < size:
                raise ValueError(f"{path} ends inside a packet")
            packet = av.Packet(data)
            packet.time_base = time_base
            packet.pts = None if pts == _NONE else pts
            packet.dts = None if dts == _NONE else dts
            packet.duration = duration
            packet.is_keyframe = bool(key)
            yield packet
