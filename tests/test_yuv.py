"""YUV 4:2:0 <-> RGB in torch (the GPU path's colour conversion) against FFmpeg's swscale, and
`vsr upscale --colour device` against the swscale path on real files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

import vsr
from tests.clips import make_clip, pattern, probe, yuv_planes
from vsr.engine.yuv import YuvMatrix, folded_to_yuv420, rgb_to_yuv420, supports_matrix, yuv420_to_rgb
from vsr.io.colors import swscale_colorspace
from vsr.metrics import psnr_plane

# (AVColorSpace, AVColorRange): untagged, BT.709, BT.601, BT.2020, each limited or full range.
TAGS = [(2, 1), (1, 1), (1, 2), (6, 1), (5, 2), (9, 1), (7, 1), (4, 1)]


def _yuv_frame(width: int = 96, height: int = 64) -> np.ndarray:
    """A textured picture as (h*3/2, w) yuv420p planes, as a decoder would hand them over."""
    rgb = pattern(3, width, height)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


@pytest.mark.parametrize(("colorspace", "color_range"), TAGS)
def test_to_rgb_matches_swscale(colorspace: int, color_range: int) -> None:
    """Within 3 levels anywhere and 1.5 on average. swscale's fast yuv2rgb rounds down (measured:
    0.49 levels low on a luma ramp), the torch path rounds, hence the mean offset of about 1."""
    planes = _yuv_frame()
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    ref = frame.to_ndarray(
        format="rgb24", src_colorspace=swscale_colorspace(colorspace), src_color_range=color_range
    ).astype(int)
    rgb = yuv420_to_rgb(torch.from_numpy(planes)[None], YuvMatrix.from_tags(colorspace, color_range))
    got = (rgb[0].permute(1, 2, 0) * 255).round().int().numpy()
    diff = np.abs(got - ref)
    assert diff.max() <= 3 and diff.mean() < 1.5, (diff.max(), diff.mean())


@pytest.mark.parametrize(("colorspace", "color_range"), TAGS)
def test_to_yuv_matches_swscale(colorspace: int, color_range: int) -> None:
    """Luma within 1 level; chroma within 1 level on average (swscale's vertical chroma filter
    spans more rows than the 2x2 average, so hard edges differ by up to ~11)."""
    rgb = pattern(5, 96, 64)
    ref = (
        av.VideoFrame.from_ndarray(rgb, format="rgb24")
        .reformat(
            format="yuv420p", dst_colorspace=swscale_colorspace(colorspace), dst_color_range=color_range
        )
        .to_ndarray()
        .astype(int)
    )
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    got = rgb_to_yuv420(x, YuvMatrix.from_tags(colorspace, color_range))[0].numpy().astype(int)
    assert got.shape == ref.shape == (96, 96)
    luma, chroma = np.abs(got[:64] - ref[:64]), np.abs(got[64:] - ref[64:])
    assert luma.max() <= 1 and chroma.mean() < 1.0, (luma.max(), chroma.mean())


def test_round_trip_and_odd_chroma_rows() -> None:
    """yuv -> rgb -> yuv returns the planes (to a level) for a height whose chroma plane has an
    odd number of rows (the planes do not fill whole rows of the packed array)."""
    planes = _yuv_frame(40, 22)  # chroma 20x11
    m = YuvMatrix.from_tags(1, 1)
    rgb = yuv420_to_rgb(torch.from_numpy(planes)[None], m)
    back = rgb_to_yuv420(rgb, m)[0].numpy().astype(int)
    # Exact to a level except where the colour lies outside the RGB cube and was clamped (hard
    # edges after swscale's chroma filter); misplaced planes would be off by tens everywhere.
    luma = np.abs(back[:22] - planes[:22].astype(int))
    chroma = np.abs(back[22:] - planes[22:].astype(int))
    assert np.mean(luma > 1) < 0.02 and luma.mean() < 0.1, (np.mean(luma > 1), luma.mean())
    assert chroma.mean() < 1.0


@pytest.mark.parametrize(("scale", "colorspace", "color_range"), [(4, 1, 1), (2, 6, 1), (4, 9, 2)])
def test_folded_conversion_equals_the_hr_path(scale: int, colorspace: int, color_range: int) -> None:
    """yuv420p made at LR from a folded frame (with hidden channels after it, channels_last, values
    a little outside [0, 1] as a model's are) equals the HR path's but for rounding ties."""
    torch.manual_seed(0)
    folded = torch.rand(2, 3 * scale * scale + 5, 14, 22) * 1.1 - 0.05
    folded = folded.contiguous(memory_format=torch.channels_last)
    m = YuvMatrix.from_tags(colorspace, color_range)
    want = rgb_to_yuv420(torch.nn.functional.pixel_shuffle(folded[:, : 3 * scale * scale], scale), m)
    got = folded_to_yuv420(folded, scale, m)
    assert got.shape == want.shape == (2, 14 * scale * 3 // 2, 22 * scale) and got.dtype == torch.uint8
    diff = (got.int() - want.int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3, (diff.max(), (diff > 0).float().mean())
    cropped = folded[..., :10, :16]  # the Runner crops the padding at LR
    want = rgb_to_yuv420(torch.nn.functional.pixel_shuffle(cropped[:, : 3 * scale * scale], scale), m)
    assert (folded_to_yuv420(cropped, scale, m).int() - want.int()).abs().max() <= 1


def test_matrices_known() -> None:
    assert supports_matrix(1) and supports_matrix(2) and supports_matrix(9)
    assert not supports_matrix(0) and not supports_matrix(8)  # RGB/GBR, YCgCo
    m = YuvMatrix.from_tags(1, 1)
    eye = m.from_rgb_matrix() @ m.to_rgb_matrix()
    assert torch.allclose(eye, torch.eye(3), atol=1e-6)


def test_upscale_colour_on_device_matches_swscale_path(tmp_path: Path) -> None:
    """The whole yuv420p path (reader planes, conversion beside the model, planes to the encoder)
    on the CPU: same frames, timestamps, audio and tags as the swscale path, pictures above 40 dB
    from it (measured on the sample: 46.1 dB luma, 54.2 dB chroma)."""
    src = make_clip(tmp_path / "in.mp4", frames=10, width=64, height=48, audio=True, colorspace=1)
    lossless = {"codec": "ffv1", "progress": False, "backend": "eager"}
    ref = vsr.upscale(src, tmp_path / "ref.mkv", colour="swscale", **lossless)
    dev = vsr.upscale(src, tmp_path / "dev.mkv", colour="device", **lossless)
    assert (ref.colour, dev.colour) == ("swscale", "device")
    a, b = probe(tmp_path / "ref.mkv"), probe(tmp_path / "dev.mkv")
    assert a["frames"] == b["frames"] == 10
    assert b["pts_seconds"] == a["pts_seconds"] and b["audio_seconds"] == a["audio_seconds"]
    with av.open(str(tmp_path / "dev.mkv")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.pix_fmt, cc.colorspace, cc.color_range) == ("yuv420p", 1, 1)
    psnr = [
        psnr_plane(x, y)
        for x, y in zip(yuv_planes(tmp_path / "ref.mkv"), yuv_planes(tmp_path / "dev.mkv"), strict=True)
    ]
    assert min(psnr) > 40, psnr


def test_colour_device_falls_back_to_swscale(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """10-bit input cannot take the 8-bit device path: swscale converts, and a warning says why."""
    src = make_clip(tmp_path / "in10.mkv", frames=3, codec="ffv1", pix_fmt="yuv420p10le")
    report = vsr.upscale(src, tmp_path / "out.mkv", colour="device", codec="ffv1", progress=False)
    assert report.colour == "swscale" and report.frames == 3
    assert "yuv420p10le" in caplog.text


def test_colour_on_cpu_defaults_to_swscale(tmp_path: Path) -> None:
    """For a model on the CPU; bicubic keeps 4:2:0 instead (next test)."""
    src = make_clip(tmp_path / "in.mp4", frames=3)
    assert vsr.upscale(src, tmp_path / "out.mp4", progress=False, device="cpu").colour == "swscale"


def test_segments_with_colour_on_device(tmp_path: Path) -> None:
    """--segments B steps yuv420p rows too: same frames and timestamps as the sequential run with
    the same conversion, pictures above 50 dB from it (the warm-up leaves the later parts' states
    slightly off, as with RGB)."""
    src = make_clip(tmp_path / "in.mp4", frames=24, width=64, height=48, colorspace=1)
    lossless = {"codec": "ffv1", "progress": False, "backend": "eager", "colour": "device"}
    seq = vsr.upscale(src, tmp_path / "seq.mkv", **lossless)
    par = vsr.upscale(src, tmp_path / "par.mkv", segments=3, **lossless)
    assert seq.colour == par.colour == "device" and seq.frames == par.frames == 24
    assert probe(tmp_path / "seq.mkv")["pts_seconds"] == probe(tmp_path / "par.mkv")["pts_seconds"]
    psnr = [
        psnr_plane(x, y)
        for x, y in zip(yuv_planes(tmp_path / "seq.mkv"), yuv_planes(tmp_path / "par.mkv"), strict=True)
    ]
    assert min(psnr) > 50, psnr


def test_bicubic_on_cpu_resizes_the_planes(tmp_path: Path) -> None:
    """`-m bicubic` on the CPU keeps 4:2:0 end to end, as FFmpeg's scale filter does: each output
    plane is OpenCV's bicubic of the decoded input plane (exactly, lossless output), timestamps and
    audio are those of the RGB path, and the picture is closer to FFmpeg's own bicubic than the RGB
    round trip's (which resamples the chroma twice)."""
    src = make_clip(tmp_path / "in.mp4", frames=6, width=64, height=48, audio=True, colorspace=1)
    options = {"model": "bicubic", "codec": "ffv1", "progress": False}
    planes = vsr.upscale(src, tmp_path / "planes.mkv", **options)
    rgb = vsr.upscale(src, tmp_path / "rgb.mkv", colour="swscale", **options)
    assert (planes.colour, rgb.colour) == ("planes", "swscale")
    assert "4:2:0 planes resized" in planes.summary()
    a, b = probe(tmp_path / "rgb.mkv"), probe(tmp_path / "planes.mkv")
    assert a["frames"] == b["frames"] == 6
    assert b["pts_seconds"] == a["pts_seconds"] and b["audio_seconds"] == a["audio_seconds"]
    for lr, hr in zip(yuv_planes(src), yuv_planes(tmp_path / "planes.mkv"), strict=True):
        lr = lr.astype(np.uint8)
        y, u, v = lr[:48], lr[48:60].reshape(24, 32), lr[60:].reshape(24, 32)
        want = [
            cv2.resize(p, (p.shape[1] * 4, p.shape[0] * 4), interpolation=cv2.INTER_CUBIC) for p in (y, u, v)
        ]
        got = [hr[:192], hr[192:240].reshape(96, 128), hr[240:].reshape(96, 128)]
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("no ffmpeg binary to compare with")
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(src), "-vf", "scale=256:192:flags=bicubic", "-c:v", "ffv1",
         str(tmp_path / "ff.mkv")],
        check=True,
    )  # fmt: skip
    reference = yuv_planes(tmp_path / "ff.mkv")
    closer = [
        (psnr_plane(p, f), psnr_plane(r, f))
        for p, r, f in zip(
            yuv_planes(tmp_path / "planes.mkv"), yuv_planes(tmp_path / "rgb.mkv"), reference, strict=True
        )
    ]
    assert np.mean([p for p, _ in closer]) > np.mean([r for _, r in closer]), closer
