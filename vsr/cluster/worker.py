"""The work a Ray actor does: whole files and parts of files, with a model loaded once.

Nothing here imports Ray: `Worker` is a plain class that vsr.cluster.driver turns into an actor,
so the same code runs (and is read) without a cluster. A unit's output is written under a
temporary name and renamed when complete, so a unit that is retried after its worker died never
leaves a half-written or doubled file.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from vsr.config import UpscaleConfig
from vsr.errors import VsrError
from vsr.io.segments import SegmentInfo
from vsr.pipeline.job import Loaded, load_runner
from vsr.pipeline.offline import upscale_file
from vsr.pipeline.parallel import Part
from vsr.pipeline.resume import input_identity
from vsr.pipeline.segmented import upscale_part


@dataclass(frozen=True)
class Identity:
    """What a node must see at `path` to read the driver's file there (a shared file system)."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Identity:
        return cls(**input_identity(path))  # the resolved path: workers do not share our cwd

    def visible(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


@dataclass(frozen=True)
class Unit:
    """One file (part is None) or one part of a file, and where its result goes."""

    id: int
    input: Identity
    output: str  # the output file (of the whole file, for a part)
    part: Part | None = None
    segment: str = ""  # a part's segment file


@dataclass
class UnitResult:
    id: int
    node: str
    frames: int = 0
    seconds: float = 0.0
    error: str = ""  # one line; empty when the unit succeeded
    segment: SegmentInfo | None = None  # parts
    data: bytes | None = None  # the result's bytes, when the driver's directory is not shared


class Worker:
    """Loads the model once, then upscales the units it is given, one at a time."""

    def __init__(self, options: UpscaleConfig, threads: int, frames_hint: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.options = options
        self.node = socket.gethostname()
        self._loaded: Loaded | None = None
        self._frames_hint = frames_hint
        self._scratch = tempfile.TemporaryDirectory(prefix="vsr-ray-")
        self._copies: dict[Identity, Path] = {}  # inputs received as bytes, kept for their next part
        self._lock = threading.Lock()
        self._current: tuple[int, int] = (-1, 0)  # (unit, frames done), read by progress()

    def loaded(self) -> Loaded:
        if self._loaded is None:
            self._loaded = load_runner(self.options, self._frames_hint)
        return self._loaded

    def probe(self, marker: str, token: str, inputs: list[Identity]) -> tuple[str, bool]:
        """(this node's name, whether it sees the driver's output directory and inputs)."""
        try:
            sees_marker = Path(marker).read_bytes() == token.encode()
        except OSError:
            sees_marker = False
        return self.node, sees_marker and all(i.visible() for i in inputs)

    def progress(self) -> tuple[int, int]:
        """(unit in progress, frames it has done); cheap, answered while a unit runs."""
        with self._lock:
            return self._current

    def _count(self, unit: int) -> Callable[[int], None]:
        def on_frames(n: int) -> None:
            with self._lock:
                self._current = (unit, self._current[1] + n)

        with self._lock:
            self._current = (unit, 0)
        return on_frames

    def _local_input(self, unit: Unit, data: bytes | None) -> Path:
        if data is None:
            if not unit.input.visible():
                raise VsrError(
                    f"input {unit.input.path!r} is not on node {self.node} (or differs there): "
                    "use --ray-data bytes, or a file system shared by every node"
                )
            return Path(unit.input.path)
        path = self._copies.get(unit.input)
        if path is None:
            for old in self._copies.values():  # keep one received input at a time
                old.unlink(missing_ok=True)
            self._copies.clear()
            path = Path(self._scratch.name) / f"input-{unit.id}{Path(unit.input.path).suffix}"
            path.write_bytes(data)
            self._copies[unit.input] = path
        return path

    def run(self, unit: Unit, data: bytes | None = None) -> UnitResult:
        """Upscale `unit`. `data`: the input's bytes when this node cannot read the driver's files;
        then the result comes back as bytes instead of being written to unit.output."""
        start = time.perf_counter()
        result = UnitResult(unit.id, self.node)
        on_frames = self._count(unit.id)
        try:
            source = self._local_input(unit, data)
            output = Path(unit.output)
            target = Path(unit.segment) if unit.part is not None else output
            if data is not None:  # written here, sent back, removed
                target = Path(self._scratch.name) / f"out-{unit.id}-{target.name}"
            if unit.part is None:
                options = replace(self.options, input=source, output=target, progress=False, overwrite=True)
                result.frames = upscale_file(options, on_frames, self.loaded()).frames
            else:
                options = replace(self.options, input=source, output=output, progress=False)
                result.frames, result.segment = upscale_part(
                    options, unit.part, target, self.loaded(), on_frames
                )
            if data is not None:
                result.data = target.read_bytes()
                target.unlink()
        except VsrError as exc:
            result.error = str(exc)
        result.seconds = time.perf_counter() - start
        return result
