"""Rebuild vsr/engine/calibration.mp4, the frames `--backend openvino-int8` calibrates on.

Frames 120-135 of the CC0 source clip of the sample (cityCC0.mpg, see README.md), resized to
320x180 with swscale's area filter and encoded with libx264 CRF 12 (no audio). Run from the
repository root.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sample_source/cityCC0.mpg"
OUT = "vsr/engine/calibration.mp4"
FIRST, FRAMES, RATE = 120, 16, 25

with av.open(SOURCE) as src, av.open(OUT, "w") as dst:
    video = dst.add_stream("libx264", rate=RATE)
    video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
    video.codec_context.options = {"crf": "12", "preset": "slow"}
    video.codec_context.colorspace = 6  # SMPTE170M (BT.601), as the source is decoded
    video.codec_context.color_range = 1  # limited
    for i, frame in enumerate(src.decode(video=0)):
        if i >= FIRST + FRAMES:
            break
        if i < FIRST:
            continue
        small = frame.reformat(width=320, height=180, format="yuv420p", interpolation="AREA")
        small.pts, small.time_base = i - FIRST, Fraction(1, RATE)
        for packet in video.encode(small):
            dst.mux(packet)
    for packet in video.encode(None):
        dst.mux(packet)
print(OUT)
