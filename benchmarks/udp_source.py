"""A real live source for the live benchmarks: FFmpeg sending the sample as UDP MPEG-TS.

(The tests have their own copy in tests/peers, which is not installed with the package.)
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_sender(port: int, clip: Path = SAMPLE) -> subprocess.Popen:
    """`clip` looped in real time (25 fps) to udp://127.0.0.1:PORT, a key frame every second."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
         "-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
         "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
