"""Training: a few real iterations on clips written by the test, exact resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.clips import make_clip
from train.export import export
from train.train import TrainConfig, train
from vsr.models.zoo import load_model


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    make_clip(tmp_path / "train" / "a.mp4", frames=10, width=80, height=64)
    make_clip(tmp_path / "train" / "b.mkv", frames=10, width=64, height=64, codec="ffv1")
    make_clip(tmp_path / "val" / "v.mp4", frames=4, width=64, height=48)
    return tmp_path / "train", tmp_path / "val"


def _config(tmp_path: Path, data: tuple[Path, Path], out: str, **kw) -> TrainConfig:
    defaults = dict(
        out_dir=str(tmp_path / out),
        train_dir=str(data[0]),
        val_dir=str(data[1]),
        cache_dir=str(tmp_path / "cache"),
        frames=3,
        crop=32,
        batch=2,
        iters=6,
        warmup=2,
        log_every=1,
        val_every=3,
        val_frames=4,
        ckpt_every=100,
    )
    return TrainConfig(**{**defaults, **kw})


def test_resume_is_exact(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train(_config(tmp_path, data, "straight"))
    train(_config(tmp_path, data, "split", stop_at=4))
    train(_config(tmp_path, data, "split", resume=True))
    a = torch.load(tmp_path / "straight" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=True)
    assert a["iter"] == b["iter"] == 6
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["optimizer"]["state"][0]["exp_avg"].abs().sum() > 0  # it really trained
    log = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert sum('"val_psnr_y"' in line for line in log) == 2  # at 3 and at 6


def test_refuses_to_overwrite_a_run(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train(_config(tmp_path, data, "run", stop_at=1))
    with pytest.raises(SystemExit, match="--resume"):
        train(_config(tmp_path, data, "run"))


def test_export_loads_as_a_model(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train(_config(tmp_path, data, "run", iters=3))
    path = export(tmp_path / "run", "tiny-x4", out_dir=tmp_path / "weights")
    model, info = load_model(str(path), 4)
    assert info["iterations"] == 3 and info["val_psnr_y"] is not None
    assert model.args.channels == 16


def _gan_resumes_exactly(
    tmp_path: Path, data: tuple[Path, Path], name: str, gan: dict
) -> tuple[dict, list[dict]]:
    """Train `name`-straight for 4 iterations and `name`-split as 2 + 2 with --resume; assert
    the two end with equal G, D and EMA weights. Returns the straight checkpoint and the split log."""
    train(_config(tmp_path, data, f"{name}-straight", iters=4, **gan))
    train(_config(tmp_path, data, f"{name}-split", iters=4, stop_at=2, **gan))
    train(_config(tmp_path, data, f"{name}-split", iters=4, resume=True, **gan))
    a = torch.load(tmp_path / f"{name}-straight" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / f"{name}-split" / "ckpt.pt", weights_only=True)
    for part in ("model", "disc", "ema"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), (part, key)
    log_path = tmp_path / f"{name}-split" / "log.jsonl"
    return a, [json.loads(line) for line in log_path.read_text().splitlines()]


def test_gan_stage_runs_resumes_exactly_and_exports(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train(_config(tmp_path, data, "psnr", iters=2))
    gan = dict(stage="gan", init_from=str(tmp_path / "psnr"), frames=4, d_balance=0.0)
    a, log = _gan_resumes_exactly(tmp_path, data, "gan", gan)
    losses = [e for e in log if "adv" in e]
    assert [e["iter"] for e in losses] == [1, 2, 3, 4]
    assert all(e["pingpong"] >= 0 and e["fm"] > 0 and e["d_step"] == 1.0 for e in losses)
    assert (tmp_path / "gan-split" / "samples").is_dir()
    path = export(tmp_path / "gan-split", "tiny-gan-x4", out_dir=tmp_path / "weights")
    model, info = load_model(str(path), 4)
    assert info["stage"] == "gan"
    for key, value in model.state_dict().items():  # the EMA weights are what ships
        assert torch.equal(value, a["ema"][key])


def test_gan_recipe_terms_fade_in_and_resume_exactly(tmp_path: Path, data: tuple[Path, Path]) -> None:
    """The terms that need no pretrained network (unsharp-masked target, spectrum L1, LDL against
    the EMA generator) with the adversarial fade-in: logged, and resumed exactly."""
    train(_config(tmp_path, data, "psnr", iters=2))
    gan = dict(
        stage="gan",
        init_from=str(tmp_path / "psnr"),
        frames=3,
        d_balance=0.0,
        usm=0.5,
        freq_weight=0.1,
        ldl_weight=1.0,
        adv_warmup=4,
    )
    _, log = _gan_resumes_exactly(tmp_path, data, "recipe", gan)
    steps = [e for e in log if "adv" in e]
    assert all(e["freq"] > 0 and e["ldl"] >= 0 for e in steps)
    # iteration 1 starts the fade at 0: the total is the pixel, flow, spectrum, LDL and ping-pong
    # terms only (default weights: warp 0.5, ping-pong 0.5)
    first = steps[0]
    assert first["iter"] == 1
    expected = (
        first["pixel"] + 0.5 * first["warp"] + 0.1 * first["freq"] + first["ldl"] + 0.5 * first["pingpong"]
    )
    assert first["loss"] == pytest.approx(expected, abs=2e-6)
    with pytest.raises(ValueError, match="EMA"):
        _config(tmp_path, data, "x", ema=0.0, **gan)


def test_validation_split_is_deterministic(tmp_path: Path) -> None:
    from train.data import split_clips

    paths = [tmp_path / f"clip{i:02d}.mp4" for i in range(30)]
    train_a, val_a = split_clips(paths)
    train_b, val_b = split_clips(list(reversed(paths)))
    assert sorted(val_a) == sorted(val_b) and val_a
    assert not set(train_a) & set(val_a) and len(train_a) + len(val_a) == 30
    assert split_clips(paths[:2])[1]  # even two clips give one to validation


def test_clip_cache_survives_a_fresh_copy_and_drops_stale_entries(tmp_path: Path) -> None:
    """Data folders copied afresh (new mtimes) must hit the cache; new content must replace,
    not pile up beside, a clip's old entry."""
    import os
    import shutil

    from train.data import load_clips

    clip, cache = tmp_path / "a.mp4", tmp_path / "cache"
    make_clip(clip, frames=4, width=64, height=48)
    first = load_clips([clip], cache, max_frames=4)[0].frames.copy()
    entry = sorted(cache.glob("*.npy"))
    shutil.copyfile(clip, tmp_path / "copy.mp4")
    (tmp_path / "copy.mp4").replace(clip)
    os.utime(clip, ns=(1, 1))
    again = load_clips([clip], cache, max_frames=4)[0].frames
    assert sorted(cache.glob("*.npy")) == entry and np.array_equal(again, first)
    make_clip(clip, frames=6, width=64, height=48)  # new content at the same path
    changed = load_clips([clip], cache, max_frames=6)[0].frames
    assert changed.shape[0] == 6 and len(list(cache.glob("*.npy"))) == 1
    assert not list(cache.glob("*.tmp"))


def test_validation_inputs_are_fixed_per_clip(tmp_path: Path, data: tuple[Path, Path]) -> None:
    """--val-degradation real: every load gives the same LR (seeded by clip), unlike BI's, and the
    trainer validates on it."""
    from train.data import find_clips, load_validation

    paths = find_clips(data[1])
    a = load_validation(paths, tmp_path / "cache", 4, 4, "real")
    b = load_validation(paths, tmp_path / "cache", 4, 4, "real")
    bi = load_validation(paths, tmp_path / "cache", 4, 4)
    assert [name for name, *_ in a] == ["v"]
    assert torch.equal(a[0][2], b[0][2]) and torch.equal(a[0][1], bi[0][1])
    assert a[0][2].shape == bi[0][2].shape == (4, 3, 12, 16)
    assert (a[0][2] - bi[0][2]).abs().mean() > 0.01  # blur, noise and a codec, not the BI frames
    train(_config(tmp_path, data, "real-val", iters=3, val_degradation="real"))
    log = [json.loads(line) for line in (tmp_path / "real-val" / "log.jsonl").read_text().splitlines()]
    assert [e["iter"] for e in log if "val_psnr_y" in e] == [3]


def test_split_option_trains(tmp_path: Path, data: tuple[Path, Path]) -> None:
    make_clip(data[0] / "c.mp4", frames=10, width=64, height=64)
    train(_config(tmp_path, data, "split-run", iters=2, val_dir="split"))
    assert any(
        '"val_psnr_y"' in line for line in (tmp_path / "split-run" / "log.jsonl").read_text().splitlines()
    )


def _clip(frames: int = 6, h: int = 96, w: int = 128):  # noqa: ANN202 - train.data.CachedClip
    from train.data import CachedClip

    rng = np.random.default_rng(1)
    return CachedClip(Path("x.mp4"), rng.integers(0, 256, size=(frames, h, w, 3), dtype=np.uint8))


def test_moving_windows_slide_by_whole_hr_pixels() -> None:
    """A moving-frame window is one frame seen through a crop that moves a whole number of HR
    pixels per frame: frame t+1 is frame t shifted by the same (dy, dx) where they overlap."""
    from train.data import WindowDataset

    data = WindowDataset([_clip()], frames=5, crop=32, scale=4, seed=0, length=40, moving=1.0, max_speed=3)
    moved = 0
    for i in range(40):
        _, hr = data[i]
        found = []
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                a, b = hr[0], hr[1]  # b(y, x) = a(y + dy, x + dx), before flips
                ys, xs = slice(max(0, dy), 32 + min(0, dy)), slice(max(0, dx), 32 + min(0, dx))
                yb, xb = slice(max(0, -dy), 32 + min(0, -dy)), slice(max(0, -dx), 32 + min(0, -dx))
                if torch.equal(a[:, ys, xs], b[:, yb, xb]):
                    found.append((dy, dx))
        assert found, f"window {i}: frame 1 is not a whole-pixel shift of frame 0"
        moved += found != [(0, 0)]
    assert moved > 30  # most windows move (velocity 0 in both directions is 1 in 49)


def test_soft_windows_lose_fine_detail() -> None:
    """A soft window's target has less high-frequency energy than the same plain window."""
    from train.data import WindowDataset

    plain = WindowDataset([_clip()], frames=3, crop=32, scale=4, seed=0, length=10)
    soft = WindowDataset([_clip()], frames=3, crop=32, scale=4, seed=0, length=10, soft=1.0)

    def detail(x: torch.Tensor) -> float:
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean())

    for i in range(10):
        (_, hr_plain), (lr_soft, hr_soft) = plain[i], soft[i]
        assert detail(hr_soft) < 0.8 * detail(hr_plain)
        assert lr_soft.shape == (3, 3, 8, 8)


def test_hidden_recurrence_trains_resumes_and_exports(tmp_path: Path, data: tuple[Path, Path]) -> None:
    hidden = dict(recurrence="hidden", channels=8, blocks=1, state_channels=4, moving=0.5, soft=0.2)
    train(_config(tmp_path, data, "straight", **hidden))
    train(_config(tmp_path, data, "split", stop_at=3, **hidden))
    train(_config(tmp_path, data, "split", resume=True, **hidden))
    a = torch.load(tmp_path / "straight" / "ckpt.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert all("warp" not in e for e in log if "loss" in e)  # no flow net, no warping loss
    assert any("val_state_gain_db" in e for e in log)
    model, _ = load_model(str(export(tmp_path / "split", "h-x4", out_dir=tmp_path / "w")), 4)
    assert model.args.recurrence == "hidden" and model.args.state_channels == 4


def test_holdout_sources_leave_training_for_validation(tmp_path: Path, data: tuple[Path, Path]) -> None:
    """--holdout moves a source's clips from training to validation; several --val-degradation
    settings are validated and logged each on their own; a teacher and the temporal term train."""
    from train.data import holdout_split

    paths = [Path("src_a1.mp4"), Path("src_b1.mp4"), Path("src_a2.mp4"), Path("other.mp4")]
    kept, held = holdout_split(paths, ("src_a", "other"))
    assert kept == [Path("src_b1.mp4")] and held == [paths[0], paths[2], paths[3]]

    make_clip(data[0] / "heldsrc_x.mp4", frames=10, width=64, height=64)
    train(_config(tmp_path, data, "teacher", iters=2))
    teacher = export(tmp_path / "teacher", "teacher-x4", out_dir=tmp_path / "weights")
    cfg = _config(
        tmp_path,
        data,
        "blind",
        iters=3,
        degradation="blind",
        holdout="heldsrc_",
        val_degradation="BI,BD+H264",
        temporal_weight=0.5,
        teacher=str(teacher),
        teacher_weight=0.5,
    )
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "blind" / "log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "pixel" in e]
    assert all(e["temporal"] > 0 and e["distill"] > 0 for e in steps)
    first = steps[0]
    expected = first["pixel"] + 0.5 * first["warp"] + 0.5 * first["temporal"] + 0.5 * first["distill"]
    assert first["loss"] == pytest.approx(expected, abs=2e-6)
    val = next(e for e in log if "val_settings" in e)
    assert set(val["val_settings"]) == {"BI", "BD+H264"}
    assert sorted(val["val_clips"]) == ["BD+H264/heldsrc_x", "BD+H264/v", "BI/heldsrc_x", "BI/v"]
    bi, bd = val["val_settings"]["BI"], val["val_settings"]["BD+H264"]
    assert bi["bicubic_psnr_y"] != bd["bicubic_psnr_y"]  # really two inputs
    with pytest.raises(ValueError, match="val_degradation"):
        _config(tmp_path, data, "x", val_degradation="BI,nope")


def test_random_perceptual_term_trains_and_adds_up(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train(
        _config(
            tmp_path, data, "perc", iters=2, perceptual_weight=0.5, perceptual_seeds="0,1", gram_weight=1.0
        )
    )
    log = [json.loads(line) for line in (tmp_path / "perc" / "log.jsonl").read_text().splitlines()]
    first = next(e for e in log if "pixel" in e)
    assert first["perceptual"] > 0
    assert first["loss"] == pytest.approx(
        first["pixel"] + 0.5 * first["warp"] + 0.5 * first["perceptual"], abs=2e-6
    )
    with pytest.raises(ValueError, match="perceptual_seeds"):
        _config(tmp_path, data, "x", perceptual_seeds="0,a")
