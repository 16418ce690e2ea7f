"""Long inputs: memory stays flat (the benchmark version is benchmarks/memory.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from vsr.bench import synthetic_clip


def _peak_rss_mb(args: list[str]) -> float:
    exe = shutil.which("vsr")
    cmd = [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]
    proc = subprocess.Popen([*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode()
    return usage.ru_maxrss / 1024


def test_peak_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    # 96x64 -> 384x256: 600 frames kept in memory would add ~180 MB of HR frames alone.
    peaks = {}
    for frames in (60, 600):
        clip = synthetic_clip(tmp_path / f"in{frames}.mp4", 96, 64, frames)
        out = tmp_path / f"out{frames}.mkv"
        peaks[frames] = _peak_rss_mb(["upscale", str(clip), str(out), "--backend", "eager", "--no-progress"])
    assert peaks[600] <= 1.15 * peaks[60], peaks
