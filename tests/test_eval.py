"""vsr eval: metrics checked against values computed by hand on videos the test writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.clips import make_clip, write_lossless_rgb
from vsr.cli import app


def _constant_video(
    path: Path, rgb: tuple[int, int, int], frames: int = 4, size: tuple[int, int] = (32, 24)
) -> Path:
    """Lossless RGB (FFV1, bgr0) frames of one colour."""
    image = np.empty((frames, size[1], size[0], 3), np.uint8)
    image[:] = rgb
    return write_lossless_rgb(path, image)


def _eval(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["eval", *args, "--no-progress"])
    return result.exit_code, result.stdout, result.stderr


def test_constant_offset_psnr_by_hand(tmp_path: Path) -> None:
    gt = _constant_video(tmp_path / "gt.mkv", (100, 100, 100))
    out = _constant_video(tmp_path / "out.mkv", (110, 110, 110))
    code, _, err = _eval(str(out), "--ref", str(gt), "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    # Y = 16 + 219 * v / 255, rounded: 102 and 110 -> MSE 64 -> PSNR 10 log10(255^2 / 64)
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]["output"]
    assert summary["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 64), abs=1e-9)
    assert summary["flicker"] == 0.0 and summary["tof"] == pytest.approx(0.0, abs=1e-6)


def test_identical_videos(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", frames=5)
    code, out, _ = _eval(str(clip), "--ref", str(clip), "--json", str(tmp_path / "r.json"))
    assert code == 0
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]["output"]
    assert summary["psnr_y"] == math.inf and summary["tof"] == 0.0 and summary["ssim_y"] == pytest.approx(1.0)
    assert summary["detail"] == 1.0 and summary["erqa"] == 1.0
    assert "inf" in out and "ERQA" in out


def test_mismatches_are_errors(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", frames=5)
    code, _, err = _eval(str(make_clip(tmp_path / "b.mp4", frames=5, width=32, height=32)), "--ref", str(a))
    assert code == 1 and "same size" in err
    code, _, err = _eval(str(make_clip(tmp_path / "c.mp4", frames=3)), "--ref", str(a))
    assert code == 1 and "fewer frames" in err
    code, _, err = _eval("--ref", str(a))
    assert code == 1 and "either an output video" in err


def test_model_mode_reports_both_and_writes_compare(tmp_path: Path) -> None:
    ref = make_clip(tmp_path / "ref.mp4", frames=6, width=96, height=64)
    code, out, err = _eval(
        "--ref",
        str(ref),
        "--model",
        "fast-x4",
        "--json",
        str(tmp_path / "r.json"),
        "--compare",
        str(tmp_path / "c.png"),
    )
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["summary"]) == {"bicubic", "fast-x4"} and report["frames"] == 6
    for method in report["summary"].values():
        assert 0 < method["detail"] < 2 and 0 <= method["erqa"] <= 1
    assert len(report["per_frame"]["fast-x4"]["psnr_y"]) == 6
    assert (tmp_path / "c.png").stat().st_size > 0
    assert "bicubic" in out and "fast-x4" in out
