"""Segment-parallel upscaling of one file (`vsr upscale --segments B`).

The video is cut into B parts of equal frame count, upscaled side by side: every model call takes
the next frame of each part as one batch (`Runner.step_streams`, one recurrent state per part).
Each part but the first starts `--warmup K` frames early, upscaled and thrown away, so its state is
warm at its first output frame (benchmarks/segment_batching.py measures what K buys). Each part is
encoded by its own encoder into a segment file (vsr.io.segments), and the parts are joined as a
resumable job's segments are. Parts are found by timestamp: the video's packets are demuxed once,
without decoding, and each part's reader seeks to the key frame before its first frame.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vsr.engine.runner import BicubicRunner, Runner, StreamState
from vsr.errors import Cancelled, InputError
from vsr.frames import FrameBatch
from vsr.io.reader import Damage, VideoReader
from vsr.io.segments import SegmentEncoder


@dataclass(frozen=True)
class Part:
    warm: int | None  # pts where decoding starts (warm-up); None: the first frame
    start: int  # pts of the first output frame
    end: int | None  # pts of the next part's first output frame (exclusive); None: to the end


def frame_timestamps(path: Path, stream_index: int) -> list[int]:
    """Distinct pts of the stream's frames, in display order, from its packets (no decoding)."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams[stream_index]
        pts = [p.pts for p in container.demux(stream) if p.size]
    if any(p is None for p in pts):
        raise InputError(
            f"input {str(path)!r} has frames without timestamps: it cannot be cut into --segments"
        )
    return sorted(set(pts))


def plan_parts(pts: list[int], segments: int, warmup: int) -> list[Part]:
    """Cut `pts` into up to `segments` parts of equal length, each warming up `warmup` frames early."""
    length = -(-len(pts) // segments)
    starts = list(range(0, len(pts), length))
    parts = []
    for n, first in enumerate(starts):
        warm = max(0, first - warmup)
        end = pts[starts[n + 1]] if n + 1 < len(starts) else None
        parts.append(Part(warm=pts[warm] if n else None, start=pts[first], end=end))
    return parts


@dataclass
class _Lane:
    """One part in flight: its reader, its frames, its state and its encoder."""

    part: Part
    reader: VideoReader
    frames: Iterator[tuple[int, np.ndarray]]
    encoder: SegmentEncoder
    state: StreamState
    fresh: bool = True  # the next frame starts its sequence


Row = list[tuple[int, int, np.ndarray, bool, bool]]  # (lane, pts, frame, output?, reset?)


class ParallelJob:
    """B lanes (part, reader, encoder) through one Runner: decode rows, upscale them, encode."""

    def __init__(self, readers: list[VideoReader], parts: list[Part], encoders: list[SegmentEncoder]) -> None:
        self.layout = readers[0].layout  # every reader yields the same: RGB, or yuv420p planes
        self.lanes = [
            _Lane(p, r, r.frames_from(p.warm, count_from=p.start), e, StreamState())
            for p, r, e in zip(parts, readers, encoders, strict=True)
        ]

    def rows(self) -> Iterator[Row]:
        """The decode stage: the next frame of every lane that has one, until all are done."""
        active = list(range(len(self.lanes)))
        while active:
            row: Row = []
            for n in list(active):
                lane = self.lanes[n]
                item = next(lane.frames, None)
                if item is None or (lane.part.end is not None and item[0] >= lane.part.end):
                    active.remove(n)
                    if item is None and lane.part.end is None:
                        lane.reader.check_length()  # the last part reached the end
                    continue
                pts, frame = item
                row.append((n, pts, frame, pts >= lane.part.start, lane.fresh))
                lane.fresh = False
            if row:
                yield row

    def upscale(
        self, runner: Runner | BicubicRunner, row: Row, stop: threading.Event
    ) -> list[tuple[int, int, torch.Tensor, bool]]:
        if stop.is_set():
            raise Cancelled
        frames = torch.from_numpy(np.stack([frame for _, _, frame, _, _ in row]))
        states = [self.lanes[n].state for n, *_ in row]
        hr = runner.step_streams(frames, states, [reset for *_, reset in row], self.layout)
        return [(n, pts, hr[j], output) for j, (n, pts, _, output, _) in enumerate(row)]

    def encode(self, outputs: list[tuple[int, int, torch.Tensor, bool]], time_base: Fraction) -> int:
        """Write the output frames (not the warm-up ones) to their lanes' encoders; returns how many."""
        written = 0
        for n, pts, image, output in outputs:
            if output:
                self.lanes[n].encoder.write(FrameBatch(image[None], (pts,), time_base, layout=self.layout))
                written += 1
        return written

    def damage(self) -> Damage:
        total = Damage()
        for lane in self.lanes:
            d = lane.reader.damage
            total.concealed += d.concealed
            total.rejected += d.rejected
            total.duplicate_pts += d.duplicate_pts
            total.truncated = total.truncated or d.truncated
            if d.first_at is not None:
                total.first_at = d.first_at if total.first_at is None else min(total.first_at, d.first_at)
        return total
