"""Checks that fail loudly where the GPU path would silently fall back (benchmarks/gpu_session.sh).

Each check records what happened and whether it held, in one JSON file:

- sync_free: a steady-state Runner.upscale (yuv420p batches converted on the device, eager fp16)
  under torch.cuda.set_sync_debug_mode("error"): any host sync inside the upscale step raises.
- cuda_graphs: --backend compile on CUDA replays CUDA graphs, first in the thread that compiled it,
  then from a second thread (as the pipeline's upscale thread does); a fallback is recorded by
  CompiledGenerator (loudly, no longer silently) and is a failure here.
- nvdec: a VideoReader with --hwaccel cuda reports hardware decoding only when frames arrive as
  hardware frames; frames must equal the CPU decoder's count.
- nvenc: whether h264_nvenc / hevc_nvenc start here (H100/H200 have no NVENC: "absent" is a
  finding, not a failure; the writer falls back to libx264/libx265 with one line).
- trt: whether torch-tensorrt or ONNX Runtime's TensorRT provider is installed.

    python benchmarks/gpu_checks.py --json $OUT/gpu_checks.json   (exit 1 if a check failed)
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from vsr.bench import save_result
from vsr.engine.build import build_runner
from vsr.engine.compiled import CompiledGenerator
from vsr.engine.runner import ColourPlan
from vsr.engine.yuv import YuvMatrix
from vsr.frames import FrameBatch
from vsr.io.reader import VideoReader
from vsr.io.writer import encoder_starts
from vsr.models.zoo import load_model


def _yuv_batches(n: int, batch: int, width: int, height: int) -> list[FrameBatch]:
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(16, 235, (n, height * 3 // 2, width), dtype=torch.uint8, generator=g)
    return [
        FrameBatch(frames[i : i + batch], tuple(range(i, i + batch)), Fraction(1, 25), layout="yuv420p")
        for i in range(0, n, batch)
    ]


def check_sync_free(width: int, height: int) -> dict[str, Any]:
    runner, _ = build_runner("fast-x4", 4, backend="eager", device="cuda")
    bt709 = YuvMatrix.from_tags(1, 1)
    runner.convert_on_device(ColourPlan(bt709, bt709))
    batches = _yuv_batches(48, 8, width, height)
    for b in batches[:2]:  # warm-up: cuDNN autotuning, allocator, pinned buffers
        runner.upscale(b).host()
    outputs, error = [], None
    torch.cuda.set_sync_debug_mode("error")
    try:
        for b in batches[2:]:
            outputs.append(runner.upscale(b))  # the upscale thread's work: no host sync allowed
    except RuntimeError as exc:
        error = str(exc).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    frames = sum(len(o.host()) for o in outputs)  # the encoder thread's side waits on events
    return {"ok": error is None, "error": error, "frames": frames, "size": f"{width}x{height}"}


def check_cuda_graphs(width: int, height: int) -> dict[str, Any]:
    model, _ = load_model("fast-x4")
    device = torch.device("cuda")
    eager = model.to(device).eval()
    gen = CompiledGenerator(model, device).to(device)
    lr = torch.rand(1, 3, height, width, device=device)
    state = gen.init_state(lr)
    timings: dict[str, float] = {}

    def run(label: str, steps: int) -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            gen(lr, *state)
            torch.cuda.synchronize()  # sync point: timing
            start = time.perf_counter()
            for _ in range(steps):
                gen(lr, *state)
            torch.cuda.synchronize()  # sync point: timing
            timings[label] = (time.perf_counter() - start) / steps * 1000

    run("compile_thread_ms", 50)
    main_fallback = gen.fallback
    worker = threading.Thread(target=run, args=("second_thread_ms", 50))
    worker.start()
    worker.join()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        torch.cuda.synchronize()  # sync point: timing
        start = time.perf_counter()
        for _ in range(50):
            eager(lr, *state)
        torch.cuda.synchronize()  # sync point: timing
        timings["eager_ms"] = (time.perf_counter() - start) / 50 * 1000
    return {
        "ok": gen.fallback is None,
        "fallback_in_compile_thread": main_fallback,
        "fallback": gen.fallback,
        "torch": torch.__version__,
        **{k: round(v, 3) for k, v in timings.items()},
    }


def check_nvdec(clip: Path) -> dict[str, Any]:
    with VideoReader(clip) as cpu:
        cpu_frames = sum(len(b) for b in cpu.batches(8))
    start = time.perf_counter()
    with VideoReader(clip, hwaccel="cuda") as gpu:
        hardware = gpu.hwaccel is not None
        frames = sum(len(b) for b in gpu.batches(8))
        fmt = gpu.stream.codec_context.format.name if gpu.stream.codec_context.format else None
    seconds = time.perf_counter() - start
    return {
        "ok": hardware and frames == cpu_frames,
        "hardware_frames": hardware,
        "context_format": fmt,
        "frames": frames,
        "cpu_frames": cpu_frames,
        "fps": round(frames / seconds, 1),
    }


def check_nvenc() -> dict[str, Any]:
    found = {}
    for name in ("h264_nvenc", "hevc_nvenc", "av1_nvenc"):
        try:
            reason = encoder_starts(name)
        except Exception as exc:  # noqa: BLE001 - an encoder this FFmpeg lacks: report it
            reason = f"{type(exc).__name__}: {exc}"
        found[name] = "starts" if reason is None else f"absent ({reason})"
    return {"ok": True, **found}


def check_trt() -> dict[str, Any]:
    info: dict[str, Any] = {"ok": True}
    try:
        import torch_tensorrt

        info["torch_tensorrt"] = torch_tensorrt.__version__
    except ImportError:
        info["torch_tensorrt"] = None
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime_providers"] = None
    return info


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, :, 0] = (np.arange(width) + 4 * i) % 256
            img[:, :, 1] = (np.arange(height)[:, None] * 2) % 256
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_checks.py needs CUDA")
    results: dict[str, Any] = {"gpu": torch.cuda.get_device_name()}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "nvdec.mp4", 120, 1280, 720)
        checks = {
            "sync_free": lambda: check_sync_free(480, 270),
            "cuda_graphs": lambda: check_cuda_graphs(480, 272),
            "nvdec": lambda: check_nvdec(clip),
            "nvenc": check_nvenc,
            "trt": check_trt,
        }
        for name, check in checks.items():
            try:
                results[name] = check()
            except Exception as exc:  # noqa: BLE001 - a crash is a failed check, recorded
                results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(name, results[name], flush=True)
    failed = [name for name, r in results.items() if isinstance(r, dict) and not r.get("ok")]
    save_result(args.json, failed=failed, **results)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
