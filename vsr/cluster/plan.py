"""What a Ray run does to each file: one unit, or parts kept in a directory beside the output.

A file is cut into parts when --segments asks for more than one, or when it is longer than
`part_frames`: the parts of vsr.pipeline.parallel (equal frame counts, each warmed up --warmup
frames early, decoded from the key frame before its warm-up). Finished parts are kept in
`.<output name>.vsr-ray-parts/` under a key of everything the output depends on, so a rerun with
the same options skips them; the directory is removed once the parts are joined.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vsr.cluster.worker import Identity, Unit
from vsr.config import UpscaleConfig
from vsr.errors import VsrError
from vsr.io.reader import VideoReader
from vsr.io.segments import SegmentInfo
from vsr.models.zoo import BICUBIC, resolve_weights
from vsr.pipeline.parallel import Part, frame_timestamps, plan_parts
from vsr.pipeline.resume import file_digest, input_identity
from vsr.version import __version__


@dataclass
class FilePlan:
    input: Path
    output: Path
    frames: int = 0  # frames the output will have (from the container; 0: unknown)
    parts: list[Part] = field(default_factory=list)  # empty: the file is one unit
    work: Path | None = None  # the parts' directory
    error: str = ""  # the file cannot be planned (unreadable): reported, not run

    def segment(self, n: int) -> Path:
        assert self.work is not None
        return self.work / f"part-{n:04d}.vsrseg"

    def finished(self, n: int) -> SegmentInfo | None:
        """The part's segment info if it is finished (its segment and its record exist)."""
        record = self.segment(n).with_suffix(".json")
        if not (self.segment(n).exists() and record.exists()):
            return None
        return SegmentInfo(**json.loads(record.read_text()))

    def commit(self, n: int, info: SegmentInfo, data: bytes | None) -> None:
        """Record a finished part; `data`: its segment's bytes when the worker sent them back."""
        if data is not None:
            tmp = self.segment(n).with_name(f".{self.segment(n).name}.partial")
            tmp.write_bytes(data)
            os.replace(tmp, self.segment(n))
        record = self.segment(n).with_suffix(".json")
        tmp = record.with_name(f".{record.name}.partial")
        tmp.write_text(json.dumps(asdict(info)))
        os.replace(tmp, record)


def weights_key(options: UpscaleConfig) -> str:
    """The weights' digest (or bicubic); a bad --model fails here, on the driver, in one line."""
    if options.model == BICUBIC:
        return BICUBIC
    return file_digest(resolve_weights(options.model, options.scale, options.trust_pickle)[1])


def _parts_key(plan: FilePlan, options: UpscaleConfig, weights: str) -> dict[str, Any]:
    settings = {
        k: v for k, v in asdict(options).items() if k not in ("input", "output", "progress", "overwrite")
    }
    return {
        "vsr": __version__,
        "input": input_identity(plan.input),
        "weights": weights,
        "options": {k: str(v) for k, v in settings.items()},
        "container": plan.output.suffix.lower(),
        "parts": [asdict(p) for p in plan.parts],
    }


def plan_file(src: Path, out: Path, options: UpscaleConfig, part_frames: int, weights: str) -> FilePlan:
    plan = FilePlan(src, out)
    try:
        with VideoReader(src, stream_index=options.stream, on_error=options.on_error) as reader:
            plan.frames = reader.info.frames
            stream = reader.stream.index
        count = options.segments if options.segments > 1 else -(-plan.frames // part_frames)
        if count > 1 or options.segments > 1:
            pts = frame_timestamps(src, stream)
            plan.frames = len(pts)
            plan.parts = plan_parts(pts, count, options.warmup)
    except VsrError as exc:
        plan.error = str(exc)
        return plan
    if plan.parts:
        plan.work = out.with_name(f".{out.name}.vsr-ray-parts")
        key = _parts_key(plan, options, weights)
        key_file = plan.work / "key.json"
        if plan.work.exists() and (not key_file.exists() or json.loads(key_file.read_text()) != key):
            shutil.rmtree(plan.work)  # made with other options or from another input: not reusable
        plan.work.mkdir(exist_ok=True)
        key_file.write_text(json.dumps(key, indent=1))
    return plan


def plan_units(plans: list[FilePlan], first_id: int = 0) -> list[tuple[FilePlan, int | None, Unit]]:
    """(file, part index or None, unit) for the work still to do, in file order."""
    units = []
    next_id = first_id
    for plan in plans:
        if plan.error:
            continue
        identity = Identity.of(plan.input)
        if not plan.parts:
            units.append((plan, None, Unit(next_id, identity, str(plan.output))))
            next_id += 1
            continue
        for n, part in enumerate(plan.parts):
            if plan.finished(n) is None:
                unit = Unit(next_id, identity, str(plan.output), part, str(plan.segment(n)))
                units.append((plan, n, unit))
                next_id += 1
    return units
