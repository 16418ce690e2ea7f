"""Synthetic test clips written with PyAV: moving textured content, optional audio/subtitles."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vsr.frames import FrameBatch


def pattern(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8: a smooth texture with edges that moves right/down 1 px per frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height // 4 + 8, width // 4 + 8, 3)).astype(np.float32)
    big = np.kron(base, np.ones((4, 4, 1), np.float32))  # blocky texture with hard edges
    y, x = index % 16, (2 * index) % 16
    tile = big[y : y + height, x : x + width]
    ramp = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
    return np.clip(tile * 0.7 + ramp, 0, 255).astype(np.uint8)


def moving_batch(n: int, width: int, height: int, seed: int = 0) -> FrameBatch:
    """n frames of `pattern` (moving 1 px a frame) as one RGB FrameBatch at 25 fps."""
    data = torch.stack([torch.from_numpy(pattern(i, width, height, seed=seed)) for i in range(n)])
    return FrameBatch(data, tuple(range(n)), Fraction(1, 25))


def make_clip(
    path: Path,
    *,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    rate: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    subtitles: bool = False,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    colorspace: int | None = None,
    rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
) -> Path:
    """Write a clip and return its path. `pts` (in `time_base`) makes it variable frame rate."""
    time_base = time_base or Fraction(1, rate)
    pts = pts if pts is not None else list(range(frames))
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if codec == "libx264":
            video.codec_context.options = {"crf": "10", "preset": "ultrafast"}
        if colorspace is not None:
            video.codec_context.colorspace = colorspace
            video.codec_context.color_range = 1
            video.codec_context.color_primaries = 1 if colorspace == 1 else 6
            video.codec_context.color_trc = 1 if colorspace == 1 else 6
        if rotation:
            video.set_display_rotation(rotation)
        if sample_aspect_ratio is not None:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        audio_stream = out.add_stream("aac", rate=48000) if audio else None
        if audio_stream is not None:
            audio_stream.layout = "stereo"
        sub_stream = out.add_stream("ass") if subtitles else None  # needs a .mkv path
        if sub_stream is not None:
            sub_stream.codec_context.time_base = Fraction(1, 1000)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = p, time_base
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio_stream is not None:
            duration = float((pts[-1] + 1) * time_base) if pts else 0.0
            samples = int(duration * 48000)
            t = np.arange(samples) / 48000
            tone = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.stack([tone[start : start + 1024]] * 2)
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, start
                for packet in audio_stream.encode(af):
                    out.mux(packet)
            for packet in audio_stream.encode(None):
                out.mux(packet)
        if sub_stream is not None:
            _add_subtitle(out, sub_stream)
    return path


def _add_subtitle(out: av.container.OutputContainer, stream: av.stream.Stream) -> None:
    """One cue at 0.1-0.3 s, written as a raw packet."""
    packet = av.Packet(b"0,0,Default,,0,0,0,,hello")
    packet.stream = stream
    packet.time_base = Fraction(1, 1000)
    packet.pts = packet.dts = 100
    packet.duration = 200
    out.mux(packet)


def yuv_planes(path: Path) -> list[np.ndarray]:
    """Every decoded frame of a file as yuv420p planes (PyAV's packed layout), float64."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p").astype(np.float64) for f in c.decode(video=0)]


def probe(path: Path) -> dict:
    """What the tests assert on: per-stream facts and the decoded video frames' timestamps."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        first = frames[0]
        info = {
            "width": first.width,
            "height": first.height,
            "frames": len(frames),
            "pts_seconds": [float(f.pts * f.time_base) for f in frames],
            "pix_fmt": first.format.name,
            "colorspace": int(first.colorspace),
            "color_range": int(first.color_range),
            "color_primaries": int(first.color_primaries),
            "color_trc": int(first.color_trc),
            "rotation": int(first.rotation or 0),
            "rate": v.average_rate,
            "sample_aspect_ratio": v.sample_aspect_ratio,
            "display_aspect_ratio": v.display_aspect_ratio,
            "codec": v.codec_context.name,
            "streams": [(s.type, s.codec_context.name if s.codec_context else None) for s in c.streams],
        }
        audio = [s for s in c.streams if s.type == "audio"]
        if audio:
            a = audio[0]
            c.seek(0)
            samples = sum(f.samples for f in c.decode(a))
            info["audio_seconds"] = samples / a.codec_context.sample_rate
            info["audio_start"] = float(a.start_time * a.time_base) if a.start_time is not None else None
        return info


def make_damaged_clip(path: Path, *, frames: int = 48, damaged: tuple[int, ...] = (20, 33, 40)) -> Path:
    """A noisy 128x128 H.264 clip whose packets `damaged` (in decode order) have 40 bytes flipped
    in the middle of their slice data: FFmpeg decodes them, concealing the damage."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (128, 128, 3), np.uint8)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width = video.height = 128
        video.pix_fmt = "yuv420p"
        video.codec_context.options = {"crf": "20", "g": "12"}
        index = 0

        def mux(packets: list[av.Packet]) -> None:
            nonlocal index
            for p in packets:
                if index in damaged:
                    data = bytearray(bytes(p))
                    for k in range(len(data) // 2, min(len(data), len(data) // 2 + 40)):
                        data[k] ^= 0x55
                    bad = av.Packet(bytes(data))
                    bad.pts, bad.dts, bad.time_base, bad.is_keyframe = (
                        p.pts,
                        p.dts,
                        p.time_base,
                        p.is_keyframe,
                    )
                    bad.stream = video
                    p = bad
                out.mux(p)
                index += 1

        for i in range(frames):
            image = np.roll(base, 2 * i, axis=1) // 2 + rng.integers(0, 128, (128, 128, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            mux(video.encode(frame))
        mux(video.encode(None))
    return path


def write_lossless_rgb(path: Path, frames: np.ndarray, rate: int = 25) -> Path:
    """(t, h, w, 3) uint8 RGB frames kept exactly: FFV1 in bgr0."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
                format="bgr0"
            )
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path
