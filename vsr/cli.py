"""The `vsr` command line: options -> a frozen config -> one library call."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vsr.errors import Interrupted, OptionError, VsrError

if TYPE_CHECKING:
    from vsr.cluster.driver import RayOptions
    from vsr.config import UpscaleConfig

log = logging.getLogger("vsr")

# PyTorch's OpenMP threads spin after every operator by default; on a 2-core machine they spun
# for a quarter of all CPU time in `vsr live` (perf) while the encoder waited for a core. Asleep
# instead: `vsr live` rt-x4 13.3 fps out against 12.2, `vsr upscale` of the sample 17.6 s against
# 19.4 (Zen 3, medians of 3; benchmarks/results/omp_wait_policy_zen3.json). libgomp reads it when
# torch loads, so it is set before any import of torch; a user's OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

app = typer.Typer(
    name="vsr",
    help="Video super-resolution with a frame-recurrent GAN generator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Backend = Annotated[
    str,
    typer.Option(
        help="auto (on a CPU: the fastest installed runtime, measured once per CPU, model and size for "
        "inputs of 1000+ frames and cached; compile is a candidate from 2000 frames; elsewhere eager), "
        "eager (PyTorch), compile "
        "(torch.compile), ort (ONNX Runtime, fp32), openvino (OpenVINO, CPU, the [openvino] extra), "
        "openvino-int8 (OpenVINO after NNCF int8 quantization, CPU, the [int8] extra) "
        "or trt (Torch-TensorRT, NVIDIA, the [trt] extra)."
    ),
]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"vsr: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _one_line_errors(interrupted: str = "interrupted", unexpected: str = "") -> Iterator[None]:
    """Any failure of a command body -> one `vsr: error:` line; exit 1, or 130 when interrupted."""
    try:
        yield
    except typer.Exit:
        raise
    except Interrupted as exc:
        raise _fail(str(exc), 130) from None
    except VsrError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail(interrupted, 130) from None
    except Exception as exc:  # a bug, not a user mistake: still one line, details with -v
        log.info("unexpected error", exc_info=True)
        raise _fail(f"unexpected {type(exc).__name__}: {exc} ({unexpected}-v shows details)") from None


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="vsr: %(levelname)s: %(message)s",
    )


# Options shared by `vsr upscale` and `vsr batch` (one definition, two commands).
Scale = Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Shipped model name (see `vsr models`), a .safetensors path, or bicubic (the baseline).",
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
DtypeOpt = Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")]
CodecOpt = Annotated[
    str, typer.Option(help="Video encoder: libx264, libx265, libsvtav1, ffv1, h264_nvenc...")
]
CrfOpt = Annotated[int | None, typer.Option(help="Constant rate factor (quality; lower is better).")]
PresetOpt = Annotated[str | None, typer.Option(help="Encoder preset (e.g. x264: ultrafast..veryslow).")]
PixFmtOpt = Annotated[
    str | None,
    typer.Option(
        "--pix-fmt",
        help="Output pixel format; default: the input's chroma format and bit depth where the encoder takes them.",
    ),
]
BatchOpt = Annotated[int, typer.Option(help="Frames per batch handed between stages.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", "-y", help="Replace outputs that exist.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar.")]
TrustPickleOpt = Annotated[
    bool,
    typer.Option(
        "--trust-pickle", help="Allow a pickled training checkpoint (.pt) as --model: it can run code."
    ),
]
OnErrorOpt = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="Damaged or truncated input: fail (default), or skip: keep what FFmpeg can conceal, "
        "count it and warn.",
    ),
]
ColourOpt = Annotated[
    str,
    typer.Option(
        help="Where YUV<->RGB conversion runs: device (beside the model; 8-bit 4:2:0 only), "
        "swscale (FFmpeg, on the CPU), or auto: device on CUDA, swscale on the CPU.",
    ),
]
HwaccelOpt = Annotated[
    str,
    typer.Option(
        help="Decoding: cuda[:N] (NVDEC, fails where it cannot start), none (CPU), or auto: "
        "NVDEC when the model runs on CUDA, else the CPU.",
    ),
]


SegmentsOpt = Annotated[
    int,
    typer.Option(
        help="Cut each video into this many parts upscaled side by side in one batch (pays on GPUs; "
        "with --ray, parts run on several actors; 1: in order)."
    ),
]
WarmupOpt = Annotated[
    int,
    typer.Option(help="With --segments (or --ray parts): frames each part starts early to warm its state."),
]


# Ray (the [ray] extra): the same options on `vsr upscale` and `vsr batch`.
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run on Ray: local (an embedded Ray on this machine), auto (the running cluster, "
        "RAY_ADDRESS or `ray start`), or HOST:PORT of a cluster's head.",
        rich_help_panel="Ray",
    ),
]
RayWorkersOpt = Annotated[
    int,
    typer.Option(
        help="Ray actors (each loads the model once); 0: as many as the cluster's CPUs/GPUs hold.",
        rich_help_panel="Ray",
    ),
]
RayCpusOpt = Annotated[
    float, typer.Option(help="CPUs per Ray actor (its torch threads).", rich_help_panel="Ray")
]
RayGpusOpt = Annotated[
    float,
    typer.Option(
        help="GPUs per Ray actor; a fraction shares a GPU (0.5: two actors each).", rich_help_panel="Ray"
    ),
]
RayDataOpt = Annotated[
    str,
    typer.Option(
        help="How files move: paths (a file system every node shares), bytes (through Ray's object "
        "store), or auto: paths for the nodes that see the inputs and the output directory.",
        rich_help_panel="Ray",
    ),
]
PartFramesOpt = Annotated[
    int,
    typer.Option(
        help="With --ray: files longer than this are cut into parts that run on several actors "
        "(--segments N cuts into N instead).",
        rich_help_panel="Ray",
    ),
]


@app.command()
def upscale(
    input: Annotated[Path, typer.Argument(help="Video to upscale (anything FFmpeg can read).")],
    output: Annotated[Path, typer.Argument(help="Output file; its extension picks the container.")],
    scale: Scale = 4,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    backend: Backend = "auto",
    codec: CodecOpt = "libx264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    pix_fmt: PixFmtOpt = None,
    batch: BatchOpt = 8,
    stream: Annotated[
        int | None,
        typer.Option(
            help="Container index of the video stream to upscale, as ffprobe lists it (default: the first video stream)."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = True,
    trust_pickle: TrustPickleOpt = False,
    on_error: OnErrorOpt = "fail",
    resume: Annotated[
        bool,
        typer.Option(
            help="Keep finished segments beside OUTPUT (.OUTPUT.vsr-resume/) so that the same command "
            "continues after an interruption or a crash."
        ),
    ] = False,
    checkpoint_every: Annotated[
        float, typer.Option(help="With --resume: seconds of video per finished segment.")
    ] = 10.0,
    segments: SegmentsOpt = 1,
    warmup: WarmupOpt = 4,
    colour: ColourOpt = "auto",
    hwaccel: HwaccelOpt = "auto",
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 0,
    ray_cpus: RayCpusOpt = 1.0,
    ray_gpus: RayGpusOpt = 0.0,
    ray_data: RayDataOpt = "auto",
    part_frames: PartFramesOpt = 3000,
) -> None:
    """Upscale a video file; audio and subtitles are copied, timestamps kept."""
    from vsr.config import UpscaleConfig
    from vsr.pipeline.offline import upscale_file

    signal.signal(signal.SIGTERM, _interrupt)  # clean up like Ctrl-C: no partial output left
    stopped = "interrupted; no output was written"
    if not resume and ray is None:
        stopped += " (with --resume, a rerun could go on from where it stopped)"
    with _one_line_errors(stopped, "no output was written; "):
        cfg = UpscaleConfig(
            input=input,
            output=output,
            model=model,
            scale=scale,
            device=device,
            dtype=dtype,
            backend=backend,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            batch=batch,
            stream=stream,
            overwrite=overwrite,
            progress=progress,
            trust_pickle=trust_pickle,
            on_error=on_error,
            resume=resume,
            checkpoint_every=checkpoint_every,
            segments=segments,
            warmup=warmup,
            colour=colour,
            hwaccel=hwaccel,
        )
        if ray is not None:
            _upscale_on_ray(cfg, _ray_options(ray, ray_workers, ray_cpus, ray_gpus, ray_data, part_frames))
            return
        report = upscale_file(cfg)
    if report.damage:
        typer.echo(f"vsr: warning: {report.damage.summary()}", err=True)
    if report.damage.duplicate_pts:
        typer.echo(
            f"vsr: warning: {report.damage.duplicate_pts} frame(s) with a timestamp not after the previous "
            "one were dropped, as ffmpeg does",
            err=True,
        )
    typer.echo(f"vsr: {report.summary()}", err=True)


def _above_the_bar(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _ray_options(
    address: str, workers: int, cpus: float, gpus: float, data: str, part_frames: int
) -> RayOptions:
    from vsr.cluster.driver import RayOptions

    return RayOptions(address, workers=workers, cpus=cpus, gpus=gpus, data=data, part_frames=part_frames)


def _upscale_on_ray(cfg: UpscaleConfig, ropts: RayOptions) -> None:
    from vsr.cluster.driver import run_on_ray
    from vsr.pipeline.offline import check_paths

    check_paths(cfg.input, cfg.output, cfg.overwrite)
    [outcome] = run_on_ray([(cfg.input, cfg.output)], cfg, ropts, progress=cfg.progress, echo=_above_the_bar)
    if not outcome.done:
        raise _fail(outcome.error)
    fps = outcome.frames / outcome.seconds if outcome.seconds > 0 else 0.0
    typer.echo(
        f"vsr: {outcome.frames} frames in {outcome.seconds:.1f} s ({fps:.1f} fps) on Ray -> {cfg.output}",
        err=True,
    )


@app.command(name="batch")
def batch_(
    inputs: Annotated[
        list[str], typer.Argument(help="Video files, directories of videos, or glob patterns.")
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Directory for the outputs (created).")],
    suffix: Annotated[str, typer.Option(help="Added to each output's file name, e.g. _x4.")] = "",
    ext: Annotated[
        str | None, typer.Option(help="Output extension (container), e.g. .mkv; default: the input's.")
    ] = None,
    scale: Scale = 4,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    backend: Backend = "auto",
    codec: CodecOpt = "libx264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    pix_fmt: PixFmtOpt = None,
    batch: BatchOpt = 8,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = True,
    trust_pickle: TrustPickleOpt = False,
    on_error: OnErrorOpt = "fail",
    colour: ColourOpt = "auto",
    hwaccel: HwaccelOpt = "auto",
    segments: SegmentsOpt = 1,
    warmup: WarmupOpt = 4,
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 0,
    ray_cpus: RayCpusOpt = 1.0,
    ray_gpus: RayGpusOpt = 0.0,
    ray_data: RayDataOpt = "auto",
    part_frames: PartFramesOpt = 3000,
) -> None:
    """Upscale many videos with the same options; finished outputs are skipped, so a rerun continues."""

    from vsr.batch import BatchConfig, run_batch
    from vsr.config import UpscaleConfig

    signal.signal(signal.SIGTERM, _interrupt)
    with _one_line_errors("interrupted; finished outputs are kept, the one in progress was removed"):
        options = UpscaleConfig(
            input=Path("."),
            output=Path("."),
            model=model,
            scale=scale,
            device=device,
            dtype=dtype,
            backend=backend,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            batch=batch,
            overwrite=overwrite,
            trust_pickle=trust_pickle,
            on_error=on_error,
            colour=colour,
            hwaccel=hwaccel,
            segments=segments,
            warmup=warmup,
        )
        ropts = (
            None if ray is None else _ray_options(ray, ray_workers, ray_cpus, ray_gpus, ray_data, part_frames)
        )
        cfg = BatchConfig(
            tuple(inputs), out_dir, options, suffix=suffix, ext=ext, progress=progress, ray=ropts
        )
        report = run_batch(cfg, echo=_above_the_bar)
    typer.echo(report.table())
    if report.failed:
        raise _fail(f"{len(report.failed)} of {len(report.results)} files failed")


@app.command()
def live(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Webcam (0, /dev/video0), rtsp://, rtmp://, srt://, udp://, http(s):// URL, or a file; several are batched."
        ),
    ],
    output: Annotated[
        list[str] | None,
        typer.Option(
            "--output",
            "-o",
            help="File (.mkv/.ts) or rtsp://, rtmp://, udp://, srt:// URL; repeat for several; N=DEST picks source N.",
        ),
    ] = None,
    preview: Annotated[
        bool, typer.Option(help="Show a window (b: side by side with bicubic, q: quit).")
    ] = False,
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Shipped model name, .safetensors path, or bicubic.")
    ] = None,
    fallback: Annotated[
        str,
        typer.Option(
            help="Models or bicubic, comma-separated, each serving a source while the one before drops "
            "frames; none: drop frames (auto: rt-x4,bicubic)."
        ),
    ] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    backend: Backend = "eager",
    rtsp_transport: Annotated[str, typer.Option(help="RTSP input transport: tcp or udp.")] = "tcp",
    realtime: Annotated[
        bool, typer.Option(help="Play file sources at their own frame rate (drop frames when behind).")
    ] = False,
    reconnect: Annotated[
        bool | None,
        typer.Option(
            help="Reconnect lost sources with backoff (default: on for network sources and webcams)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a source to connect or send data.")
    ] = 5.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    max_frames: Annotated[
        int | None, typer.Option(help="Stop after upscaling this many frames per source.")
    ] = None,
    stats_json: Annotated[
        Path | None,
        typer.Option("--stats-json", help="Write frame counts, fps and latency here (also during the run)."),
    ] = None,
    stats_every: Annotated[float, typer.Option(help="Log stats every N seconds (0: never).")] = 10.0,
    codec: Annotated[str, typer.Option(help="Video encoder for outputs.")] = "libx264",
    crf: Annotated[int, typer.Option(help="Constant rate factor of the outputs.")] = 23,
    preset: Annotated[str, typer.Option(help="Encoder preset of the outputs.")] = "veryfast",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", "-y", help="Replace output files that exist.")
    ] = False,
) -> None:
    """Upscale live sources in real time: bounded latency, stale frames dropped, reconnects."""
    from vsr.io.live_outputs import LiveEncode
    from vsr.pipeline.live import LiveConfig, run_live
    from vsr.pipeline.live_stats import LiveStats

    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops like Ctrl-C: outputs are finalised
    with _one_line_errors("interrupted before the sources were open"):
        cfg = LiveConfig(
            sources=tuple(sources),
            outputs=tuple(output or ()),
            preview=preview,
            model=model,
            scale=scale,
            device=device,
            dtype=dtype,
            fallback=fallback,
            backend=backend,
            rtsp_transport=rtsp_transport,
            realtime=realtime,
            reconnect=reconnect,
            timeout=timeout,
            duration=duration,
            max_frames=max_frames,
            stats_json=stats_json,
            stats_every=stats_every,
            encode=LiveEncode(codec=codec, crf=crf, preset=preset),
            overwrite=overwrite,
        )
        final = run_live(cfg, on_stats=lambda snap: typer.echo(f"vsr: {LiveStats.line(snap)}", err=True))
    typer.echo(f"vsr: stopped ({final['stop_reason']}): {LiveStats.line(final)}", err=True)


@app.command()
def bench(
    input: Annotated[
        Path | None, typer.Argument(help="Video to benchmark on (default: a synthetic clip of --size).")
    ] = None,
    size: Annotated[
        list[str] | None, typer.Option(help="Synthetic input size, e.g. 320x180; repeat for several.")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames timed per measurement (after the warm-up).")] = 60,
    warmup: Annotated[int, typer.Option(help="Frames decoded and run before timing starts.")] = 8,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Shipped model, .safetensors path.")
    ] = None,
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    batch: Annotated[list[int] | None, typer.Option(help="Frames per batch; repeat for several.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    backend: Backend = "eager",
    codec: Annotated[str, typer.Option(help="Encoder for the encode stage and end to end.")] = "libx264",
    preset: Annotated[str, typer.Option(help="Encoder preset.")] = "veryfast",
    colour: Annotated[
        str, typer.Option(help="YUV<->RGB on the device, in swscale, or auto (device on CUDA).")
    ] = "auto",
    sweep: Annotated[
        bool, typer.Option(help="Sizes 320x180, 640x360, 960x540 x batches 1, 4, 8 (stages only).")
    ] = False,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time vsr upscale end to end, model and bicubic.")
    ] = True,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot fps against resolution (needs matplotlib).")] = None,
) -> None:
    """Frames per second per stage and end to end, beside the bicubic baseline."""
    import json

    from vsr.bench import BenchConfig, parse_size, plot_report, run_bench, table

    with _one_line_errors():
        sizes = [parse_size(s) for s in (size or [])]
        batches = list(batch or [])
        if sweep:
            sizes = sizes or [(320, 180), (640, 360), (960, 540)]
            batches = batches or [1, 4, 8]
        cfg = BenchConfig(
            input=input,
            sizes=tuple(sizes or [(320, 180)]),
            frames=frames,
            warmup=warmup,
            model=model,
            scale=scale,
            batches=tuple(batches or [8]),
            device=device,
            dtype=dtype,
            backend=backend,
            codec=codec,
            preset=preset,
            colour=colour,
            end_to_end=end_to_end and not sweep,
        )
        report = run_bench(cfg, progress=lambda m: typer.echo(f"vsr: bench {m}", err=True))
        if json_path is not None:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        if plot is not None:
            plot_report(report, plot)
    typer.echo(table(report))


@app.command(name="export")
def export_(
    output: Annotated[Path, typer.Argument(help="File to write (.onnx, or .ep for TensorRT).")],
    format: Annotated[str, typer.Option("--format", "-f", help="onnx or trt.")] = "onnx",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Shipped model or .safetensors path.")
    ] = None,
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    size: Annotated[
        str, typer.Option(help="LR frame size the graph is built for (WxH, multiple of 4).")
    ] = "320x180",
    batch: Annotated[int, typer.Option(help="TensorRT: batch size of the engine.")] = 1,
    dtype: Annotated[str, typer.Option(help="TensorRT: float16 or float32.")] = "float16",
) -> None:
    """Export the generator's step for ONNX Runtime or TensorRT (one frame size per file)."""
    import shutil

    import torch

    from vsr.bench import parse_size
    from vsr.engine.backends import export_onnx
    from vsr.engine.runner import DTYPES
    from vsr.models.zoo import load_model

    with _one_line_errors():
        width, height = parse_size(size)
        if width % 4 or height % 4:
            raise OptionError(
                f"--size {size}: width and height must be multiples of 4 (the flow net's stride)"
            )
        generator, _ = load_model(model, scale)
        if format == "onnx":
            path = export_onnx(generator, output, height=height, width=width)
        elif format == "trt":
            from vsr.engine.tensorrt import TrtGenerator, bucket

            if dtype not in ("float16", "float32"):
                raise OptionError(f"--dtype must be float16 or float32 for TensorRT, got {dtype!r}")
            trt = TrtGenerator(generator, torch.device("cuda"), DTYPES[dtype])
            # the engine upscale would use: frames are padded to the bucket size before it runs
            height, width = bucket(height), bucket(width)
            trt.engine(batch, height, width)
            path = Path(shutil.copyfile(trt.engine_path(batch, height, width), output))
        else:
            raise OptionError(f"--format must be onnx or trt, got {format!r}")
    typer.echo(f"vsr: wrote {path}", err=True)


@app.command(name="eval")
def eval_(
    ref: Annotated[Path, typer.Option("--ref", help="Ground-truth video.")],
    output: Annotated[Path | None, typer.Argument(help="Video to score against --ref.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Degrade --ref, upscale it with this model and bicubic."),
    ] = None,
    scale: Annotated[
        int, typer.Option("--scale", "-s", help="Scale (and border cropped for PSNR/SSIM).")
    ] = 4,
    degradation: Annotated[str, typer.Option(help="With --model: BI, BD, real, web, mixed or broad.")] = "BI",
    frames: Annotated[int, typer.Option(help="Score at most this many frames (0 = all).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Plot per-frame PSNR-Y and flicker (needs matplotlib).")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option(help="PNG of centre crops side by side (middle frame).")
    ] = None,
    jod: Annotated[
        bool,
        typer.Option(
            "--jod",
            help="Also ColorVideoVDP in JOD (needs vsr[jod]; keeps the frames in memory: see --frames).",
        ),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Quality metrics: PSNR-Y, SSIM-Y, tOF, flicker, detail ratio, ERQA (and JOD with --jod)."""
    from vsr.evaluate import EvalConfig, evaluate

    with _one_line_errors():
        cfg = EvalConfig(
            reference=ref,
            output=output,
            model=model,
            scale=scale,
            degradation=degradation,
            frames=frames,
            device=device,
            dtype=dtype,
            json=json_path,
            plot=plot,
            compare=compare,
            jod=jod,
            progress=progress,
        )
        report = evaluate(cfg)
    typer.echo(f"{report.frames} frames of {ref}" + (f", {degradation} x{scale}" if model else ""))
    typer.echo(report.table())


@app.command(
    name="train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def train_(ctx: typer.Context) -> None:
    """Train a generator: runs `python -m train ARGS` from a checkout (see `vsr train --help`)."""
    import os

    checkout = Path(os.getcwd())
    if not (checkout / "train" / "train.py").is_file():
        raise _fail("vsr train runs from the root of a vsr checkout (the train/ folder is not installed)")
    sys.path.insert(0, str(checkout))
    from train.train import main as train_main

    train_main(ctx.args)


@app.command()
def models() -> None:
    """List the shipped models with their scale and validation metrics."""
    from vsr.models.zoo import DEFAULT_FOR_SCALE, USES, shipped_models

    rows = []
    for m in shipped_models():
        psnr, bic = m.info.get("val_psnr_y"), m.info.get("val_bicubic_psnr_y")
        frames, val_input = m.info.get("val_frames_per_clip"), m.info.get("val_degradation", "BI")
        quality = (
            f"{psnr:.2f} dB, bicubic {bic:.2f} (first {frames} frames/clip, {val_input} input)"
            if psnr and bic
            else "-"
        )
        default = " (default)" if DEFAULT_FOR_SCALE.get(m.args.scale) == m.name else ""
        rows.append(
            f"{m.name + default:<22} x{m.args.scale}  {m.args.channels}ch x {m.args.blocks} blocks  "
            f"{m.info.get('stage', '?'):<5} {m.info.get('degradation', '?'):<5} "
            f"iters {m.info.get('iterations', '?'):<6} val PSNR-Y {quality}"
        )
        rows.append(f"{'':<22} use: {USES.get(m.name, '-')}")
    rows.append(f"{'bicubic':<22} any  built-in baseline (no model)")
    typer.echo("\n".join(rows))


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except VsrError as exc:  # raised outside a command body (should not happen): still one line
        print(f"vsr: error: {exc}", file=sys.stderr)
        sys.exit(1)
