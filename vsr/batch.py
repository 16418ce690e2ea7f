"""vsr batch: many videos upscaled with the same options, one after another on this machine.

Inputs are files, directories (their video files, not recursing) and glob patterns. Each output is
`OUT_DIR/<stem><suffix><ext>` (the input's extension unless `ext` is given). An output that exists
is a finished one (outputs are written to a temporary name and renamed only when complete), so a
rerun skips it and continues with the rest. A file that fails is reported in one line and the
others are still done; the report says which failed.
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from vsr.config import UpscaleConfig

if TYPE_CHECKING:
    from vsr.cluster.driver import RayOptions
from vsr.errors import InputError, Interrupted, OptionError, VsrError
from vsr.io.reader import VideoReader

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".m4v", ".flv", ".wmv"}


@dataclass(frozen=True)
class BatchConfig:
    inputs: tuple[str, ...]
    out_dir: Path
    options: UpscaleConfig  # every per-file option; its input and output are replaced per file
    suffix: str = ""
    ext: str | None = None  # e.g. ".mkv"; None: keep each input's extension
    progress: bool = True
    ray: RayOptions | None = None  # run on a Ray cluster (vsr.cluster) instead of one by one here

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if not self.inputs:
            raise OptionError("vsr batch needs at least one INPUT (a file, a directory or a glob)")
        if self.ext is not None and not self.ext.startswith("."):
            object.__setattr__(self, "ext", "." + self.ext)


@dataclass
class FileResult:
    input: Path
    output: Path
    status: str  # done, skipped (already finished), failed
    frames: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BatchReport:
    results: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> str:
        width = max([len(r.input.name) for r in self.results] + [4])
        lines = [f"{'file':<{width}}  {'frames':>7}  {'fps':>6}  status"]
        for r in self.results:
            status = r.status if not r.error else f"{r.status}: {r.error}"
            fps = f"{r.fps:6.1f}" if r.status == "done" else f"{'-':>6}"
            lines.append(f"{r.input.name:<{width}}  {r.frames:>7}  {fps}  {status}")
        done = sum(r.status == "done" for r in self.results)
        skipped = sum(r.status == "skipped" for r in self.results)
        lines.append(f"{done} done, {skipped} already finished, {len(self.failed)} failed")
        return "\n".join(lines)


def find_inputs(inputs: tuple[str, ...]) -> list[Path]:
    """The video files named by files, directories and glob patterns, in order, without repeats."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"INPUT {item!r}: the pattern matches no file")
            found += matches
        else:
            raise InputError(f"INPUT {item!r} is not a file, a directory or a glob pattern that matches")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise InputError(f"no video file in {', '.join(map(repr, inputs))}")
    return unique


def plan_outputs(files: list[Path], cfg: BatchConfig) -> list[tuple[Path, Path]]:
    """(input, output) pairs; two inputs that would write the same output are refused up front."""
    pairs = [(f, cfg.out_dir / f"{f.stem}{cfg.suffix}{cfg.ext or f.suffix}") for f in files]
    seen: dict[Path, Path] = {}
    for src, out in pairs:
        if out in seen:
            raise OptionError(
                f"{str(seen[out])!r} and {str(src)!r} would both be written to {str(out)!r}: "
                "upscale them in separate runs, or rename one"
            )
        if out.resolve() == src.resolve():
            raise OptionError(
                f"output {str(out)!r} would overwrite its input: pass --suffix or another --out-dir"
            )
        seen[out] = src
    return pairs


def _frame_count(path: Path) -> int:
    try:
        with VideoReader(path) as reader:
            return reader.info.frames
    except VsrError:
        return 0  # a file that cannot be read fails later, with its own message


def run_batch(
    cfg: BatchConfig,
    upscale: Callable[[UpscaleConfig, Callable[[int], None]], object] | None = None,
    echo: Callable[[str], None] = print,
) -> BatchReport:
    """Upscale every input in turn; `echo` gets one line per file."""
    from vsr.pipeline.offline import upscale_file

    upscale = upscale or upscale_file
    pairs = plan_outputs(find_inputs(cfg.inputs), cfg)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    todo = []
    for src, out in pairs:
        if out.exists() and not cfg.options.overwrite:
            report.results.append(FileResult(src, out, "skipped", _frame_count(out)))
            echo(f"vsr: {src.name}: already finished ({out})")
        else:
            todo.append((src, out))
    if cfg.ray is not None and todo:
        report.results += _run_on_ray(todo, cfg, echo)
        todo = []
    if not todo:
        return _in_order(report, pairs)
    total = sum(_frame_count(src) for src, _ in todo)
    bar = tqdm(total=total or None, unit="frame", disable=not cfg.progress, dynamic_ncols=True, desc="batch")
    try:
        for index, (src, out) in enumerate(todo, 1):
            result = FileResult(src, out, "failed")
            options = replace(cfg.options, input=src, output=out, progress=False)
            start = time.perf_counter()
            try:
                done = upscale(options, bar.update)
            except (Interrupted, KeyboardInterrupt):
                raise
            except VsrError as exc:
                result.error = str(exc)
                echo(f"vsr: [{index}/{len(todo)}] {src.name}: failed: {exc}")
            else:
                result.status, result.frames = "done", getattr(done, "frames", 0)
                result.seconds = time.perf_counter() - start
                echo(
                    f"vsr: [{index}/{len(todo)}] {src.name}: {result.frames} frames, {result.fps:.1f} fps -> {out}"
                )
            report.results.append(result)
    finally:
        bar.close()
    return _in_order(report, pairs)


def _in_order(report: BatchReport, pairs: list[tuple[Path, Path]]) -> BatchReport:
    order = {src: i for i, (src, _) in enumerate(pairs)}
    report.results.sort(key=lambda r: order[r.input])
    return report


def _run_on_ray(
    todo: list[tuple[Path, Path]], cfg: BatchConfig, echo: Callable[[str], None]
) -> list[FileResult]:
    from vsr.cluster.driver import run_on_ray

    assert cfg.ray is not None
    outcomes = run_on_ray(todo, cfg.options, cfg.ray, progress=cfg.progress, echo=echo)
    return [
        FileResult(o.plan.input, o.plan.output, "done" if o.done else "failed", o.frames, o.seconds, o.error)
        for o in outcomes
    ]
