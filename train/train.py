"""The training loop, flat and in one file (python -m train --help).

Stage "psnr": Charbonnier loss on HR frames + a warping loss that teaches the flow net to align
consecutive LR frames. Checkpoints hold everything needed to resume exactly: weights, optimiser,
scheduler, RNG state and iteration; the data windows are a pure function of (seed, index).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from train.data import WindowDataset, load_clips, load_validation
from vsr.degradations import DEGRADATIONS, bicubic_downscale
from vsr.metrics import psnr_y
from vsr.models.generator import PRESETS, FrameRecurrentGenerator, GeneratorArgs
from vsr.models.layers import backward_warp

log = logging.getLogger("train")


@dataclass(frozen=True)
class TrainConfig:
    out_dir: str = "runs/fast-x4"
    train_dir: str = "../shared/data/train"
    val_dir: str = "../shared/data/val"
    cache_dir: str = "~/.cache/vsr-train"
    preset: str = "fast"
    scale: int = 4
    stage: str = "psnr"
    degradation: str = "BI"  # BI, BD or real (blur, resize, noise, H.264/H.265, twice)
    warp: str = "preset"  # preset, hr (warp the HR frame) or folded (warp at LR resolution)
    max_frames_per_clip: int = 300
    frames: int = 8  # T, frames per training window
    crop: int = 128  # HR crop size
    batch: int = 8
    iters: int = 20000
    lr: float = 5e-4
    min_lr_ratio: float = 0.05
    warmup: int = 200
    warp_weight: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    workers: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch default
    log_every: int = 20
    val_every: int = 500
    val_frames: int = 20
    ckpt_every: int = 250
    resume: bool = False
    stop_at: int = 0  # stop this process at this iteration (checkpointed); 0 = run to `iters`

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.stage != "psnr":
            raise ValueError(f"stage {self.stage!r} is not implemented; use 'psnr'")
        if self.degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {self.degradation!r}")
        if self.warp not in ("preset", "hr", "folded"):
            raise ValueError(f"warp must be preset, hr or folded, got {self.warp!r}")
        if self.frames < 2:
            raise ValueError("frames must be at least 2 (the warping loss needs pairs)")

    def model_args(self) -> GeneratorArgs:
        args = {**asdict(PRESETS[self.preset]), "scale": self.scale}
        if self.warp != "preset":
            args["hr_warp"] = self.warp == "hr"
        return GeneratorArgs(**args)


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def lr_lambda(cfg: TrainConfig):
    def f(it: int) -> float:
        if it < cfg.warmup:
            return (it + 1) / cfg.warmup
        progress = min(1.0, (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def losses(
    model: FrameRecurrentGenerator, lr: torch.Tensor, hr: torch.Tensor, cfg: TrainConfig
) -> dict[str, torch.Tensor]:
    # lr (b, t, 3, h, w), hr (b, t, 3, sh, sw)
    out = model.forward_sequence(lr)
    pixel = charbonnier(out.hr, hr)
    b, t, c, h, w = lr.shape
    prev = lr[:, :-1].reshape(-1, c, h, w)
    flow = out.flow[:, 1:].reshape(-1, 2, h, w)
    warp = charbonnier(backward_warp(prev, flow), lr[:, 1:].reshape(-1, c, h, w))
    return {"loss": pixel + cfg.warp_weight * warp, "pixel": pixel, "warp": warp}


@torch.no_grad()
def validate(
    model: FrameRecurrentGenerator, clips: list[tuple[str, torch.Tensor]], scale: int
) -> dict[str, Any]:
    model.eval()
    per_clip = {}
    for name, hr in clips:
        lr = bicubic_downscale(hr, scale)  # (t, 3, h, w)
        out = model.forward_sequence(lr[None]).hr[0].clamp(0, 1)
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        per_clip[name] = {
            "psnr_y": sum(psnr_y(o, g, scale) for o, g in zip(out, hr, strict=True)) / len(hr),
            "bicubic_psnr_y": sum(psnr_y(o, g, scale) for o, g in zip(bic, hr, strict=True)) / len(hr),
        }
    model.train()
    mean = {k: sum(v[k] for v in per_clip.values()) / len(per_clip) for k in ("psnr_y", "bicubic_psnr_y")}
    return {
        **{f"val_{k}": v for k, v in mean.items()},
        "val_gain_db": mean["psnr_y"] - mean["bicubic_psnr_y"],
        "val_clips": per_clip,
    }


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig) -> None:
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cache = Path(cfg.cache_dir).expanduser()
    model = FrameRecurrentGenerator.from_args(cfg.model_args())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    start = 0
    ckpt_path = out_dir / "ckpt.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise SystemExit(f"{ckpt_path} exists: pass --resume to continue it, or pick another --out-dir")
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        start = ckpt["iter"]
        log.info("resumed from %s at iteration %d", ckpt_path, start)
        log_path = out_dir / "log.jsonl"
        if log_path.exists():  # drop what was logged after the checkpoint: it is about to be redone
            kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["iter"] <= start]
            log_path.write_text("".join(line + "\n" for line in kept))
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    clips = load_clips(cfg.train_dir, cache / "train", cfg.max_frames_per_clip)
    val = load_validation(cfg.val_dir, cache / "val", cfg.val_frames, cfg.scale)
    data = WindowDataset(
        clips,
        frames=cfg.frames,
        crop=cfg.crop,
        scale=cfg.scale,
        seed=cfg.seed,
        length=cfg.iters * cfg.batch,
        degradation=cfg.degradation,
    )
    sampler = range(start * cfg.batch, cfg.iters * cfg.batch)
    loader = DataLoader(data, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers)
    log.info("%d training clips, %d validation clips, model %s", len(clips), len(val), asdict(model.args))

    model.train()
    it = start
    with open(out_dir / "log.jsonl", "a") as log_file:

        def record(entry: dict[str, Any]) -> None:
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()

        t0 = time.perf_counter()
        for lr, hr in loader:
            terms = losses(model, lr, hr, cfg)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            it += 1
            if it % cfg.log_every == 0:
                dt = time.perf_counter() - t0
                entry = {
                    "iter": it,
                    **{k: round(float(v.detach()), 6) for k, v in terms.items()},
                    "lr": sched.get_last_lr()[0],
                    "s_per_iter": round(dt / cfg.log_every, 4),
                }
                record(entry)
                log.info(
                    "iter %d loss %.5f pixel %.5f warp %.5f (%.2fs/it)",
                    it,
                    entry["loss"],
                    entry["pixel"],
                    entry["warp"],
                    entry["s_per_iter"],
                )
                t0 = time.perf_counter()
            if it % cfg.val_every == 0 or it == cfg.iters:
                metrics = validate(model, val, cfg.scale)
                record({"iter": it, **metrics})
                log.info(
                    "iter %d val PSNR-Y %.3f dB (bicubic %.3f, gain %+.3f)",
                    it,
                    metrics["val_psnr_y"],
                    metrics["val_bicubic_psnr_y"],
                    metrics["val_gain_db"],
                )
            stopping = it == cfg.stop_at
            if it % cfg.ckpt_every == 0 or it == cfg.iters or stopping:
                save_checkpoint(
                    ckpt_path,
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "rng": torch.get_rng_state(),
                        "iter": it,
                        "config": asdict(cfg),
                        "model_args": asdict(model.args),
                    },
                )
            if stopping:
                break
    log.info("stopped at iteration %d", it)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m train", description="Train a vsr generator.")
    for f in fields(TrainConfig):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return TrainConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    train(parse_args(argv))
