"""The training loop, flat and in one file (python -m train --help).

Stage "psnr": Charbonnier loss on HR frames + a warping loss that teaches the flow net to align
consecutive LR frames.
Stage "gan" (TecoGAN), started from a PSNR model with --init-from: the same terms, plus
- a spatio-temporal discriminator on triplets of frames aligned with the generator's flow and
  conditioned on the LR triplet (--no-temporal-d: single frames, the ablation);
- ping-pong: every window is run forward then backward and the two outputs of each frame must
  agree (--no-pingpong: the ablation);
- feature matching on the discriminator's features (no pretrained VGG is available offline);
- G/D balance: D skips its update while its loss is below --d-balance; EMA of G's weights;
- optional terms that need no pretrained network either: the pixel loss against unsharp-masked
  ground truth (--usm AMOUNT, as Real-ESRGAN / RealBasicVSR do), an L1 loss on the 2-D spectra
  (--freq-weight) and LDL's artifact-map loss against the EMA generator (--ldl-weight); the
  adversarial and feature-matching terms fade in over --adv-warmup iterations.
Terms either stage can add: --temporal-weight (the output's frame-to-frame change against the
ground truth's, warped by the model's flow), --teacher/--teacher-weight (a second target: another
generator's output, forward only) and --perceptual-weight (fixed random-feature networks, no
pretrained weights: train.perceptual).

Checkpoints hold everything needed to resume exactly: weights (G, D, EMA), optimisers, schedulers,
RNG state and iteration; the data windows are a pure function of (seed, index). fp32 on CPU, AMP
on CUDA; `torchrun --nproc-per-node N -m train ...` trains with DDP (each rank takes every Nth
window; rank 0 validates, logs and checkpoints).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from train.data import (
    WindowDataset,
    find_clips,
    holdout_split,
    load_clips,
    load_validation,
    split_clips,
)
from train.discriminator import TemporalDiscriminator, discriminator_inputs, triplet_flows
from train.losses import (
    adversarial_d,
    adversarial_g,
    artifact_loss,
    charbonnier,
    feature_matching,
    frequency_loss,
    pingpong_loss,
    pingpong_sequence,
    temporal_loss,
    unsharp_mask,
    warping_loss,
)
from train.perceptual import RandomPerceptualLoss
from vsr.degradations import DEGRADATIONS
from vsr.evaluate import save_crops
from vsr.metrics import SequenceScorer
from vsr.models.checkpoint import load_generator
from vsr.models.generator import PRESETS, FrameRecurrentGenerator, GeneratorArgs, SequenceOutput

log = logging.getLogger("train")


@dataclass(frozen=True)
class TrainConfig:
    out_dir: str = "runs/fast-x4"
    train_dir: str = "../shared/data/train"
    val_dir: str = "../shared/data/val"  # or "split": hold out ~1 in 10 training clips, by name
    cache_dir: str = "~/.cache/vsr-train"
    preset: str = "fast"
    scale: int = 4
    stage: str = "psnr"  # psnr or gan
    init_from: str = ""  # gan: a PSNR run directory or .safetensors to start the generator from
    # BI, BD, real (blur, resize, noise, H.264/H.265, twice) or web (calibrated on real footage, milder)
    degradation: str = "BI"
    # what validation feeds the model: BI, or real/web/mixed drawn with fixed seeds per clip (the
    # seeds of benchmarks/compare_temporal.py's "real" setting), the same LR at every validation
    val_degradation: str = "BI"  # several, comma-separated ("BI,BD+H264"): each validated on its own
    # training clips whose names start with one of these (comma-separated) are validated on, never
    # trained on (train.data.HOLDOUT_SOURCES lists the held-out sources of issue 27)
    holdout: str = ""
    warp: str = "preset"  # preset, hr (warp the HR frame) or folded (warp at LR resolution)
    recurrence: str = "preset"  # preset, flow (FNet + warp) or hidden (flow-free hidden state)
    channels: int = 0  # 0: the preset's
    blocks: int = 0  # 0: the preset's
    state_channels: int = -1  # hidden features carried ("hidden"); -1: the preset's
    reset_state: bool = False  # reset the state every frame: the single-frame ablation
    feedback: str = "preset"  # hidden recurrence: preset, output or residual
    max_frames_per_clip: int = 300
    frames: int = 8  # T, frames per training window
    moving: float = 0.0  # share of moving-frame windows (one frame, crop sliding by whole HR pixels)
    soft: float = 0.0  # share of windows whose HR target is blurred or resampled first
    crop: int = 128  # HR crop size
    batch: int = 8  # per process
    iters: int = 20000
    lr: float = 5e-4
    min_lr_ratio: float = 0.05
    warmup: int = 200
    warp_weight: float = 0.5
    # > 0: the output's frame-to-frame change against the ground truth's, both warped by the
    # model's flow where it has one (train.losses.temporal_loss)
    temporal_weight: float = 0.0
    # distillation: a generator's weights (.safetensors) whose output on the same LR is a second
    # target, weighted by teacher_weight (the teacher runs forward only)
    teacher: str = ""
    teacher_weight: float = 0.0
    # > 0: a perceptual loss with no pretrained weights (train.perceptual: fixed random CNNs, one
    # per comma-separated seed), with an optional Gram (texture) term inside it
    perceptual_weight: float = 0.0
    perceptual_seeds: str = "0"
    gram_weight: float = 0.0
    grad_clip: float = 1.0
    # GAN stage
    adv_weight: float = 0.01
    fm_weight: float = 0.2
    pingpong: bool = True
    pingpong_weight: float = 0.5
    temporal_d: bool = True
    d_channels: int = 32
    d_detail_gain: float = 0.0  # > 0: D sees (frame - bicubic of its LR) x gain in place of the frame
    d_lr: float = 1e-4
    d_balance: float = 0.4  # D skips its step while its loss is below this
    adv_warmup: int = 0  # adversarial + feature-matching weights ramp from 0 over this many iterations
    usm: float = 0.0  # gan: pixel/frequency/LDL targets are unsharp-masked GT with this amount (0: plain)
    freq_weight: float = 0.0  # gan: L1 between the output's and the target's 2-D spectra
    ldl_weight: float = 0.0  # gan: LDL artifact-map loss against the EMA generator (needs --ema > 0)
    ema: float = 0.999  # decay of the generator EMA (0: off)
    # run
    seed: int = 0
    workers: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch default
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    tensorboard: bool = True  # if the tensorboard package is installed
    log_every: int = 20
    val_every: int = 500
    val_frames: int = 20
    ckpt_every: int = 250
    resume: bool = False
    stop_at: int = 0  # stop this process at this iteration (checkpointed); 0 = run to `iters`

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.stage not in ("psnr", "gan"):
            raise ValueError(f"stage must be psnr or gan, got {self.stage!r}")
        if self.stage == "gan" and not self.init_from and not self.resume:
            raise ValueError("the gan stage starts from a PSNR model: pass --init-from RUN_DIR or WEIGHTS")
        if self.degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {self.degradation!r}")
        for kind in self.val_degradation.split(","):
            if kind not in DEGRADATIONS:
                raise ValueError(f"val_degradation must list some of {DEGRADATIONS}, got {kind!r}")
        if self.teacher_weight > 0 and not self.teacher:
            raise ValueError("--teacher-weight needs --teacher WEIGHTS")
        if not all(seed.strip().isdigit() for seed in self.perceptual_seeds.split(",")):
            raise ValueError(f"perceptual_seeds: comma-separated integers, got {self.perceptual_seeds!r}")
        if self.warp not in ("preset", "hr", "folded"):
            raise ValueError(f"warp must be preset, hr or folded, got {self.warp!r}")
        if self.recurrence not in ("preset", "flow", "hidden"):
            raise ValueError(f"recurrence must be preset, flow or hidden, got {self.recurrence!r}")
        for name in ("moving", "soft"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.frames < (3 if self.stage == "gan" else 2):
            raise ValueError("frames must be at least 2 (3 for the gan stage: D sees triplets)")
        if self.ldl_weight > 0 and self.ema <= 0:
            raise ValueError("--ldl-weight compares with the EMA generator: it needs --ema > 0")

    def model_args(self) -> GeneratorArgs:
        args = {**asdict(PRESETS[self.preset]), "scale": self.scale}
        if self.warp != "preset":
            args["hr_warp"] = self.warp == "hr"
        if self.recurrence != "preset":
            args["recurrence"] = self.recurrence
            if self.recurrence == "flow":
                args["state_channels"] = 0
        for name in ("channels", "blocks"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        if self.state_channels >= 0:
            args["state_channels"] = self.state_channels
        if self.feedback != "preset":
            args["feedback"] = self.feedback
        return GeneratorArgs(**args)


def lr_lambda(cfg: TrainConfig):
    def f(it: int) -> float:
        if it < cfg.warmup:
            return (it + 1) / cfg.warmup
        progress = min(1.0, (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def run_sequence(g: torch.nn.Module, lr: torch.Tensor, reset: bool = False) -> SequenceOutput:
    """forward_sequence, through the DDP wrapper when there is one (so gradients are synchronised)."""
    if isinstance(g, torch.nn.parallel.DistributedDataParallel):
        return g(lr, reset)
    return g.forward_sequence(lr, reset_every_frame=reset)


def generator_step(
    model: FrameRecurrentGenerator,
    g: torch.nn.Module,
    disc: TemporalDiscriminator | None,
    lr: torch.Tensor,
    hr: torch.Tensor,
    cfg: TrainConfig,
    ema: FrameRecurrentGenerator | None = None,
    adv_scale: float = 1.0,
    teacher: FrameRecurrentGenerator | None = None,
    perceptual: RandomPerceptualLoss | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The generator's losses; for the gan stage also D's input batch [real; fake] (detached).
    `adv_scale` multiplies the adversarial and feature-matching weights (the fade-in)."""
    # lr (b, t, 3, h, w), hr (b, t, 3, sh, sw)
    t = lr.shape[1]
    gan = cfg.stage == "gan"
    use_pp = gan and cfg.pingpong
    lr_in, hr_in = (pingpong_sequence(lr), pingpong_sequence(hr)) if use_pp else (lr, hr)
    target = unsharp_mask(hr_in, cfg.usm) if gan and cfg.usm > 0 else hr_in
    out = run_sequence(g, lr_in, cfg.reset_state)
    terms = {"pixel": charbonnier(out.hr, target)}
    loss = terms["pixel"]
    if gan and cfg.freq_weight > 0:
        terms["freq"] = frequency_loss(out.hr, target)
        loss = loss + cfg.freq_weight * terms["freq"]
    if gan and cfg.ldl_weight > 0 and ema is not None:
        with torch.no_grad():
            out_ema = ema.forward_sequence(lr_in, reset_every_frame=cfg.reset_state).hr
        terms["ldl"] = artifact_loss(target, out.hr, out_ema)
        loss = loss + cfg.ldl_weight * terms["ldl"]
    if out.flow is not None:
        terms["warp"] = warping_loss(lr_in, out.flow)
        loss = loss + cfg.warp_weight * terms["warp"]
    if perceptual is not None and cfg.perceptual_weight > 0:
        terms["perceptual"] = perceptual(out.hr, target)
        loss = loss + cfg.perceptual_weight * terms["perceptual"]
    if cfg.temporal_weight > 0:
        terms["temporal"] = temporal_loss(out.hr, hr_in, out.flow)
        loss = loss + cfg.temporal_weight * terms["temporal"]
    if teacher is not None and cfg.teacher_weight > 0:
        with torch.no_grad():
            taught = teacher.forward_sequence(lr_in).hr
        terms["distill"] = charbonnier(out.hr, taught)
        loss = loss + cfg.teacher_weight * terms["distill"]
    if disc is None:
        terms["loss"] = loss
        return terms, None
    if use_pp:
        terms["pingpong"] = pingpong_loss(out.hr, t)
        loss = loss + cfg.pingpong_weight * terms["pingpong"]
    fake = out.hr[:, :t]
    with torch.no_grad():  # D aligns triplets with the generator's own flow, backward and forward
        flows = triplet_flows(model.flow, lr, None if out.flow is None else out.flow[:, :t])
        real_in = discriminator_inputs(hr, lr, *flows, cfg.temporal_d, cfg.d_detail_gain)
    fake_in = discriminator_inputs(fake, lr, *flows, cfg.temporal_d, cfg.d_detail_gain)
    disc.requires_grad_(False)  # G's step: gradients flow into the fake input only
    logits, feats = disc(torch.cat([real_in, fake_in]))
    disc.requires_grad_(True)
    n = real_in.shape[0]
    terms["adv"] = adversarial_g(logits[n:])
    terms["fm"] = feature_matching([f[n:] for f in feats], [f[:n] for f in feats])
    terms["loss"] = loss + adv_scale * (cfg.adv_weight * terms["adv"] + cfg.fm_weight * terms["fm"])
    return terms, torch.cat([real_in, fake_in.detach()])


@torch.no_grad()
def validate(
    model: FrameRecurrentGenerator,
    clips: list[tuple[str, torch.Tensor, torch.Tensor]],
    scale: int,
    samples: Path | None,
) -> dict[str, Any]:
    """PSNR-Y, tOF, flicker, detail ratio and ERQA of the model, PSNR-Y of the model with its state
    reset every frame (what the recurrence adds), and the same of bicubic, on (name, HR, LR) clips
    (train.data.load_validation)."""
    model.eval()
    per_clip = {}
    device = next(model.parameters()).device
    for index, (name, hr, lr) in enumerate(clips):
        out = model.forward_sequence(lr[None].to(device)).hr[0].clamp(0, 1).cpu()
        single = model.forward_sequence(lr[None].to(device), reset_every_frame=True).hr[0].clamp(0, 1).cpu()
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        strides = {"border": scale, "ssim_stride": len(hr), "tof_stride": 4, "erqa_stride": 4}
        ours = SequenceScorer(**strides).add_sequence(out, hr).summary()
        base = SequenceScorer(**strides).add_sequence(bic, hr).summary()
        reset = SequenceScorer(border=scale, ssim_stride=len(hr), tof_stride=len(hr), erqa_stride=0)
        reset.add_sequence(single, hr)
        per_clip[name] = {
            "psnr_y": ours["psnr_y"],
            "reset_psnr_y": reset.summary()["psnr_y"],
            "tof": ours["tof"],
            "flicker": ours["flicker"],
            "detail": ours["detail"],
            "erqa": ours["erqa"],
            "bicubic_psnr_y": base["psnr_y"],
            "bicubic_tof": base["tof"],
            "bicubic_detail": base["detail"],
            "bicubic_erqa": base["erqa"],
        }
        if samples is not None and index == 0:
            middle = len(hr) // 2
            save_crops(
                samples, {"LR bicubic": bic[middle], "output": out[middle], "ground truth": hr[middle]}
            )
    model.train()
    keys = tuple(next(iter(per_clip.values())))

    def mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: sum(r[k] for r in rows) / len(rows) for k in keys}

    mean = mean_of(list(per_clip.values()))
    out = {
        **{f"val_{k}": v for k, v in mean.items()},
        "val_gain_db": mean["psnr_y"] - mean["bicubic_psnr_y"],
        "val_state_gain_db": mean["psnr_y"] - mean["reset_psnr_y"],
        "val_clips": per_clip,
    }
    settings = sorted({name.partition("/")[0] for name in per_clip if "/" in name})
    if settings:  # several degradations ("setting/clip"): each setting's means as well
        out["val_settings"] = {}
        for setting in settings:
            m = mean_of([v for name, v in per_clip.items() if name.startswith(f"{setting}/")])
            out["val_settings"][setting] = {
                **m,
                "gain_db": m["psnr_y"] - m["bicubic_psnr_y"],
                "state_gain_db": m["psnr_y"] - m["reset_psnr_y"],
                "tof_ratio": m["tof"] / m["bicubic_tof"],
            }
    return out


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _init_generator(cfg: TrainConfig) -> FrameRecurrentGenerator:
    if not cfg.init_from:
        return FrameRecurrentGenerator.from_args(cfg.model_args())
    source = Path(cfg.init_from)
    if source.is_dir():
        ckpt = torch.load(source / "ckpt.pt", map_location="cpu", weights_only=True)
        model = FrameRecurrentGenerator.from_args(GeneratorArgs(**ckpt["model_args"]))
        model.load_state_dict(ckpt.get("ema") or ckpt["model"])
        return model
    return load_generator(source)[0]


class _SequenceWrapper(torch.nn.Module):
    """Lets DDP wrap forward_sequence (DDP only synchronises what goes through forward)."""

    def __init__(self, model: FrameRecurrentGenerator) -> None:
        super().__init__()
        self.generator = model

    def forward(self, lr: torch.Tensor, reset: bool = False) -> SequenceOutput:
        return self.generator.forward_sequence(lr, reset_every_frame=reset)


def train(cfg: TrainConfig) -> None:
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(
        f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    main_process = rank == 0
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cache = Path(cfg.cache_dir).expanduser()

    model = _init_generator(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    disc = d_opt = d_sched = ema = None
    if cfg.stage == "gan":
        disc = TemporalDiscriminator(channels=cfg.d_channels, temporal=cfg.temporal_d).to(device)
        d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.99))
        d_sched = torch.optim.lr_scheduler.LambdaLR(d_opt, lr_lambda(cfg))
    if cfg.ema > 0:
        ema = copy.deepcopy(model).eval().requires_grad_(False)
    perceptual = None
    if cfg.perceptual_weight > 0:
        seeds = tuple(int(seed) for seed in cfg.perceptual_seeds.split(","))
        perceptual = RandomPerceptualLoss(seeds, gram_weight=cfg.gram_weight).to(device)
    teacher = None
    if cfg.teacher:
        teacher = load_generator(Path(cfg.teacher))[0].to(device).eval().requires_grad_(False)
        if teacher.scale != cfg.scale:
            raise SystemExit(f"--teacher {cfg.teacher} is x{teacher.scale}, this run is x{cfg.scale}")
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start = 0
    ckpt_path = out_dir / "ckpt.pt"
    if ckpt_path.exists() and not cfg.resume:
        raise SystemExit(f"{ckpt_path} exists: pass --resume to continue it, or pick another --out-dir")
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if disc is not None:
            disc.load_state_dict(ckpt["disc"])
            d_opt.load_state_dict(ckpt["d_optimizer"])
            d_sched.load_state_dict(ckpt["d_scheduler"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"])
        start = ckpt["iter"]
        log.info("resumed from %s at iteration %d", ckpt_path, start)
        log_path = out_dir / "log.jsonl"
        if main_process and log_path.exists():  # drop what was logged after the checkpoint
            kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["iter"] <= start]
            log_path.write_text("".join(line + "\n" for line in kept))
    if main_process:
        (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    g: torch.nn.Module = model
    d: torch.nn.Module | None = disc
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        g = torch.nn.parallel.DistributedDataParallel(_SequenceWrapper(model), device_ids=ids)
        if disc is not None:
            d = torch.nn.parallel.DistributedDataParallel(disc, device_ids=ids)

    train_paths = find_clips(cfg.train_dir)
    if cfg.val_dir == "split":
        train_paths, val_paths = split_clips(train_paths)
    else:
        val_paths = find_clips(cfg.val_dir)
    if cfg.holdout:
        train_paths, held = holdout_split(train_paths, tuple(cfg.holdout.split(",")))
        val_paths = val_paths + held
    if not train_paths or not val_paths:
        raise SystemExit(f"need training and validation clips: found {len(train_paths)} and {len(val_paths)}")
    clips = load_clips(train_paths, cache / "train", cfg.max_frames_per_clip)
    val = (
        load_validation(val_paths, cache / "val", cfg.val_frames, cfg.scale, cfg.val_degradation)
        if main_process
        else []
    )
    data = WindowDataset(
        clips,
        frames=cfg.frames,
        crop=cfg.crop,
        scale=cfg.scale,
        seed=cfg.seed,
        length=cfg.iters * cfg.batch * world,
        degradation=cfg.degradation,
        moving=cfg.moving,
        soft=cfg.soft,
    )
    # Iteration i uses windows i*B*W .. (i+1)*B*W - 1; rank r takes every W-th of them.
    sampler = range(start * cfg.batch * world + rank, cfg.iters * cfg.batch * world, world)
    loader = DataLoader(data, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers)
    log.info("%d training clips, %d validation clips, model %s", len(clips), len(val), asdict(model.args))
    tb = None
    if cfg.tensorboard and main_process:
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:
            log.info("tensorboard is not installed; logging to log.jsonl only")

    model.train()
    it = start
    bar = tqdm(
        total=cfg.iters,
        initial=start,
        disable=not (main_process and sys.stderr.isatty()),  # log files get log.info lines instead
        unit="it",
        desc=cfg.stage,
    )
    with open(out_dir / "log.jsonl", "a") if main_process else open(os.devnull, "w") as log_file:

        def record(entry: dict[str, Any]) -> None:
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            if tb is not None:
                for key, value in entry.items():
                    if isinstance(value, int | float) and key != "iter":
                        tb.add_scalar(key, value, entry["iter"])

        t0 = time.perf_counter()
        for lr, hr in loader:
            lr, hr = lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                adv_scale = min(1.0, it / cfg.adv_warmup) if cfg.adv_warmup else 1.0
                terms, d_input = generator_step(
                    model, g, disc, lr, hr, cfg, ema, adv_scale, teacher, perceptual
                )
            opt.zero_grad(set_to_none=True)
            scaler.scale(terms["loss"]).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            sched.step()
            if d is not None and d_input is not None:
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    logits = d(d_input)[0]
                    half = logits.shape[0] // 2
                    d_loss = adversarial_d(logits[:half], logits[half:])
                terms["d_loss"] = d_loss
                d_step = float(d_loss.detach()) > cfg.d_balance  # sync point: balance G and D
                if d_step:
                    d_opt.zero_grad(set_to_none=True)
                    scaler.scale(d_loss).backward()
                    scaler.step(d_opt)
                terms["d_step"] = torch.tensor(float(d_step))
                d_sched.step()
            scaler.update()
            if ema is not None:
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                        pe.lerp_(pm, 1 - cfg.ema)
            it += 1
            bar.update()
            if main_process and it % cfg.log_every == 0:
                dt = time.perf_counter() - t0
                entry = {
                    "iter": it,
                    **{k: round(float(v.detach()), 6) for k, v in terms.items()},
                    "lr": sched.get_last_lr()[0],
                    "s_per_iter": round(dt / cfg.log_every, 4),
                }
                record(entry)
                bar.set_postfix(loss=entry["loss"], pixel=entry["pixel"])
                if bar.disable:
                    log.info(
                        "iter %d/%d loss %.5f (%.2fs/it)", it, cfg.iters, entry["loss"], entry["s_per_iter"]
                    )
                t0 = time.perf_counter()
            if main_process and (it % cfg.val_every == 0 or it == cfg.iters):
                samples = out_dir / "samples" / f"iter_{it:07d}.png"
                samples.parent.mkdir(exist_ok=True)
                metrics = validate(ema if ema is not None else model, val, cfg.scale, samples)
                record({"iter": it, **metrics})
                log.info(
                    "iter %d val PSNR-Y %.3f dB (bicubic %.3f, gain %+.3f, state %+.3f), tOF %.3f (bicubic %.3f)",
                    it,
                    metrics["val_psnr_y"],
                    metrics["val_bicubic_psnr_y"],
                    metrics["val_gain_db"],
                    metrics["val_state_gain_db"],
                    metrics["val_tof"],
                    metrics["val_bicubic_tof"],
                )
                for setting, m in metrics.get("val_settings", {}).items():
                    log.info(
                        "  %s: gain %+.3f dB, state %+.3f dB, tOF %.2fx bicubic",
                        setting,
                        m["gain_db"],
                        m["state_gain_db"],
                        m["tof_ratio"],
                    )
            stopping = it == cfg.stop_at
            if main_process and (it % cfg.ckpt_every == 0 or it == cfg.iters or stopping):
                state = {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "scaler": scaler.state_dict(),
                    "rng": torch.get_rng_state(),
                    "iter": it,
                    "config": asdict(cfg),
                    "model_args": asdict(model.args),
                }
                if disc is not None:
                    state |= {
                        "disc": disc.state_dict(),
                        "d_optimizer": d_opt.state_dict(),
                        "d_scheduler": d_sched.state_dict(),
                    }
                save_checkpoint(ckpt_path, state)
            if stopping:
                break
    bar.close()
    if tb is not None:
        tb.close()
    if distributed:
        dist.destroy_process_group()
    log.info("stopped at iteration %d", it)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m train", description="Train a vsr generator.")
    for f in fields(TrainConfig):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    try:
        return TrainConfig(**vars(parser.parse_args(argv)))
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    train(parse_args(argv))
