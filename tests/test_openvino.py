"""--backend openvino against eager PyTorch, on real frames through the recurrence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.clips import make_clip, moving_batch, pattern
from vsr.cli import app
from vsr.engine.backends import backend_dtype, build_runner
from vsr.engine.runner import StreamState
from vsr.errors import OptionError
from vsr.models.zoo import load_model

pytest.importorskip("openvino", reason="the [openvino] extra is not installed")
from vsr.engine.openvino import OpenVinoGenerator  # noqa: E402


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
    assert (3, 32, 40) in ov.model._compiled


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
