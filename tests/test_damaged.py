"""Damaged, truncated and unusual input: fail by default, or conceal and count with --on-error skip;
never a silently shorter output. Also what must simply work: 1x1, 4:4:4, duplicate timestamps,
attachments, outputs too large for memory."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import vsr
from tests.clips import make_clip, make_damaged_clip, probe
from vsr.cli import app
from vsr.errors import InputError
from vsr.pipeline.memory import (
    GPU_BASE_BYTES,
    GPU_BYTES_PER_PIXEL_PER_FRAME,
    estimate_bytes,
    fit_batch,
    fit_batch_gpu,
)


def _run(*args: str):
    return CliRunner().invoke(app, ["upscale", *args, "--no-progress"])


def faststart_truncated(path: Path) -> Path:
    """An MP4 with its index at the front (faststart), cut in the middle: it opens and says 4 s."""
    src = make_clip(path.with_name("whole.mp4"), frames=100, width=64, height=48)
    with av.open(str(src)) as inp, av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    src.unlink()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def matroska_truncated(path: Path) -> Path:
    make_clip(path, frames=100, width=64, height=48)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # no cues, but the header's DURATION tag says 4 s
    return path


def test_damaged_video_fails_by_default(tmp_path: Path) -> None:
    src = make_damaged_clip(tmp_path / "bad.mkv")
    result = _run(str(src), str(tmp_path / "o.mkv"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is corrupt at 00:00:00" in lines[0] and "--on-error skip" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mkv"]


def test_damaged_video_skip_conceals_and_counts(tmp_path: Path) -> None:
    src = make_damaged_clip(tmp_path / "bad.mkv")
    result = _run(str(src), str(tmp_path / "o.mkv"), "--on-error", "skip")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("vsr: warning:")]
    assert len(warning) == 1 and "damaged frame(s) concealed by the decoder, the first at" in warning[0]
    assert probe(tmp_path / "o.mkv")["frames"] == probe(src)["frames"] == 48  # concealed, not dropped
    report = vsr.upscale(src, tmp_path / "o2.mkv", on_error="skip", progress=False)
    assert report.damage.concealed >= 1 and report.damage.first_at is not None


@pytest.mark.parametrize("make", [faststart_truncated, matroska_truncated], ids=["mp4 index", "mkv"])
def test_truncated_with_intact_header(tmp_path: Path, make) -> None:
    src = make(tmp_path / ("cut.mp4" if make is faststart_truncated else "cut.mkv"))
    result = _run(str(src), str(tmp_path / "o.mkv"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "is truncated: the video ends at" in result.stderr
    assert "header says 00:00:04.000" in result.stderr
    assert not (tmp_path / "o.mkv").exists()

    kept = _run(str(src), str(tmp_path / "o.mkv"), "--on-error", "skip")
    assert kept.exit_code == 0, kept.output
    assert "vsr: warning: truncated: the video ends at" in kept.stderr
    assert 40 <= probe(tmp_path / "o.mkv")["frames"] < 100  # what the first half holds


def with_timestamps(path: Path, pts: list[int], time_base: Fraction, step: int) -> Path:
    """An intra-only (MJPEG) Matroska clip whose packets carry `pts`, repeats included: encoders
    refuse repeated timestamps, so they are set on the packets."""
    src = make_clip(path.with_name("src.mkv"), frames=len(pts), codec="mjpeg", pix_fmt="yuvj420p")
    with av.open(str(src)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        stream.time_base = time_base
        packets = [p for p in inp.demux(inp.streams.video[0]) if p.size]
        for packet, t in zip(packets, pts, strict=True):
            packet.stream, packet.time_base, packet.pts, packet.dts = stream, time_base, t, t
            packet.duration = step
            out.mux(packet)
    src.unlink()
    return path


def test_duplicate_timestamps_dropped_and_reported(tmp_path: Path) -> None:
    pts = [0, 1, 1, 2, 3, 3, 3, 4, 6, 7]  # VFR with repeats
    src = with_timestamps(tmp_path / "dup.mkv", pts, Fraction(1, 25), 1)
    assert probe(src)["frames"] == 10
    result = _run(str(src), str(tmp_path / "o.mkv"))
    assert result.exit_code == 0, result.output
    assert "3 frame(s) with a timestamp not after the previous one were dropped" in result.stderr
    out = probe(tmp_path / "o.mkv")
    assert out["frames"] == 7
    assert out["pts_seconds"] == pytest.approx([p / 25 for p in sorted(set(pts))], abs=1e-3)


def test_attachments_kept_in_matroska_reported_elsewhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = make_clip(tmp_path / "plain.mkv", frames=4)
    with_font = tmp_path / "font.mkv"
    with av.open(str(src)) as inp, av.open(str(with_font), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        out.add_attachment(name="sub font.ttf", mimetype="application/x-truetype-font", data=b"font bytes")
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    vsr.upscale(with_font, tmp_path / "o.mkv", progress=False)
    with av.open(str(tmp_path / "o.mkv")) as c:
        (attachment,) = [s for s in c.streams if s.type == "attachment"]
        assert (attachment.name, attachment.mimetype) == ("sub font.ttf", "application/x-truetype-font")
        assert bytes(attachment.data) == b"font bytes"
    with caplog.at_level(logging.WARNING):
        vsr.upscale(with_font, tmp_path / "o.mp4", progress=False)
    assert "cannot hold attachment 'sub font.ttf'" in caplog.text


@pytest.mark.parametrize(
    ("size", "pix_fmt", "codec"), [((1, 1), "yuv444p", "ffv1"), ((64, 48), "yuv444p", "libx264")]
)
def test_tiny_and_444_input(tmp_path: Path, size: tuple[int, int], pix_fmt: str, codec: str) -> None:
    w, h = size
    src = make_clip(tmp_path / "in.mkv", frames=3, width=w, height=h, codec=codec, pix_fmt=pix_fmt)
    assert probe(src)["pix_fmt"] == pix_fmt
    vsr.upscale(src, tmp_path / "o.mp4", progress=False)
    out = probe(tmp_path / "o.mp4")
    assert (out["width"], out["height"], out["frames"]) == (4 * w, 4 * h, 3)
    assert out["pix_fmt"] == "yuv444p"  # the input's chroma resolution is kept


def test_output_too_large_for_memory_refused_before_work(tmp_path: Path) -> None:
    src = tmp_path / "huge.mkv"  # 8192x8192 -> 32768x32768: about 1 Gpx per output frame
    with av.open(str(src), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width = s.height = 8192
        s.pix_fmt = "gray"
        frame = av.VideoFrame.from_ndarray(np.zeros((8192, 8192), np.uint8), format="gray")
        frame.pts = 0
        out.mux(s.encode(frame))
        out.mux(s.encode(None))
    result = _run(str(src), str(tmp_path / "o.mkv"))
    assert result.exit_code == 1
    assert (
        result.stderr.count("\n") == 1
        and "output frames of 32768x32768 (1074 Mpx) need about" in result.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.mkv"]


def test_batch_shrinks_to_fit_before_refusing() -> None:
    w, h = 7680, 4320
    room = estimate_bytes(w, h, 2) + 1
    assert fit_batch(w, h, 8, available=room) == 2
    assert fit_batch(w, h, 8, available=estimate_bytes(w, h, 8)) == 8
    with pytest.raises(InputError, match="lower --scale"):
        fit_batch(w, h, 8, available=estimate_bytes(w, h, 1) - 1)


def test_gpu_batch_fits_free_device_memory() -> None:
    """On CUDA the batch is also fitted to the device's free memory (x4 of 4K: 531 MB a frame)."""
    w, h = 15360, 8640
    one = GPU_BASE_BYTES + w * h * GPU_BYTES_PER_PIXEL_PER_FRAME
    assert fit_batch_gpu(w, h, 8, free=80 * 2**30) == 8
    assert fit_batch_gpu(w, h, 8, free=one + 2 * w * h * GPU_BYTES_PER_PIXEL_PER_FRAME) == 2
    with pytest.raises(InputError, match="GiB of GPU memory"):
        fit_batch_gpu(w, h, 8, free=one - 1)


def test_fine_time_base_with_repeats(tmp_path: Path) -> None:
    """In a 1/90000 time base the distinct timestamps survive exactly; only the repeat goes."""
    pts = [0, 3600, 3600, 7200, 10800]
    src = with_timestamps(tmp_path / "d.mkv", pts, Fraction(1, 90000), 3600)
    vsr.upscale(src, tmp_path / "o.mkv", progress=False)
    out = probe(tmp_path / "o.mkv")
    assert out["pts_seconds"] == pytest.approx([0, 0.04, 0.08, 0.12], abs=1e-3)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_late_starting_video_is_not_truncation(tmp_path: Path, suffix: str) -> None:
    """A video starting at 2 s: Matroska's DURATION tag is an end time, MP4's a length."""
    src = make_clip(tmp_path / f"late{suffix}", frames=25, pts=list(range(50, 75)), time_base=Fraction(1, 25))
    report = vsr.upscale(src, tmp_path / f"o{suffix}", progress=False)
    assert report.frames == 25 and not report.damage
