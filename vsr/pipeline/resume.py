"""The journal of a resumable `vsr upscale --resume` job, and the final join of its segments.

The journal is a folder beside the output, `.NAME.vsr-resume/`, holding finished segments (see
vsr.io.segments), the generator's recurrent state after the last of them, and `manifest.json`.
A segment counts once the manifest names it; the manifest is replaced atomically after the
segment and the state are on disk, so a job killed at any moment resumes from its last finished
segment, with the state it had there: the resumed output equals an uninterrupted one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import av
from safetensors.torch import load_file, save_file

from vsr.errors import OutputError
from vsr.io.reader import VideoInfo
from vsr.io.segments import SegmentInfo, headers_digest, read_segment
from vsr.io.writer import VideoWriter
from vsr.models.generator import State

FORMAT = 1
LOCK = "lock"


def journal_dir(output: Path) -> Path:
    return output.with_name(f".{output.name}.vsr-resume")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def input_identity(path: Path) -> dict[str, Any]:
    """What tells that the input is still the same file: its path, size and modification time."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass
class Progress:
    """What the journal holds: finished segments and the state to go on from."""

    segments: list[dict[str, Any]] = field(default_factory=list)
    state_file: str | None = None
    scene_cuts: int = 0

    @property
    def frames(self) -> int:
        return sum(s["frames"] for s in self.segments)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Finished segments of one job, identified by `key` (input, model, every output setting)."""

    def __init__(self, output: Path, key: dict[str, Any]) -> None:
        self.dir = journal_dir(output)
        self.key = key
        self.progress = Progress()
        self._lock_file: IO[str] | None = None

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    def open(self) -> Progress:
        """Load the progress of an earlier run of the same job, or start an empty journal."""
        if self.manifest.exists():
            try:
                data = json.loads(self.manifest.read_text())
            except (OSError, ValueError) as exc:
                raise OutputError(
                    f"resume journal {str(self.dir)!r} is unreadable ({exc}); remove it"
                ) from None
            if data.get("format") != FORMAT or data.get("key") != self.key:
                changed = sorted(
                    k
                    for k in set(self.key) | set(data.get("key", {}))
                    if data.get("key", {}).get(k) != self.key.get(k)
                )
                raise OutputError(
                    f"resume journal {str(self.dir)!r} belongs to another job (different "
                    f"{', '.join(changed) or 'format'}); remove it to start over"
                )
            self.progress = Progress(data["segments"], data["state_file"], data["scene_cuts"])
            missing = [s["file"] for s in self.progress.segments if not (self.dir / s["file"]).is_file()]
            if missing:
                raise OutputError(
                    f"resume journal {str(self.dir)!r} lacks {missing[0]}; remove it to start over"
                )
        self.dir.mkdir(exist_ok=True)
        self._lock()
        for stray in self.dir.iterdir():  # the unfinished segment of a killed run
            if stray.name not in (self.manifest.name, LOCK) and stray.name not in self._files():
                stray.unlink()
        return self.progress

    def _lock(self) -> None:
        """One run per journal: a second vsr on the same output is refused, not interleaved."""
        self._lock_file = open(self.dir / LOCK, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise OutputError(f"another vsr is writing {str(self.dir)!r} (same output, --resume)") from None

    def _files(self) -> set[str]:
        names = {s["file"] for s in self.progress.segments}
        return names | ({self.progress.state_file} if self.progress.state_file else set())

    def state(self) -> State | None:
        if self.progress.state_file is None:
            return None
        tensors = load_file(self.dir / self.progress.state_file)
        return tensors["lr"], tensors["folded"]

    def next_segment(self) -> Path:
        return self.dir / f"seg-{len(self.progress.segments):05d}.vsrseg"

    def commit(self, path: Path, info: SegmentInfo, state: State | None, scene_cuts: int) -> None:
        """Record a finished segment (and the state after it); durable before this returns."""
        old_state = self.progress.state_file
        state_file = None
        if state is not None:
            state_file = f"state-{len(self.progress.segments):05d}.safetensors"
            lr, folded = state
            try:
                save_file({"lr": lr.contiguous(), "folded": folded.contiguous()}, self.dir / state_file)
            except Exception as exc:  # noqa: BLE001 - SafetensorError wraps the OSError (disk full...)
                raise OutputError(f"writing the resume journal {str(self.dir)!r} failed: {exc}") from None
        progress = Progress(
            [*self.progress.segments, {"file": path.name, **asdict(info)}], state_file, scene_cuts
        )
        data = {"format": FORMAT, "key": self.key, **asdict(progress)}
        tmp = self.manifest.with_suffix(".tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.manifest)
            _fsync_dir(self.dir)
        except OSError as exc:  # not committed: the files written for it are strays to the next run
            raise OutputError(f"writing the resume journal {str(self.dir)!r} failed: {exc}") from None
        self.progress = progress
        if old_state and old_state != state_file:
            (self.dir / old_state).unlink(missing_ok=True)

    def segments(self) -> list[tuple[Path, str]]:
        """(file, encoder headers digest) of each finished segment, in order."""
        return [(self.dir / s["file"], s["headers"]) for s in self.progress.segments]

    def close(self) -> None:
        """Release the lock (a later run in this process, or another process, may take it)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _seconds(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float("-inf") if ts is None else float(ts * packet.time_base)


def join_segments(
    writer: VideoWriter, segments: list[tuple[Path, str]], frames: int, info: VideoInfo, input: Path
) -> None:
    """Remux the segments' video, given as (file, headers digest) in order, and the input's side
    streams into `writer`, then finish it."""
    # The input stays open until the writer has finished: queued side packets point into it.
    with av.open(str(input), metadata_errors="ignore") as source:
        streams = [s for s in source.streams if s.index in writer.side_map]
        side = (p for p in source.demux(*streams) if p.size) if streams else iter(())
        ahead = next(side, None)
        last_dts: int | None = None
        for path, headers in segments:
            if headers != headers_digest(writer.video.codec_context):
                raise OutputError(f"{path.name} was encoded with other encoder headers; remove the journal")
            for packet in read_segment(path, info.time_base):
                if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1  # a join of separately encoded segments (VFR, B-frames)
                last_dts = packet.dts if packet.dts is not None else last_dts
                t = _seconds(packet)
                while ahead is not None and _seconds(ahead) <= t:
                    writer.add_side_packet(ahead)
                    ahead = next(side, None)
                writer.copy_video(packet)
        while ahead is not None:
            writer.add_side_packet(ahead)
            ahead = next(side, None)
        writer.frames_written = frames
        writer.finish()
