"""`vsr bench`: throughput per stage and end to end, always beside the bicubic baseline.

Stages are timed one after another on the same frames, after a warm-up: decode (PyAV, to
av.VideoFrame), colour in (YUV -> RGB: swscale, or torch on the device), host-to-device, model
(Runner: uint8 in, uint8 out), device-to-host, colour out (RGB -> YUV 4:2:0), encode (the chosen
encoder). End to end is
`vsr upscale` (decode, upscale and encode in their own threads) on the same clip, once with the
model and once with bicubic through the same decoder and encoder.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr.config import COLOUR, UpscaleConfig
from vsr.engine.build import build_runner
from vsr.engine.runner import BicubicRunner, ColourPlan, Runner
from vsr.engine.yuv import YuvMatrix, folded_to_yuv420, rgb_to_yuv420, supports_matrix, yuv420_to_rgb
from vsr.errors import InputError, OptionError
from vsr.frames import FrameBatch
from vsr.io.writer import check_encoder
from vsr.machine import machine_info
from vsr.models.zoo import BICUBIC
from vsr.pipeline.colour import colour_on_device
from vsr.pipeline.offline import upscale_file

STAGES = ("decode", "colour_in", "h2d", "model", "d2h", "colour_out", "encode")
# The threads of `vsr upscale` and the stages each runs. With the conversion on the device, the
# model stage includes it and the colour stages are not separate work.
THREADS = {
    "swscale": {
        "decode": ("decode", "colour_in"),
        "upscale": ("h2d", "model", "d2h"),
        "encode": ("colour_out", "encode"),
    },
    "device": {"decode": ("decode",), "upscale": ("h2d", "model", "d2h"), "encode": ("encode",)},
}


def pipeline_limit(stages: dict[str, float], colour: str) -> dict[str, Any]:
    """The thread that bounds end-to-end fps, from the stages timed alone: each thread's fps is
    1 / (sum of its stages' seconds per frame); the slowest one is the limit."""
    fps = {
        thread: 1.0 / sum(1.0 / stages[s] for s in names if stages[s] > 0)
        for thread, names in THREADS[colour].items()
    }
    thread = min(fps, key=fps.__getitem__)
    return {"thread": thread, "stages": list(THREADS[colour][thread]), "fps": fps[thread], "threads_fps": fps}


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise OptionError(f"--size must look like 320x180, got {text!r}") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise OptionError(f"--size {text}: width and height must be even and at least 16")
    return w, h


@dataclass(frozen=True)
class BenchConfig:
    input: Path | None = None  # a video file, or None for a synthetic clip of `sizes`
    sizes: tuple[tuple[int, int], ...] = ((320, 180),)
    frames: int = 60
    warmup: int = 8
    model: str | None = None
    scale: int = 4
    batches: tuple[int, ...] = (8,)
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "eager"
    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 18
    colour: str = "auto"  # YUV<->RGB on the device, in swscale, or auto (device on CUDA)
    end_to_end: bool = True

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise OptionError(f"--frames must be at least 2, got {self.frames}")
        if self.warmup < 0:
            raise OptionError(f"--warmup must be >= 0, got {self.warmup}")
        if any(b < 1 for b in self.batches):
            raise OptionError("--batch values must be at least 1")
        if self.colour not in COLOUR:
            raise OptionError(f"--colour must be one of {', '.join(COLOUR)}, got {self.colour!r}")
        if self.input is not None and not Path(self.input).is_file():
            raise InputError(f"input {str(self.input)!r} does not exist")


def synthetic_clip(path: Path, width: int, height: int, frames: int, rate: int = 25) -> Path:
    """A clip with moving, textured content (smooth gradients, edges, noise), H.264 near-lossless."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(height // 4 + 16, width // 4 + 16, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((4, 4, 1), np.uint8))
    ramp = np.linspace(0, 80, width, dtype=np.float32)[None, :, None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"crf": "12", "preset": "ultrafast"}
        for i in range(frames):
            y, x = (i // 2) % 16, i % 16
            image = np.clip(texture[y : y + height, x : x + width] * 0.7 + ramp, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _colour_plan(stream: av.video.stream.VideoStream) -> ColourPlan | None:
    """The device conversion for a clip, its own matrix and range both ways (as vsr upscale
    does); None where it is not 8-bit 4:2:0 with a known matrix."""
    cc = stream.codec_context
    if cc.pix_fmt not in ("yuv420p", "nv12") or cc.width % 2 or cc.height % 2:
        return None
    if not supports_matrix(int(cc.colorspace)):
        return None
    matrix = YuvMatrix.from_tags(int(cc.colorspace), int(cc.color_range))
    return ColourPlan(matrix, matrix)


def stage_fps(clip: Path, cfg: BenchConfig, runner: Runner | BicubicRunner, batch: int) -> dict[str, float]:
    """Frames per second of every stage alone, on `cfg.frames` frames after `cfg.warmup`.

    With the colour conversion on the device, colour_in/colour_out time the torch conversion
    there, and the model stage (Runner.upscale) includes it, as it does in `vsr upscale`."""
    device = runner.device
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        plan = _colour_plan(stream) if colour_on_device(cfg.colour, device) else None
        decoded, t_decode = _timed(
            lambda: [
                f for _, f in zip(range(cfg.warmup + cfg.frames), container.decode(stream), strict=False)
            ]
        )
    if len(decoded) <= cfg.warmup:
        raise InputError(f"{clip} has {len(decoded)} frames; --frames + --warmup needs more")
    frames = decoded[cfg.warmup :]
    n = len(frames)
    t_decode *= n / len(decoded)  # the warm-up frames are not timed apart from decoding
    layout = "rgb" if plan is None else "yuv420p"
    fmt = "rgb24" if plan is None else "yuv420p"
    arrays, t_arrays = _timed(lambda: [f.to_ndarray(format=fmt) for f in frames])
    host = torch.from_numpy(np.stack(arrays))
    if device.type == "cuda":
        host = host.pin_memory()
    uploaded, t_h2d = _timed(lambda: (host.to(device, non_blocking=True), _sync(device))[0])
    runner.convert_on_device(plan)
    if plan is not None:
        t_decode += t_arrays  # copying the planes out of the decoder's frames
        _, t_colour_in = _timed(
            lambda: (
                [yuv420_to_rgb(uploaded[i : i + batch], plan.input) for i in range(0, n, batch)],
                _sync(device),
            )
        )
    else:
        t_colour_in = t_arrays

    def as_batch(data: torch.Tensor, first: int) -> FrameBatch:
        return FrameBatch(data, tuple(range(first, first + len(data))), Fraction(1, 25), layout=layout)

    batches = [as_batch(uploaded[i : i + batch], i) for i in range(0, n, batch)]
    for _ in range(2):
        runner.upscale(as_batch(uploaded[: min(batch, n)], 0))  # kernels, allocator, oneDNN primitives
    runner.reset()
    _sync(device)

    def model() -> list[FrameBatch]:
        out = [runner.upscale(b) for b in batches]
        _sync(device)
        return out

    upscaled, t_model = _timed(model)
    # Runner returns host tensors; time the copy back separately from a device copy.
    hr_host = torch.cat([b.host() for b in upscaled])
    hr_device = hr_host.to(device)
    pinned = torch.empty(hr_host.shape, dtype=hr_host.dtype, pin_memory=device.type == "cuda")
    _, t_d2h = _timed(lambda: (pinned.copy_(hr_device, non_blocking=True), _sync(device)))
    images = list(hr_host.numpy())
    if plan is not None:
        hr_h, hr_w, s = upscaled[0].height, upscaled[0].width, runner.scale
        # as the runner does (a model's output from its folded frame, bicubic's from the HR frame),
        # a batch at a time; the conversion's cost does not depend on content
        if isinstance(runner, Runner) and s % 2 == 0:
            out = torch.rand(min(batch, n), 3 * s * s, hr_h // s, hr_w // s, device=device)
            convert = partial(folded_to_yuv420, scale=s, matrix=plan.output)
        else:
            out = torch.rand(min(batch, n), 3, hr_h, hr_w, device=device)
            convert = partial(rgb_to_yuv420, matrix=plan.output)
        _, t_colour_out = _timed(
            lambda: ([convert(out[: min(batch, n - i)]) for i in range(0, n, batch)], _sync(device))
        )
        yuv, t_wrap = _timed(lambda: [av.VideoFrame.from_ndarray(i, format="yuv420p") for i in images])
    else:
        yuv, t_colour_out = _timed(
            lambda: [av.VideoFrame.from_ndarray(i, format="rgb24").reformat(format="yuv420p") for i in images]
        )
        t_wrap = 0.0
    encoder = av.CodecContext.create(cfg.codec, "w")
    encoder.width, encoder.height = yuv[0].width, yuv[0].height
    encoder.pix_fmt, encoder.time_base, encoder.framerate = "yuv420p", Fraction(1, 25), Fraction(25)
    if cfg.codec in ("libx264", "libx265"):
        encoder.options = {"preset": cfg.preset, "crf": str(cfg.crf)}
    encoder.thread_type = "AUTO"

    def encode() -> None:
        for i, frame in enumerate(yuv):
            frame.pts = i
            encoder.encode(frame)
        encoder.encode(None)

    _, t_encode = _timed(encode)
    times = {
        "decode": t_decode,
        "colour_in": t_colour_in,
        "h2d": t_h2d,
        "model": t_model,
        "d2h": t_d2h,
        "colour_out": t_colour_out,
        "encode": t_encode + t_wrap,
    }
    return {k: (n / t if t > 0 else float("inf")) for k, t in times.items()}


def end_to_end_fps(clip: Path, cfg: BenchConfig, model: str | None, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        report = upscale_file(
            UpscaleConfig(
                input=clip,
                output=Path(tmp) / "out.mkv",
                model=model,
                scale=cfg.scale,
                device=cfg.device,
                dtype=cfg.dtype,
                backend=cfg.backend if model != BICUBIC else "eager",
                codec=cfg.codec,
                crf=cfg.crf,
                preset=cfg.preset,
                batch=batch,
                progress=False,
                colour=cfg.colour,
            )
        )
    return report.fps


def save_result(path: Path, **fields: Any) -> None:
    """Write a benchmark result as JSON: the exact command, the machine, then `fields`."""
    report = {"command": "python " + " ".join(sys.argv), "machine": machine_info(), **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


@dataclass
class BenchRow:
    size: str
    batch: int
    stages: dict[str, float]
    bicubic_stages: dict[str, float]
    colour: str = "swscale"  # where YUV<->RGB ran: swscale, or device
    limit: dict[str, Any] = field(default_factory=dict)  # the thread that bounds end to end
    end_to_end: dict[str, float] = field(default_factory=dict)


def _video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.width, cc.height


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    check_encoder(cfg.codec)
    from vsr.engine.autotune import MEASURE_FRAMES

    size_hint = cfg.sizes[0] if cfg.input is None else _video_size(cfg.input)
    runner, name = build_runner(
        cfg.model,
        cfg.scale,
        backend=cfg.backend,
        device=cfg.device,
        dtype=cfg.dtype,
        frames_hint=max(cfg.frames, MEASURE_FRAMES),  # `auto` measures: this is a benchmark
        size_hint=size_hint,
    )
    device = runner.device
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = (
            [(cfg.input, None)]
            if cfg.input is not None
            else [
                (synthetic_clip(Path(tmp) / f"{w}x{h}.mp4", w, h, cfg.frames + cfg.warmup), (w, h))
                for w, h in cfg.sizes
            ]
        )
        for clip, _ in inputs:
            with av.open(str(clip)) as c:
                v = c.streams.video[0]
                size = f"{v.codec_context.width}x{v.codec_context.height}"
            for batch in cfg.batches:
                progress(f"{size} batch {batch}: stages")
                runner.reset()
                row = BenchRow(
                    size=size,
                    batch=batch,
                    stages=stage_fps(clip, cfg, runner, batch),
                    bicubic_stages=stage_fps(clip, cfg, BicubicRunner(cfg.scale, device), batch),
                    colour="swscale" if runner.colour is None else "device",
                )
                row.limit = pipeline_limit(row.stages, row.colour)
                if cfg.end_to_end:
                    progress(f"{size} batch {batch}: end to end")
                    ours = end_to_end_fps(clip, cfg, cfg.model, batch)
                    base = end_to_end_fps(clip, cfg, BICUBIC, batch)
                    row.end_to_end = {
                        "model_fps": ours,
                        "bicubic_fps": base,
                        "time_ratio_vs_bicubic": base / ours,
                    }
                rows.append(row)
    return {
        "command": "vsr " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "vsr bench",
        "machine": machine_info(),
        "model": name,
        "backend": cfg.backend,
        "backend_used": getattr(runner, "backend", "bicubic"),
        "backend_reason": getattr(runner, "backend_reason", ""),
        "device": str(device),
        "dtype": "float32"
        if isinstance(runner, BicubicRunner)
        else str(runner.settings.dtype).removeprefix("torch."),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "fallback": getattr(getattr(runner, "model", None), "fallback", None),  # compile that did not
        "stages": list(STAGES),
        "rows": [asdict(r) for r in rows],
    }


def table(report: dict[str, Any]) -> str:
    """The report as text: one line per size/batch, model and bicubic."""
    head = (
        f"{'size':<10}{'batch':>6} {'upscaler':<10}"
        + "".join(f"{s:>11}" for s in STAGES)
        + f"{'end-to-end':>12}{'ratio':>7}"
    )
    lines = [
        f"fps per stage and end to end ({report['model']} on {report['device']}, {report['dtype']}, "
        f"colour by {', '.join(sorted({r.get('colour', 'swscale') for r in report['rows']}))})",
        head,
    ]
    for row in report["rows"]:
        e2e = row["end_to_end"]
        for name, stages, fps in (
            (report["model"], row["stages"], e2e.get("model_fps")),
            ("bicubic", row["bicubic_stages"], e2e.get("bicubic_fps")),
        ):
            cells = "".join(f"{stages[s]:>11.1f}" if stages[s] < 1e6 else f"{'-':>11}" for s in STAGES)
            end = f"{fps:>12.1f}" if fps else f"{'-':>12}"
            ratio = f"{e2e['time_ratio_vs_bicubic']:>7.2f}" if fps and name != "bicubic" else ""
            lines.append(f"{row['size']:<10}{row['batch']:>6} {name:<10}{cells}{end}{ratio}")
    for row in report["rows"]:
        limit = row["limit"]
        lines.append(
            f"{row['size']} batch {row['batch']}: the limit is the {limit['thread']} thread "
            f"({' + '.join(limit['stages'])}) at {limit['fps']:.1f} fps"
        )
    if report.get("backend") == "auto" and report.get("backend_used"):
        lines.append(f"--backend auto chose {report['backend_used']}: {report['backend_reason']}")
    if report.get("fallback"):
        lines.append(f"--backend {report['backend']} fell back: the model stage ran {report['fallback']}")
    lines.append(
        "ratio = end-to-end time with the model / time with bicubic through the same decoder and encoder"
    )
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Model-stage and end-to-end fps against output megapixels, one line per batch size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionError("--plot needs matplotlib (pip install 'vsr[plot]')") from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_batch: dict[int, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        by_batch.setdefault(row["batch"], []).append(row)
    scale = report["config"]["scale"]
    for batch, rows in sorted(by_batch.items()):
        rows.sort(key=lambda r: int(r["size"].split("x")[0]))
        mp = [int(r["size"].split("x")[0]) * int(r["size"].split("x")[1]) * scale * scale / 1e6 for r in rows]
        ax.plot(
            mp,
            [r["stages"]["model"] for r in rows],
            "o-",
            label=f"{report['backend']} model stage, batch {batch}",
        )
        ax.plot(mp, [r["bicubic_stages"]["model"] for r in rows], "x--", label=f"bicubic, batch {batch}")
    ax.set_xlabel("output megapixels per frame")
    ax.set_ylabel("frames per second")
    ax.set_yscale("log")
    ax.set_title(f"{report['model']} on {report['device']} ({report['dtype']})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
