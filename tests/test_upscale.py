"""vsr.upscale on real files written with PyAV: frames, timestamps, sizes, streams, colour."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import pytest

import vsr
from tests.clips import make_clip, probe, yuv_planes
from vsr.metrics import psnr_plane


def _upscale(src: Path, dst: Path, **options) -> vsr.pipeline.offline.UpscaleReport:
    return vsr.upscale(src, dst, progress=False, **options)


def test_frames_pts_size_and_audio(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=14, audio=True)
    report = _upscale(src, tmp_path / "out.mp4", batch=3)
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert report.frames == a["frames"] == b["frames"] == 14
    assert (b["width"], b["height"]) == (4 * a["width"], 4 * a["height"])
    assert b["pts_seconds"] == pytest.approx(a["pts_seconds"], abs=1e-3)
    assert b["rate"] == a["rate"]
    assert b["audio_seconds"] == pytest.approx(a["audio_seconds"], abs=1e-6)  # packets copied as-is
    assert b["audio_start"] == a["audio_start"]
    assert [t for t, _ in b["streams"]] == ["video", "audio"]
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob("*partial*"))


def test_variable_frame_rate_stays_variable(tmp_path: Path) -> None:
    pts = [0, 1, 2, 5, 6, 10, 11, 12, 20, 21]
    src = make_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 25))
    _upscale(src, tmp_path / "out.mkv")
    out = probe(tmp_path / "out.mkv")
    assert out["pts_seconds"] == pytest.approx([p / 25 for p in pts], abs=1e-3)


def test_odd_size(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "odd.mkv", width=63, height=37, codec="ffv1")
    _upscale(src, tmp_path / "out.mp4")
    out = probe(tmp_path / "out.mp4")
    assert (out["width"], out["height"]) == (252, 148)
    assert out["frames"] == 12


@pytest.mark.parametrize("frames", [3, 12])
def test_rgb_h264_source_odd_size_frame_order(tmp_path: Path, frames: int) -> None:
    """H.264 in RGB (gbrp, tagged GBR, full range), 17x9. With 3 frames the decoder returns them
    all from one call, which once put the first frame last; an RGB source must get YUV tags."""
    src = make_clip(
        tmp_path / "rgb.mp4", frames=frames, width=17, height=9, codec="libx264rgb", pix_fmt="rgb24"
    )
    _upscale(src, tmp_path / "out.mp4")
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert a["pix_fmt"] == "gbrp" and a["colorspace"] == 0
    assert b["frames"] == frames and (b["width"], b["height"]) == (68, 36)
    assert b["pts_seconds"] == pytest.approx(a["pts_seconds"], abs=1e-3)  # same frames, same order
    # libx264 has no RGB format: full-chroma YUV, with the tags of a YUV stream (BT.601, limited)
    assert b["pix_fmt"] == "yuv444p" and b["colorspace"] == 6 and b["color_range"] == 1


def test_ten_bit_colour_rotation(tmp_path: Path) -> None:
    src = make_clip(
        tmp_path / "hdr.mp4", width=64, height=36, pix_fmt="yuv420p10le", colorspace=1, rotation=90
    )
    _upscale(src, tmp_path / "out.mp4")
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert b["pix_fmt"] == "yuv420p10le"
    for key in ("colorspace", "color_range", "color_primaries", "color_trc", "rotation"):
        assert b[key] == a[key], key
    assert b["rotation"] == 90


def test_anamorphic_display_aspect_kept(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "dv.mkv", width=72, height=48, sample_aspect_ratio=Fraction(16, 11))
    _upscale(src, tmp_path / "out.mkv")
    a, b = probe(src), probe(tmp_path / "out.mkv")
    assert a["sample_aspect_ratio"] == Fraction(16, 11)
    assert b["sample_aspect_ratio"] == a["sample_aspect_ratio"]
    assert b["display_aspect_ratio"] == a["display_aspect_ratio"]


def test_scale_two_with_own_weights(tmp_path: Path) -> None:
    import torch

    from vsr.models.checkpoint import save_generator
    from vsr.models.generator import FrameRecurrentGenerator

    torch.manual_seed(0)
    weights = tmp_path / "x2.safetensors"
    save_generator(FrameRecurrentGenerator(scale=2, channels=8, blocks=1, flow_channels=4), weights)
    src = make_clip(tmp_path / "in.mp4")
    _upscale(src, tmp_path / "out.mp4", scale=2, model=str(weights))
    assert (probe(tmp_path / "out.mp4")["width"], probe(tmp_path / "out.mp4")["height"]) == (128, 96)


def test_scale_two_with_the_shipped_model(tmp_path: Path) -> None:
    """--scale 2 alone picks the shipped x2 model (fast-x2)."""
    src = make_clip(tmp_path / "in.mp4", frames=4)
    report = _upscale(src, tmp_path / "out.mp4", scale=2)
    assert report.model == "fast-x2" and report.output_size == (128, 96)
    assert (probe(tmp_path / "out.mp4")["width"], probe(tmp_path / "out.mp4")["height"]) == (128, 96)


@pytest.mark.parametrize("codec,suffix", [("ffv1", ".mkv"), ("libx265", ".mp4"), ("libsvtav1", ".mkv")])
def test_other_encoders(tmp_path: Path, codec: str, suffix: str) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=6)
    options = {"crf": None, "preset": None} if codec == "ffv1" else {"preset": None}
    _upscale(src, tmp_path / f"out{suffix}", codec=codec, **options)
    out = probe(tmp_path / f"out{suffix}")
    assert out["frames"] == 6 and out["width"] == 256
    decoders = {"ffv1": {"ffv1"}, "libx265": {"hevc"}, "libsvtav1": {"av1", "libdav1d", "libaom-av1"}}
    assert out["codec"] in decoders[codec]


def test_subtitles_copied_or_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_clip(tmp_path / "in.mkv", audio=True, subtitles=True)
    _upscale(src, tmp_path / "out.mkv")
    assert [t for t, _ in probe(tmp_path / "out.mkv")["streams"]] == ["video", "audio", "subtitle"]
    with caplog.at_level(logging.WARNING):
        _upscale(src, tmp_path / "out.mp4")  # MP4 cannot hold ASS subtitles
    assert [t for t, _ in probe(tmp_path / "out.mp4")["streams"]] == ["video", "audio"]
    assert "cannot hold subtitle stream #2 (ssa)" in caplog.text


def test_second_video_stream_selected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import av

    path = tmp_path / "two.mkv"
    with av.open(str(path), "w") as out:
        streams = []
        for w, h in ((64, 48), (32, 24)):
            s = out.add_stream("ffv1", rate=25)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            streams.append(s)
        from tests.clips import pattern

        for i in range(5):
            for s in streams:
                frame = av.VideoFrame.from_ndarray(pattern(i, s.width, s.height), format="rgb24")
                frame.pts = i
                for packet in s.encode(frame.reformat(format="yuv420p")):
                    out.mux(packet)
        for s in streams:
            for packet in s.encode(None):
                out.mux(packet)
    with caplog.at_level(logging.WARNING):
        _upscale(path, tmp_path / "first.mkv")
    assert "input stream #1 (video, ffv1) is not carried into the output" in caplog.text  # said
    _upscale(path, tmp_path / "second.mkv", stream=1)
    assert probe(tmp_path / "first.mkv")["width"] == 256
    assert probe(tmp_path / "second.mkv")["width"] == 128
    assert probe(tmp_path / "second.mkv")["frames"] == 5


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_hwaccel_cuda_without_a_gpu(tmp_path: Path) -> None:
    """--hwaccel cuda where no CUDA device opens: one line naming it, nothing written; the
    reader alone (auto) falls back to the CPU decoder, and a bad file still reads as a bad file."""
    from typer.testing import CliRunner

    from vsr.cli import app
    from vsr.io.reader import VideoReader

    src = make_clip(tmp_path / "in.mp4", frames=4)
    result = CliRunner().invoke(app, ["upscale", str(src), str(tmp_path / "out.mp4"), "--hwaccel", "cuda"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "--hwaccel cuda" in result.stderr and not (tmp_path / "out.mp4").exists()
    with VideoReader(src, hwaccel="cuda") as reader:
        assert reader.hwaccel is None and sum(len(b) for b in reader.batches(2)) == 4
    (tmp_path / "text.mp4").write_text("not a video")
    result = CliRunner().invoke(
        app, ["upscale", str(tmp_path / "text.mp4"), str(tmp_path / "o.mp4"), "--hwaccel", "cuda"]
    )
    assert result.exit_code == 1 and "not a video FFmpeg can read" in result.stderr


@pytest.mark.cuda
def test_gpu_path_matches_cpu(tmp_path: Path) -> None:
    """On CUDA by default: NVDEC where it starts, colour on the device, fp16, pinned copies on
    their own streams. Same frames and timestamps as the CPU fp32 run, pictures within 35 dB."""
    src = make_clip(tmp_path / "in.mp4", frames=12, width=96, height=64, audio=True, colorspace=1)
    cpu = _upscale(src, tmp_path / "cpu.mkv", codec="ffv1", device="cpu", dtype="float32")
    gpu = _upscale(src, tmp_path / "gpu.mkv", codec="ffv1", device="cuda")
    assert gpu.colour == "device" and cpu.colour == "swscale"
    a, b = probe(tmp_path / "cpu.mkv"), probe(tmp_path / "gpu.mkv")
    assert a["frames"] == b["frames"] == 12 and a["pts_seconds"] == b["pts_seconds"]
    for x, y in zip(yuv_planes(tmp_path / "cpu.mkv"), yuv_planes(tmp_path / "gpu.mkv"), strict=True):
        assert psnr_plane(x, y) > 35


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without NVENC")
def test_nvenc_absent_falls_back_to_software(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--codec h264_nvenc where NVENC cannot start (no GPU here; H100/H200 have none): the same
    format from the software encoder, and one warning that says so."""
    src = make_clip(tmp_path / "in.mp4", frames=4)
    with caplog.at_level(logging.WARNING):
        _upscale(src, tmp_path / "out.mp4", codec="h264_nvenc")
    out = probe(tmp_path / "out.mp4")
    assert out["codec"] == "h264" and out["frames"] == 4
    warnings = [r.getMessage() for r in caplog.records if "h264_nvenc" in r.getMessage()]
    assert len(warnings) == 1 and "encoding with libx264" in warnings[0]


def test_nvenc_size_limit_refused_before_work(tmp_path: Path) -> None:
    """H.264 NVENC stops at 4096 pixels a side: x4 of 1080p is refused in one line, nothing written."""
    from vsr.errors import OptionError
    from vsr.io.writer import EncodeSettings, usable_encoder

    with pytest.raises(OptionError, match="at most 4096 pixels a side.*7680x4320.*hevc_nvenc"):
        usable_encoder(EncodeSettings(codec="h264_nvenc"), 7680, 4320)


def test_nvenc_takes_x264_preset_names() -> None:
    from vsr.io.writer import _quality_options

    assert _quality_options("h264_nvenc", 20, "veryfast") == {"cq": "20", "preset": "p2"}
    assert _quality_options("hevc_nvenc", None, "p6") == {"preset": "p6"}
    assert _quality_options("libx264", 20, "veryfast") == {"crf": "20", "preset": "veryfast"}


@pytest.mark.parametrize(
    ("codec", "source_fmt", "expected"),
    [("ffv1", "yuv444p", "yuv444p"), ("ffv1", "bgr0", "bgr0"), ("libx264", "yuv422p", "yuv422p")],
)
def test_chroma_format_kept(tmp_path: Path, codec: str, source_fmt: str, expected: str) -> None:
    """A 4:4:4, 4:2:2 or RGB source keeps its chroma resolution where the encoder takes it (written
    as 4:2:0 it would lose up to 1 dB PSNR-Y of what the model made), and its colour is right."""
    src = make_clip(tmp_path / "in.mkv", frames=3, codec="ffv1", pix_fmt=source_fmt)
    _upscale(src, tmp_path / "out.mkv", codec=codec, model="bicubic")
    out = probe(tmp_path / "out.mkv")
    assert out["pix_fmt"] == expected and out["frames"] == 3
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mkv")) as b:
        first_in = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        first_out = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    shrunk = first_out.reshape(first_in.shape[0], 4, first_in.shape[1], 4, 3).mean(axis=(1, 3))
    assert abs(shrunk - first_in).mean() < 6  # the same picture, in the same colours
