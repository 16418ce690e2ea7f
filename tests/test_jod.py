"""ColorVideoVDP (vsr[jod]): vsr's JOD against the reference implementation's own command line on
the same files, its ordering on known distortions, and the one-line error without the extra."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.clips import pattern, write_lossless_rgb
from vsr.cli import app

HAVE_CVVDP = importlib.util.find_spec("pycvvdp") is not None
needs_cvvdp = pytest.mark.skipif(not HAVE_CVVDP, reason="ColorVideoVDP is not installed (vsr[jod])")


def _frames(n: int = 12, width: int = 128, height: int = 96, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = np.stack([pattern(i, width, height) for i in range(n)]).astype(np.float32)
    return np.clip(clean + rng.normal(0, noise, clean.shape), 0, 255).round().astype(np.uint8)


@needs_cvvdp
def test_jod_is_ten_for_the_reference_and_falls_with_noise() -> None:
    from vsr.jod import jod

    ref = _frames()
    assert jod(ref, ref, 25) == pytest.approx(10.0, abs=1e-3)
    light, heavy = jod(_frames(noise=3), ref, 25), jod(_frames(noise=12), ref, 25)
    assert 10.0 > light > heavy
    assert jod(ref[0], ref[0], 0) == pytest.approx(10.0, abs=1e-3)  # one image


@needs_cvvdp
def test_vsr_eval_jod_matches_the_cvvdp_command(tmp_path: Path) -> None:
    """The same two lossless files through `cvvdp` (pycvvdp's own reader, ffmpeg's colour conversion
    (--ffmpeg-cc: its GPU-style path takes 4:2:0 only) and CLI) and `vsr eval --jod`."""
    cli = shutil.which("cvvdp", path=str(Path(sys.executable).parent))
    if cli is None or shutil.which("ffmpeg") is None:
        pytest.skip("the cvvdp command needs its script and the ffmpeg binary")
    ref = write_lossless_rgb(tmp_path / "ref.mkv", _frames())
    out = write_lossless_rgb(tmp_path / "out.mkv", _frames(noise=6, seed=1))
    result = CliRunner().invoke(
        app,
        ["eval", str(out), "--ref", str(ref), "--jod", "--json", str(tmp_path / "r.json"), "--no-progress"],
    )
    assert result.exit_code == 0, result.stderr
    ours = json.loads((tmp_path / "r.json").read_text())["summary"]["output"]["jod"]
    assert "JOD" in result.stdout
    run = subprocess.run(
        [
            cli,
            "--test",
            str(out),
            "--ref",
            str(ref),
            "--display",
            "standard_fhd",
            "--device",
            "cpu",
            "--ffmpeg-cc",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = float(re.search(r"cvvdp=([0-9.]+)", run.stdout + run.stderr).group(1))
    assert 5.0 < theirs < 9.9
    assert ours == pytest.approx(theirs, abs=0.01)


@pytest.mark.skipif(HAVE_CVVDP, reason="checks the message shown without ColorVideoVDP")
def test_jod_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    clip = write_lossless_rgb(tmp_path / "a.mkv", _frames(n=3))
    result = CliRunner().invoke(app, ["eval", str(clip), "--ref", str(clip), "--jod", "--no-progress"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "vsr[jod]" in result.stderr
    assert "Traceback" not in result.stderr
