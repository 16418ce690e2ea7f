"""Option definitions shared by several commands (typer `Annotated` types), defined once."""

from __future__ import annotations

from typing import Annotated

import typer

Backend = Annotated[
    str,
    typer.Option(
        help="auto (on a CPU: the fastest installed runtime, measured once per CPU, model and size for "
        "inputs of 1000+ frames and live streams, and cached; compile is a candidate from 2000 frames, "
        "never live; elsewhere eager), "
        "eager (PyTorch), compile "
        "(torch.compile), ort (ONNX Runtime, fp32), openvino (OpenVINO, CPU, the [openvino] extra), "
        "openvino-int8 (OpenVINO after NNCF int8 quantization, CPU, the [int8] extra) "
        "or trt (Torch-TensorRT, NVIDIA, the [trt] extra)."
    ),
]


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
