"""Bad input gives one line on stderr, a non-zero exit and no output, in-process and as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.clips import make_clip, probe
from tests.peers import default_sigint
from vsr.cli import app
from vsr.models.zoo import shipped_models


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=48000)
        for start in range(0, 48000, 1024):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, start
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def _truncated(path: Path) -> Path:
    make_clip(path, frames=20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # MP4 from libx264 keeps its index at the end
    return path


Case = Callable[[Path], tuple[list[str], str]]

CASES: dict[str, Case] = {
    "missing input": lambda d: (["upscale", str(d / "nope.mp4"), str(d / "o.mp4")], "does not exist"),
    "text named .mp4": lambda d: (
        (d / "t.mp4").write_text("hello") and ["upscale", str(d / "t.mp4"), str(d / "o.mp4")],
        "not a video FFmpeg can read",
    ),
    "audio only": lambda d: (
        ["upscale", str(_audio_only(d / "a.m4a")), str(d / "o.mp4")],
        "has no video stream",
    ),
    "truncated": lambda d: (
        ["upscale", str(_truncated(d / "cut.mp4")), str(d / "o.mp4")],
        "not a video FFmpeg can read",
    ),
    "output dir missing": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "no" / "o.mp4")],
        "output directory",
    ),
    "output is input": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "in.mp4"), "-y"],
        "is the input file",
    ),
    "output exists": lambda d: (
        (d / "o.mp4").write_bytes(b"keep") and ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4")],
        "exists; pass -y/--overwrite",
    ),
    "unknown model": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--model", "nope"],
        "neither a shipped model",
    ),
    "scale the model lacks": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--model", "fast-x4", "--scale", "2"],
        "upscales x4, not x2",
    ),
    "unknown encoder": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--codec", "nope264"],
        "no such encoder",
    ),
    "crf out of range": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--crf", "99"],
        "--crf",
    ),
    "pix-fmt the encoder lacks": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--pix-fmt", "rgb8"],
        "not supported by libx264",
    ),
    "bad device": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--device", "tpu"],
        "--device",
    ),
    "batch zero": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "o.mp4"), "--batch", "0"],
        "--batch",
    ),
    "zero-byte file": lambda d: (
        (d / "z.mp4").write_bytes(b"") or ["upscale", str(d / "z.mp4"), str(d / "o.mp4")],
        "not a video FFmpeg can read",
    ),
    "image named .mp4": lambda d: (
        cv2.imwrite(str(d / "i.png"), np.zeros((32, 48, 3), np.uint8))
        and (d / "i.png").rename(d / "i.mp4")
        and ["upscale", str(d / "i.mp4"), str(d / "o.mp4")],
        "is a still image",
    ),
    "output is a hard link to the input": lambda d: (
        os.link(make_clip(d / "in.mp4"), d / "link.mp4")
        or ["upscale", str(d / "in.mp4"), str(d / "link.mp4"), "-y"],
        "is the input file",
    ),
    "URL input": lambda d: (
        ["upscale", "rtsp://127.0.0.1:9/none", str(d / "o.mp4")],
        "is a URL: vsr upscale reads files",
    ),
    "no extension": lambda d: (
        ["upscale", str(make_clip(d / "in.mp4")), str(d / "out")],
        "cannot tell the container",
    ),
}


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_cli_runner(tmp_path: Path, case: str) -> None:
    args, message = CASES[case](tmp_path)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(tmp_path) == before  # nothing written, nothing touched


@pytest.mark.parametrize("case", ["missing input", "truncated", "output exists", "unknown model"])
def test_bad_input_subprocess(tmp_path: Path, case: str) -> None:
    args, message = CASES[case](tmp_path)
    before = _snapshot(tmp_path)
    exe = shutil.which("vsr")
    cmd = [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("vsr: error: ") and message in proc.stderr
    assert _snapshot(tmp_path) == before


def test_success_prints_summary_and_overwrites_with_y(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=5)
    (tmp_path / "o.mp4").write_bytes(b"old")
    result = CliRunner().invoke(app, ["upscale", str(src), str(tmp_path / "o.mp4"), "-y", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "5 frames 64x48 -> 256x192" in result.stderr
    assert probe(tmp_path / "o.mp4")["frames"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o.mp4"]


def test_models_lists_shipped() -> None:
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0
    assert "fast-x4 (default)" in result.stdout and "x4" in result.stdout
    lines = result.stdout.splitlines()
    for m in shipped_models():  # every model says in one line what it is for
        row = next(i for i, line in enumerate(lines) if line.startswith(m.name))
        assert lines[row + 1].split()[:1] == ["use:"] and lines[row + 1].strip() != "use: -", m.name


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_leaves_nothing(tmp_path: Path, sig: str) -> None:
    import signal
    import time

    # Frames big enough that the signal lands inside a model step: the process must still wait for
    # the step and exit 130, not abort (a stage thread killed in native code at interpreter exit).
    src = make_clip(tmp_path / "in.mp4", frames=100, width=480, height=360)
    before = _snapshot(tmp_path)
    exe = shutil.which("vsr")
    cmd = [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]
    proc = subprocess.Popen(
        [*cmd, "upscale", str(src), str(tmp_path / "o.mp4"), "--no-progress", "--preset", "ultrafast"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )  # ultrafast: no look-ahead, so the partial file appears with the first frames
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".o.vsr-partial*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".o.vsr-partial*")), "the run never started writing"
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130
    assert stderr.strip() == (
        "vsr: error: interrupted; no output was written "
        "(with --resume, a rerun could go on from where it stopped)"
    )
    assert _snapshot(tmp_path) == before


def test_disk_full_one_line_and_nothing_left(tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails with EFBIG."""
    import resource

    src = make_clip(tmp_path / "in.mp4", frames=40, width=160, height=120)
    before = _snapshot(tmp_path)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    exe = shutil.which("vsr")
    cmd = [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]
    proc = subprocess.run(
        [*cmd, "upscale", str(src), str(tmp_path / "o.mp4"), "--no-progress"],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "File too large" in proc.stderr, proc.stderr
    assert _snapshot(tmp_path) == before


def test_non_ascii_paths_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "vidéos d'été ✓"
    folder.mkdir()
    src = make_clip(folder / "entrée 1.mp4", frames=4)
    out = folder / "sortie ×4.mkv"
    result = CliRunner().invoke(app, ["upscale", str(src), str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert probe(out)["frames"] == 4


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_directory(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = CliRunner().invoke(app, ["upscale", str(src), str(locked / "o.mp4")])
        assert result.exit_code == 1 and "not writable" in result.stderr
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_pickled_checkpoint_only_with_trust_pickle(tmp_path: Path) -> None:
    """A training checkpoint is a pickle: refused (and never unpickled) unless --trust-pickle."""
    import torch

    from vsr.models.zoo import load_model

    model, _ = load_model("fast-x4")
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"model_args": model.args.__dict__, "model": model.state_dict(), "ema": None, "iter": 7}, ckpt)
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    )  # a pickle that runs a command
    src = make_clip(tmp_path / "in.mp4", frames=3)
    refused = CliRunner().invoke(app, ["upscale", str(src), str(tmp_path / "a.mkv"), "--model", str(evil)])
    assert refused.exit_code == 1 and "--trust-pickle" in refused.stderr and not marker.exists()
    ok = CliRunner().invoke(
        app,
        [
            "upscale",
            str(src),
            str(tmp_path / "b.mkv"),
            "--model",
            str(ckpt),
            "--trust-pickle",
            "--no-progress",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert probe(tmp_path / "b.mkv")["frames"] == 3


def test_every_commands_help_keeps_the_extras_names() -> None:
    """Help text is plain: "[openvino]" and the other extras' names are printed, not read as markup
    (which printed "the  extra"); every command's help renders."""
    runner = CliRunner()
    backend_help = 0
    for command in ("upscale", "batch", "live", "bench", "export", "eval", "models"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "the  extra" not in result.output, command
        if "--backend" in result.output:
            backend_help += 1
            for extra in ("[openvino]", "[int8]", "[trt]"):
                assert extra in result.output, (command, extra)
    assert backend_help == 4  # upscale, batch, live, bench


def test_every_upscale_option_reaches_the_config() -> None:
    """`vsr upscale` builds its UpscaleConfig from its own parameters by name: every field of the
    config is an option of the command, and the command's other options (Ray's) stay out."""
    import dataclasses
    import inspect

    from vsr.commands.upscale import upscale
    from vsr.config import UpscaleConfig

    params = inspect.signature(upscale).parameters
    fields = {f.name for f in dataclasses.fields(UpscaleConfig)}
    assert fields <= set(params), fields - set(params)
    given = {name: p.default for name, p in params.items()} | {"input": "a.mp4", "output": "b.mkv"}
    given |= {"crf": 30, "ray_workers": 3}
    cfg = UpscaleConfig.from_options(given, preset="fast")
    assert (cfg.crf, cfg.preset, str(cfg.output)) == (30, "fast", "b.mkv")
    assert not hasattr(cfg, "ray_workers")
