"""--backend openvino and openvino-int8 against eager PyTorch, on real frames through the recurrence."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from tests.clips import make_clip, moving_batch, pattern
from vsr.cli import app
from vsr.degradations import bicubic_downscale, crop_to_multiple
from vsr.engine.build import build_runner
from vsr.engine.runner import ColourPlan, StreamState, to_frames
from vsr.engine.runtimes import backend_dtype
from vsr.engine.yuv import YuvMatrix
from vsr.errors import BackendUnavailableError, OptionError
from vsr.frames import FrameBatch
from vsr.metrics import psnr_y
from vsr.models.generator import hr_frame
from vsr.models.zoo import load_model

pytest.importorskip("openvino", reason="the [openvino] extra is not installed")
from vsr.engine.openvino import OpenVinoGenerator  # noqa: E402

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))


def test_openvino_fp32_matches_eager(tmp_path: Path) -> None:
    eager, _ = build_runner("fast-x4", 4, backend="eager", dtype="float32")
    ov, _ = build_runner("fast-x4", 4, backend="openvino", dtype="float32")
    assert isinstance(ov.model, OpenVinoGenerator) and ov.model.precision == "f32"
    frames = moving_batch(6, 76, 44, seed=5)
    a, b = eager.upscale(frames).data, ov.upscale(frames).data
    assert a.shape == b.shape == (6, 176, 304, 3)
    diff = (a.int() - b.int()).abs()
    assert diff.max() <= 1 and diff.float().mean() < 0.01  # fp32 rounding only, through the recurrence
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    assert len(ov.model._compiled) == 1  # compiled once for this shape, reused for every frame


def test_openvino_makes_the_8bit_frames_as_pytorch_does() -> None:
    """The graph's own 8-bit RGB output (pixel shuffle, clamp, x255, rounding, NHWC in OpenVINO)
    equals PyTorch's conversion of the same step's output, code for code, on padded sizes too;
    4:2:0 planes turn it off and go through PyTorch's path."""
    ov, _ = build_runner("fast-x4", 4, backend="openvino", dtype="float32")
    frames = moving_batch(4, 75, 43, seed=3)  # not multiples of the model's padding
    lr = ov._frames_to_model(frames.data)
    state = ov.model.init_state(lr[:1])
    folded = ov.model(lr[:1], *state)
    made = ov.model.rgb8_of(folded)
    assert made is not None and made.dtype == torch.uint8 and made.shape[-1] == 3
    assert torch.equal(made, to_frames(hr_frame(folded, 4), 255))
    assert ov.model.rgb8_of(folded.clone()) is None  # only for the output it was made with
    ov.reset()
    out = ov.upscale(frames).data
    assert out.shape == (4, 172, 300, 3) and out.is_contiguous()
    state, expected = ov.model.init_state(lr[:1]), []  # the same steps through PyTorch's conversion
    for i in range(4):
        folded = ov.model(lr[i : i + 1], *state)
        state = (lr[i : i + 1], folded)
        expected.append(to_frames(hr_frame(folded, 4), 255)[:, :172, :300])
    assert torch.equal(out, torch.cat(expected))

    plan_runner, _ = build_runner("fast-x4", 4, backend="openvino", dtype="float32")
    bt601 = YuvMatrix(0.299, 0.114, full_range=False)
    plan_runner.convert_on_device(ColourPlan(bt601, bt601))
    yuv = torch.zeros(1, 48 * 3 // 2, 64, dtype=torch.uint8) + 128
    plan_runner.upscale(FrameBatch(yuv, (0,), Fraction(1, 25), layout="yuv420p"))
    assert plan_runner.model.rgb8 is False


def test_openvino_batches_of_streams_match_eager() -> None:
    """step_streams: a batch of 3 lanes compiles a batch-3 shape and keeps each lane's state."""
    eager, _ = build_runner("fast-x4", 4, backend="eager", dtype="float32")
    ov, _ = build_runner("fast-x4", 4, backend="openvino", dtype="float32")
    lanes_e, lanes_o = [StreamState() for _ in range(3)], [StreamState() for _ in range(3)]
    for t in range(3):
        frames = torch.stack([torch.from_numpy(pattern(t + 10 * k, 40, 32, seed=k)) for k in range(3)])
        a = eager.step_streams(frames, lanes_e, [t == 0] * 3)
        b = ov.step_streams(frames, lanes_o, [t == 0] * 3)
        assert (a.int() - b.int()).abs().max() <= 1
    assert (3, 32, 40, True) in ov.model._compiled


def test_openvino_options_and_cli(tmp_path: Path) -> None:
    model, _ = load_model("fast-x4", 4)
    with pytest.raises(OptionError, match="float32 or bfloat16"):
        OpenVinoGenerator(model, torch.device("cpu"), torch.float16)
    with pytest.raises(OptionError, match="runs on the CPU"):
        OpenVinoGenerator(model, torch.device("meta"), torch.float32)
    assert backend_dtype("float32", torch.device("cpu"), "openvino") == torch.float32
    clip = make_clip(tmp_path / "in.mp4", frames=5, width=48, height=32)
    result = CliRunner().invoke(
        app, ["upscale", str(clip), str(tmp_path / "out.mkv"), "--backend", "openvino", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "5 frames" in result.stderr


# --- openvino-int8: NNCF post-training quantization, calibrated on the shipped frames ---


def _sample_gt(frames: int) -> torch.Tensor:
    """The first frames of samples/ as (t, 3, h, w) in [0, 1], cropped to a multiple of 16."""
    with av.open(str(SAMPLE)) as c:
        images = [
            f.to_ndarray(format="rgb24") for _, f in zip(range(frames), c.decode(video=0), strict=False)
        ]
    return crop_to_multiple(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255, 16)


def _upscale(runner, lr: torch.Tensor) -> torch.Tensor:
    data = (lr * 255).round().byte().permute(0, 2, 3, 1).contiguous()
    out = runner.upscale(FrameBatch(data, tuple(range(len(data))), Fraction(1, 25))).data
    return out.permute(0, 3, 1, 2).float() / 255


def _mean_psnr_y(sr: torch.Tensor, gt: torch.Tensor) -> float:
    return float(np.mean([psnr_y(a, b, border=4) for a, b in zip(sr, gt, strict=True)]))


def test_openvino_int8_keeps_fp32_quality(tmp_path: Path) -> None:
    """int8 against the ground truth (BI x4 of the sample), through the recurrence: within 0.05 dB
    PSNR-Y of eager fp32, and still above bicubic. The int8 graph is cached on disk."""
    pytest.importorskip("nncf", reason="the [int8] extra is not installed")
    gt = _sample_gt(16)
    lr = bicubic_downscale(gt, 4)
    eager, _ = build_runner("fast-x4", 4, backend="eager", dtype="float32")
    int8, _ = build_runner("fast-x4", 4, backend="openvino-int8")
    assert isinstance(int8.model, OpenVinoGenerator) and int8.model.int8
    fp32_db, int8_db = _mean_psnr_y(_upscale(eager, lr), gt), _mean_psnr_y(_upscale(int8, lr), gt)
    bicubic_db = _mean_psnr_y(F.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 1), gt)
    assert abs(int8_db - fp32_db) <= 0.05, (int8_db, fp32_db)
    assert int8_db > bicubic_db + 0.3  # as the shipped model must (test_quality.py)
    assert len(list((tmp_path / "cache" / "openvino-int8").glob("*.xml"))) == 1


def test_openvino_int8_on_bright_and_other_sizes() -> None:
    """Calibration is resized to each input size and covers bright pictures: a bright, inverted
    pattern at another size stays within 40 dB (8-bit RGB) of eager fp32 through the recurrence."""
    pytest.importorskip("nncf", reason="the [int8] extra is not installed")
    moving = moving_batch(5, 76, 44, seed=3)
    frames = FrameBatch(255 - moving.data, moving.pts, moving.time_base)
    eager, _ = build_runner("fast-x4", 4, backend="eager", dtype="float32")
    int8, _ = build_runner("fast-x4", 4, backend="openvino-int8", dtype="float32")
    a, b = eager.upscale(frames).data.float(), int8.upscale(frames).data.float()
    mse = float(((a - b) ** 2).mean())
    assert 10 * np.log10(255**2 / mse) > 40


def test_openvino_int8_options(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load_model("fast-x4", 4)
    with pytest.raises(OptionError, match="runs in float32"):
        OpenVinoGenerator(model, torch.device("cpu"), torch.bfloat16, int8=True)
    with pytest.raises(OptionError, match="float32"):
        backend_dtype("bfloat16", torch.device("cpu"), "openvino-int8")
    monkeypatch.setitem(sys.modules, "nncf", None)  # as if the [int8] extra were not installed
    with pytest.raises(BackendUnavailableError, match=r"vsr\[int8\]"):
        OpenVinoGenerator(model, torch.device("cpu"), torch.float32, int8=True)
