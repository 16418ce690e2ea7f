"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vsr.metrics import luma, psnr_y, ssim_y


def test_luma_range() -> None:
    assert float(luma(torch.zeros(3, 1, 1))) == pytest.approx(16.0)
    assert float(luma(torch.ones(3, 1, 1))) == pytest.approx(235.0)


def test_psnr_constant_offset() -> None:
    # A grey frame and the same frame 10 luma levels brighter: MSE = 100 -> PSNR = 10 log10(255^2 / 100).
    grey = torch.full((3, 8, 8), 0.5)
    delta = 10.0 / 219.0  # 10 luma levels: Y spans 219 levels for RGB 0..1
    y_a, y_b = torch.round(luma(grey)), torch.round(luma(grey + delta))
    mse = float(((y_a - y_b) ** 2).mean())
    assert mse == pytest.approx(100.0)
    assert psnr_y(grey + delta, grey) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-6)


def test_identical_frames() -> None:
    x = torch.rand(3, 16, 16)
    assert psnr_y(x, x) == math.inf
    assert ssim_y(x, x) == pytest.approx(1.0)


def test_border_crop_ignores_edges() -> None:
    a = torch.rand(3, 20, 20)
    b = a.clone()
    b[:, :4, :] = 1 - b[:, :4, :]
    assert psnr_y(b, a, border=4) == math.inf
    assert psnr_y(b, a, border=0) < 30


def test_tof_and_flicker_zero_for_identical_and_positive_for_jitter() -> None:
    from vsr.metrics import flicker, tof

    torch.manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12), size=(48, 48), mode="bicubic")[0].clamp(
        0, 1
    )
    video = torch.stack([torch.roll(base, shifts=i, dims=-1) for i in range(4)])  # moves 1 px/frame
    assert tof(video, video) == 0.0
    assert flicker(video, video) == 0.0
    jitter = video.clone()
    jitter[2] = torch.roll(jitter[2], shifts=3, dims=-2)  # one frame jumps vertically
    assert tof(jitter, video) > 0.1
    assert flicker(jitter, video) > 1.0


def test_flicker_by_hand() -> None:
    from vsr.metrics import flicker

    ref = torch.full((2, 3, 4, 4), 0.5)
    out = ref.clone()
    out[1] += 20.0 / 219.0  # frame 1 is 20 luma levels brighter than it should be
    assert flicker(out, ref) == pytest.approx(20.0, abs=1e-4)


def test_ssim_matches_direct_2d_window() -> None:
    """The separable implementation equals the textbook 2-D Gaussian window formula."""
    torch.manual_seed(1)
    a, b = torch.rand(3, 24, 24), torch.rand(3, 24, 24)
    ya, yb = torch.round(luma(a.double()))[None, None], torch.round(luma(b.double()))[None, None]
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    w = torch.outer(g / g.sum(), g / g.sum())[None, None]
    conv = torch.nn.functional.conv2d
    mx, my = conv(ya, w), conv(yb, w)
    vx, vy, cxy = conv(ya * ya, w) - mx**2, conv(yb * yb, w) - my**2, conv(ya * yb, w) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()
    assert ssim_y(a, b) == pytest.approx(float(expected), abs=1e-9)
    assert ssim_y(a, b) < 0.5


def _line_map(cols: list[int], rows: slice = slice(8, 24)) -> np.ndarray:
    edges = np.zeros((32, 32), dtype=bool)
    for c in cols:
        edges[rows, c] = True
    return edges


def test_edge_f1_by_hand() -> None:
    # ERQA's matching on hand-made edge maps: a reference edge 16 px long at column 10.
    from vsr.metrics import edge_f1

    ref = _line_map([10])
    assert edge_f1(_line_map([10]), ref) == 1.0
    assert edge_f1(_line_map([11]), ref) == 1.0  # one pixel off: still restored
    assert edge_f1(_line_map([12]), ref) == 0.0  # two pixels off: missed (and a false edge)
    # a doubled edge: each reference pixel matches one output pixel, so P = 1/2, R = 1, F1 = 2/3
    assert edge_f1(_line_map([10, 11]), ref) == pytest.approx(2 / 3)
    # half the edge restored: P = 1, R = 1/2
    assert edge_f1(_line_map([10], rows=slice(8, 16)), ref) == pytest.approx(2 / 3)
    assert edge_f1(_line_map([]), ref) == 0.0


def _textured(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="nearest")[0]  # sharp blocks


def test_erqa_identity_global_shift_and_blur() -> None:
    from vsr.metrics import erqa, rgb_u8

    ref = _textured()
    assert erqa(rgb_u8(ref), rgb_u8(ref)) == 1.0
    # the whole picture moved by 3 px: ERQA first aligns it (up to 3 px), so every edge is restored
    moved = torch.roll(ref, shifts=(3, -3), dims=(-2, -1))
    assert erqa(rgb_u8(moved), rgb_u8(ref)) > 0.95
    assert erqa(rgb_u8(moved), rgb_u8(ref), radius=0) < 0.6  # without: only edges along the motion meet
    # blurred: the edges are too weak for Canny's thresholds
    blurred = torch.nn.functional.avg_pool2d(ref[None], 15, stride=1, padding=7, count_include_pad=False)[0]
    assert erqa(rgb_u8(blurred), rgb_u8(ref)) < 0.3


def test_detail_ratio() -> None:
    from vsr.metrics import SequenceScorer

    ref = _textured()[None].repeat(2, 1, 1, 1)
    assert SequenceScorer().add_sequence(ref, ref).summary()["detail"] == 1.0
    # half the contrast around mid-grey: the Laplacian halves, its energy quarters (up to rounding)
    flat = 0.5 + 0.5 * (ref - 0.5)
    summary = SequenceScorer(border=4).add_sequence(flat, ref).summary()
    assert summary["detail"] == pytest.approx(0.25, abs=0.01)
    assert summary["erqa"] < 1.0
    assert math.isnan(SequenceScorer().add_sequence(ref, torch.full_like(ref, 0.5)).summary()["detail"])
