"""Real peers for the live tests, on loopback only: Debian's ffmpeg/ffprobe and a GStreamer RTSP server.

Without them the live tests are skipped, unless VSR_REQUIRE_PEERS=1 (set by .ci/run), which turns
a missing peer into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi lives


def require(tool: str) -> None:
    if os.environ.get("VSR_REQUIRE_PEERS") == "1":
        return
    pytest.skip(f"{tool} is not installed (CI installs it; set VSR_REQUIRE_PEERS=1 to fail instead)")


def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        require("ffmpeg")


def need_chromium() -> None:
    """Debian's chromium and chromedriver, and selenium to drive them (the [test] extra)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        require("selenium")
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        require("chromium and chromium-driver")


def need_rtsp_server() -> None:
    ok = Path(SYSTEM_PYTHON).exists() and (
        subprocess.run(
            [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
            capture_output=True,
        ).returncode
        == 0
    )
    if not ok:
        require("gst-rtsp-server (gir1.2-gst-rtsp-server-1.0, python3-gi)")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vsr_command() -> list[str]:
    exe = shutil.which("vsr")
    return [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]


def default_sigint() -> None:
    """preexec_fn for a vsr started to be interrupted: a shell runs background jobs (pytest &,
    nohup, some CI runners) with SIGINT ignored, the child inherits that, and vsr rightly keeps
    an ignored SIGINT ignored; the tests want the interactive case, so restore the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def udp_sender(clip: Path, port: int, gop: int = 25) -> subprocess.Popen:
    """FFmpeg sending `clip` in a loop, in real time, as MPEG-TS over UDP (a key frame every `gop`
    frames: every second by default)."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
         "-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(gop),
         "-keyint_min", str(gop), "-sc_threshold", "0",
         "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def rtsp_server(clip: Path, port: int) -> subprocess.Popen:
    """gst-rtsp-server serving `clip` (H.264 MP4) at rtsp://127.0.0.1:PORT/live; returns once it listens."""
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), str(port), str(clip)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the RTSP server did not start: {line!r}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ffprobe(path: Path) -> dict:
    """Width, height, decoded frame count, duration and video packet times, as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=width,height,nb_read_frames:format=duration:packet=pts_time",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = json.loads(out)
    stream = data["streams"][0]
    return {
        "width": stream["width"],
        "height": stream["height"],
        "frames": int(stream["nb_read_frames"]),
        "duration": float(data["format"].get("duration", 0)),
        "pts": sorted(float(p["pts_time"]) for p in data.get("packets", []) if "pts_time" in p),
    }


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
