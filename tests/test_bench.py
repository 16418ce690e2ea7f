"""vsr bench: every figure comes with the bicubic baseline measured in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.clips import make_clip
from vsr.bench import STAGES, parse_size
from vsr.cli import app
from vsr.errors import OptionError


def test_bench_json_has_every_stage_the_baseline_and_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--size", "64x48", "--frames", "6", "--warmup", "2", "--batch", "2", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["model"] == "fast-x4" and report["machine"]["cores"] >= 1
    assert report["command"].startswith("vsr ")
    (row,) = report["rows"]
    assert row["size"] == "64x48" and row["batch"] == 2
    for stages in (row["stages"], row["bicubic_stages"]):
        assert set(stages) == set(STAGES) and all(v > 0 for v in stages.values())
    e2e = row["end_to_end"]
    assert e2e["model_fps"] > 0 and e2e["bicubic_fps"] > 0
    assert e2e["time_ratio_vs_bicubic"] == pytest.approx(e2e["bicubic_fps"] / e2e["model_fps"])
    assert "bicubic" in result.stdout and "ratio" in result.stdout
    limit = row["limit"]  # the slowest thread of vsr upscale, from the stages timed alone
    assert limit["fps"] == min(limit["threads_fps"].values())
    assert limit["fps"] <= min(row["stages"][s] for s in limit["stages"])
    assert f"the limit is the {limit['thread']} thread" in result.stdout


def test_bench_on_a_file_with_two_batch_sizes(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, width=48, height=32)
    out = tmp_path / "bench.json"
    args = ["bench", str(clip), "--frames", "6", "--warmup", "2", "--batch", "1", "--batch", "4"]
    result = CliRunner().invoke(app, [*args, "--no-end-to-end", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert [(r["size"], r["batch"]) for r in rows] == [("48x32", 1), ("48x32", 4)]
    assert all(r["end_to_end"] == {} for r in rows)


def test_bench_colour_on_device_and_its_fallback(tmp_path: Path) -> None:
    """--colour device times the torch conversion as the colour stages; a 10-bit file cannot take
    that path and the row says swscale converted it."""
    out = tmp_path / "bench.json"
    args = [
        "bench",
        "--size",
        "64x48",
        "--frames",
        "6",
        "--warmup",
        "2",
        "--batch",
        "4",
        "--colour",
        "device",
    ]
    result = CliRunner().invoke(app, [*args, "--no-end-to-end", "--json", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["rows"]
    assert row["colour"] == "device" and all(v > 0 for v in row["stages"].values())
    assert "colour by device" in result.stdout
    deep = make_clip(tmp_path / "deep.mkv", frames=10, codec="ffv1", pix_fmt="yuv420p10le")
    args = ["bench", str(deep), "--frames", "6", "--warmup", "2", "--batch", "4", "--colour", "device"]
    result = CliRunner().invoke(app, [*args, "--no-end-to-end", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["rows"][0]["colour"] == "swscale"


def test_bench_bad_options_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--size", "320by180"], "--size must look like"),
        (["--size", "15x9"], "even and at least 16"),
        ([str(tmp_path / "missing.mp4")], "does not exist"),
        (["--frames", "1"], "--frames must be at least 2"),
        (["--colour", "gpu"], "--colour must be one of"),
    ):
        result = CliRunner().invoke(app, ["bench", *args])
        assert result.exit_code == 1
        assert result.stderr.strip().startswith("vsr: error:") and message in result.stderr
    with pytest.raises(OptionError):
        parse_size("0x0")
