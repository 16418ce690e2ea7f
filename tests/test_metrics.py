"""Metrics against values computed by hand."""

from __future__ import annotations

import math

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
