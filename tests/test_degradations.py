"""Degradations: shapes, determinism per window, and BD/BI definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.degradations import (
    BROAD_ODDS,
    DEGRADATIONS,
    EVAL_SETTINGS,
    H264_PRESETS,
    bicubic_downscale,
    blur_downscale,
    chroma_420,
    compress,
    degrade,
    gaussian_kernel,
)


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_shapes_and_range(kind: str) -> None:
    hr = torch.rand(3, 3, 64, 48)
    lr = degrade(hr, 4, kind, np.random.default_rng(0))
    assert lr.shape == (3, 3, 16, 12)
    assert lr.min() >= 0 and lr.max() <= 1
    assert torch.equal(lr, torch.round(lr * 255) / 255)  # 8-bit levels


@pytest.mark.parametrize("kind", ["real", "web", "mixed", "broad", "blind"])
def test_random_kinds_are_deterministic_per_rng_and_vary_between(kind: str) -> None:
    hr = torch.rand(2, 3, 64, 64)
    a = degrade(hr, 4, kind, np.random.default_rng(1))
    b = degrade(hr, 4, kind, np.random.default_rng(1))
    c = degrade(hr, 4, kind, np.random.default_rng(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_mixed_draws_both_kinds_from_the_same_rng() -> None:
    """ "mixed" spends one draw choosing, then degrades exactly as the chosen kind would with the
    rest of the stream: over a few seeds it gives both."""
    hr = torch.rand(2, 3, 64, 64)
    chosen = set()
    for seed in range(6):
        pick = np.random.default_rng(seed)
        kind = "real" if pick.random() < 0.5 else "web"
        expected = degrade(hr, 4, kind, pick)
        assert torch.equal(degrade(hr, 4, "mixed", np.random.default_rng(seed)), expected)
        chosen.add(kind)
    assert chosen == {"real", "web"}


def test_broad_draws_clean_sources_as_bi_then_h264() -> None:
    """ "broad" also gives clean windows, exactly BI then H.264 at the drawn CRF and preset; over 40
    seeds all three kinds come up near their odds."""
    torch.manual_seed(0)
    hr = F.interpolate(torch.rand(2, 3, 4, 4), size=(64, 64), mode="bilinear")
    counts = dict.fromkeys(BROAD_ODDS, 0)
    for seed in range(40):
        pick = np.random.default_rng(seed)
        kind = str(pick.choice(list(BROAD_ODDS), p=list(BROAD_ODDS.values())))
        counts[kind] += 1
        got = degrade(hr, 4, "broad", np.random.default_rng(seed))
        if kind == "clean":
            preset = str(pick.choice(H264_PRESETS))
            crf = int(pick.integers(18, 33))
            expected = (
                torch.round(compress(bicubic_downscale(hr, 4), "libx264", crf, preset=preset) * 255) / 255
            )
            assert torch.equal(got, expected)
    assert all(6 <= n <= 22 for n in counts.values()), counts


def test_bd_of_a_flat_image_is_flat() -> None:
    hr = torch.full((1, 3, 32, 32), 0.4)
    assert torch.allclose(blur_downscale(hr, 4), torch.full((1, 3, 8, 8), round(0.4 * 255) / 255))


@pytest.mark.parametrize("scale", [2, 4])
def test_bd_and_bi_share_one_sampling_grid(scale: int) -> None:
    # A bright square's centre of mass lands where bicubic puts it: BD blurs, it does not shift.
    hr = torch.zeros(1, 3, 64, 64)
    hr[..., 24:40, 20:36] = 1.0

    def centroid(x: torch.Tensor) -> tuple[float, float]:
        y = x[0, 0].double()
        rows, cols = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in y.shape), indexing="ij")
        return float((rows * y).sum() / y.sum()), float((cols * y).sum() / y.sum())

    bd, bi = centroid(blur_downscale(hr, scale)), centroid(bicubic_downscale(hr, scale))
    assert bd == pytest.approx(bi, abs=0.02)
    assert bi == pytest.approx(((31.5 + 0.5) / scale - 0.5, (27.5 + 0.5) / scale - 0.5), abs=0.02)


def test_gaussian_kernel_is_normalised_and_symmetric() -> None:
    k = gaussian_kernel(1.5, 1.5, 0.0, size=13)
    assert float(k.sum()) == pytest.approx(1.0)
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))


def test_compression_is_lossy_but_close() -> None:
    torch.manual_seed(0)
    smooth = F.interpolate(torch.rand(4, 3, 4, 4), size=(32, 32), mode="bilinear")
    out = compress(smooth, "libx264", 30)
    assert out.shape == smooth.shape
    err = (out - smooth).abs().mean()
    assert 0 < err < 0.05


@pytest.mark.parametrize("size", [(32, 48), (16, 40), (30, 18), (72, 88)])
def test_x265_takes_frames_smaller_than_a_ctu(size: tuple[int, int]) -> None:
    # x265 corrupted its heap (and killed the training run) on 48-pixel-wide frames before padding.
    torch.manual_seed(1)
    smooth = F.interpolate(torch.rand(6, 3, 4, 4), size=size, mode="bilinear")
    out = compress(smooth, "libx265", 28)
    assert out.shape == smooth.shape
    assert 0 < (out - smooth).abs().mean() < 0.05


def test_web_is_milder_than_real() -> None:
    """Calibrated on real low-resolution footage (benchmarks/calibrate_real.py): over many draws,
    the luma of "web" LR stays much closer to the BI LR of the same frames than "real" LR does."""
    from vsr.metrics import luma

    torch.manual_seed(0)
    coarse = torch.rand(1, 3, 8, 8)
    hr = (
        F.interpolate(coarse, size=(96, 96), mode="bicubic", align_corners=False)
        .clamp(0, 1)
        .repeat(2, 1, 1, 1)
    )
    bi = luma(degrade(hr, 4, "BI"))

    def mean_error(kind: str) -> float:  # luma levels
        draws = [degrade(hr, 4, kind, np.random.default_rng(seed)) for seed in range(12)]
        return float(np.mean([(luma(lr) - bi).abs().mean() for lr in draws]))

    assert mean_error("web") < 0.6 * mean_error("real")


def test_eval_settings_are_fixed_and_each_what_its_name_says() -> None:
    """The evaluation's settings draw nothing (same LR without any rng) and are exactly their
    base degradation, then the named codec at the named CRF (medium preset)."""
    torch.manual_seed(0)
    hr = F.interpolate(torch.rand(3, 3, 12, 12), size=(96, 96), mode="bilinear")
    for name, (base, codec, crf) in EVAL_SETTINGS.items():
        lr = degrade(hr, 4, name)
        assert torch.equal(lr, degrade(hr, 4, name))
        clean = bicubic_downscale(hr, 4) if base == "BI" else blur_downscale(hr, 4)
        expected = clean if codec is None else compress(clean, codec, crf, preset="medium")
        assert torch.equal(lr, expected), name
    assert not torch.equal(degrade(hr, 4, "BI+H264"), degrade(hr, 4, "BI+H264-28"))


def test_blind_mix_covers_clean_blurred_noisy_and_compressed_windows() -> None:
    """Over 40 seeds "blind" gives clean BI windows (some exactly BI, lossless) and others that are
    far from BI (blur, another kernel, noise, a codec)."""
    torch.manual_seed(0)
    hr = F.interpolate(torch.rand(4, 3, 8, 8), size=(64, 64), mode="bilinear")
    bi = bicubic_downscale(hr, 4)
    exact = far = 0
    for seed in range(40):
        lr = degrade(hr, 4, "blind", np.random.default_rng(seed))
        diff = (lr - bi).abs().mean()
        exact += bool(torch.equal(lr, bi))
        far += bool(diff > 0.02)
    assert 1 <= exact <= 10  # BLIND_CLEAN (0.2) x half lossless: about 4 in 40
    assert far >= 15


def test_chroma_420_keeps_luma_and_halves_colour_detail() -> None:
    x = torch.rand(1, 3, 16, 16)
    y = chroma_420(x)
    luma = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    grey = torch.rand(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.allclose(chroma_420(grey), grey, atol=1e-6)  # no colour, nothing to lose
    assert (luma(y) - luma(x)).abs().max() < 0.35  # clamping aside, luma stays
    assert (y - x).abs().mean() > 0.01  # random colour at full resolution does not survive


def test_compress_honours_the_gop() -> None:
    """A GOP shorter than the clip puts key frames inside it, which changes how the later frames
    are coded; the default is the encoder's long GOP (the same as asking for 250)."""
    torch.manual_seed(0)
    frames = torch.rand(1, 3, 32, 32).repeat(12, 1, 1, 1) + 0.05 * torch.rand(12, 3, 32, 32)
    for codec in ("libx264", "libx265"):
        default = compress(frames, codec, 30)
        assert torch.equal(default, compress(frames, codec, 30, gop=250)), codec
        assert not torch.equal(default, compress(frames, codec, 30, gop=4)), codec
