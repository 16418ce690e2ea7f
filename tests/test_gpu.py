"""What the GPU path must not do silently: sync the host per frame, drop CUDA graphs in another
thread, claim NVDEC while FFmpeg decodes in software. Marked `cuda` (skipped without a GPU;
VSR_REQUIRE_CUDA=1 makes them fail instead, as benchmarks/gpu_session.sh does)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from tests.clips import make_clip
from vsr.engine.build import build_runner
from vsr.engine.compiled import CompiledGenerator
from vsr.engine.runner import ColourPlan
from vsr.engine.yuv import YuvMatrix
from vsr.frames import FrameBatch
from vsr.io.reader import VideoReader
from vsr.models.zoo import load_model


def _yuv_batches(n: int, width: int, height: int) -> list[FrameBatch]:
    g = torch.Generator().manual_seed(0)
    data = torch.randint(16, 235, (n * 4, height * 3 // 2, width), dtype=torch.uint8, generator=g)
    return [
        FrameBatch(data[i : i + 4], tuple(range(i, i + 4)), Fraction(1, 25), layout="yuv420p")
        for i in range(0, n * 4, 4)
    ]


@pytest.mark.cuda
def test_steady_state_upscale_never_syncs_the_host() -> None:
    runner, _ = build_runner("fast-x4", 4, device="cuda")
    bt709 = YuvMatrix.from_tags(1, 1)
    runner.convert_on_device(ColourPlan(bt709, bt709))
    batches = _yuv_batches(5, 320, 180)
    for b in batches[:2]:
        runner.upscale(b).host()  # warm-up: cuDNN, the allocator and the pinned buffers settle
    torch.cuda.set_sync_debug_mode("error")
    try:
        outputs = [runner.upscale(b) for b in batches[2:]]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert sum(len(o.host()) for o in outputs) == 12


@pytest.mark.cuda
def test_cuda_graphs_survive_a_second_thread() -> None:
    """Compiled in this thread, run in another (as the pipeline's upscale thread does): the graphs
    replay there, or the fallback is recorded, never silently eager."""
    model, _ = load_model("fast-x4")
    device = torch.device("cuda")
    gen = CompiledGenerator(model, device).to(device)
    lr = torch.rand(1, 3, 180, 320, device=device)
    state = gen.init_state(lr)
    with torch.inference_mode():
        expected = gen(lr, *state)
    results: list[torch.Tensor] = []

    def worker() -> None:
        with torch.inference_mode():
            results.append(gen(lr, *state))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert gen.fallback is None, gen.fallback
    torch.testing.assert_close(results[0], expected, atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
def test_nvdec_reported_only_for_hardware_frames(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=30, width=320, height=180)
    with VideoReader(src, hwaccel="cuda") as reader:
        assert reader.hwaccel == "cuda", "NVDEC did not deliver hardware frames"
        assert reader.stream.codec_context.format.name == "cuda"
        assert sum(len(b) for b in reader.batches(8)) == 30
