"""`vsr eval`: full-reference metrics between videos, or a model against bicubic on degraded GT.

Both modes stream frames through vsr's reader, so any length of video is scored in constant memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import vsr.jod as jod_metric
from vsr.degradations import DEGRADATIONS, crop_to_multiple, degrade
from vsr.engine.runner import BicubicRunner, Runner, RunnerSettings, resolve_device, resolve_dtype
from vsr.errors import BackendUnavailableError, InputError, OptionError
from vsr.frames import FrameBatch
from vsr.io.reader import VideoReader
from vsr.metrics import SequenceScorer, rgb_u8
from vsr.models.zoo import load_model


@dataclass(frozen=True)
class EvalConfig:
    reference: Path
    output: Path | None = None  # mode 1: score this video against the reference
    model: str | None = None  # mode 2: degrade the reference, upscale with this model and bicubic
    scale: int = 4  # also the border cropped for PSNR/SSIM
    degradation: str = "BI"
    seed: int = 0
    frames: int = 0  # at most this many frames; 0 = all
    device: str = "auto"
    dtype: str = "auto"
    json: Path | None = None
    plot: Path | None = None
    compare: Path | None = None
    jod: bool = False  # ColorVideoVDP too (vsr[jod]); keeps the scored frames in memory
    progress: bool = True

    def __post_init__(self) -> None:
        if (self.output is None) == (self.model is None):
            raise OptionError("give either an output video to score, or --model to run one (not both)")
        if self.degradation not in DEGRADATIONS:
            raise OptionError(
                f"--degradation must be one of {', '.join(DEGRADATIONS)}, got {self.degradation!r}"
            )
        if self.scale not in (2, 3, 4):
            raise OptionError(f"--scale must be 2, 3 or 4, got {self.scale}")
        if self.frames < 0:
            raise OptionError(f"--frames must be >= 0, got {self.frames}")


@dataclass
class EvalReport:
    reference: str
    mode: str
    scale: int
    degradation: str | None
    frames: int = 0
    methods: dict[str, SequenceScorer] = field(default_factory=dict)
    jod: dict[str, float] = field(default_factory=dict)  # method -> JOD, with --jod
    kept: dict[str, list[np.ndarray]] | None = None  # uint8 RGB frames for JOD (method or "reference")

    def keep(self, name: str, frame: torch.Tensor) -> None:
        if self.kept is not None:
            self.kept.setdefault(name, []).append(rgb_u8(frame))

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "mode": self.mode,
            "scale": self.scale,
            "degradation": self.degradation,
            "frames": self.frames,
            "summary": {
                name: s.summary() | ({"jod": self.jod[name]} if name in self.jod else {})
                for name, s in self.methods.items()
            },
            "per_frame": {name: {"psnr_y": s.psnr, "flicker": s.flicker} for name, s in self.methods.items()},
        }

    def table(self) -> str:
        jod = f"{'JOD':>9}" if self.jod else ""
        lines = [f"{'':<12}{'PSNR-Y':>9}{'SSIM-Y':>9}{'tOF':>9}{'flicker':>9}{'detail':>9}{'ERQA':>9}{jod}"]
        for name, scorer in self.methods.items():
            m = scorer.summary()
            jod = f"{self.jod[name]:9.3f}" if name in self.jod else ""
            lines.append(
                f"{name:<12}{m['psnr_y']:9.3f}{m['ssim_y']:9.4f}{m['tof']:9.3f}{m['flicker']:9.3f}"
                f"{m['detail']:9.3f}{m['erqa']:9.4f}{jod}"
            )
        return "\n".join(lines)


def _float_frames(batch: FrameBatch) -> torch.Tensor:
    return batch.host().permute(0, 3, 1, 2).float() / batch.max_value  # (n, 3, h, w)


def _frames(path: Path, limit: int, batch_size: int = 8) -> Iterator[FrameBatch]:
    with VideoReader(path) as reader:
        seen = 0
        for batch in reader.batches(batch_size):
            if limit and seen + len(batch) > limit:
                keep = limit - seen
                batch = FrameBatch(batch.data[:keep], batch.pts[:keep], batch.time_base)
            seen += len(batch)
            yield batch
            if limit and seen >= limit:
                return


def _score_pair(cfg: EvalConfig, report: EvalReport, compare_at: int, bar: tqdm) -> dict[str, torch.Tensor]:
    snapshot: dict[str, torch.Tensor] = {}
    scorer = report.methods.setdefault("output", SequenceScorer(border=cfg.scale))
    out_frames = (f for b in _frames(cfg.output, cfg.frames) for f in _float_frames(b))
    for ref_batch in _frames(cfg.reference, cfg.frames):
        for ref in _float_frames(ref_batch):
            out = next(out_frames, None)
            if out is None:
                raise InputError(f"{str(cfg.output)!r} has fewer frames than the reference")
            if out.shape != ref.shape:
                raise InputError(
                    f"{str(cfg.output)!r} is {out.shape[-1]}x{out.shape[-2]} but the reference is "
                    f"{ref.shape[-1]}x{ref.shape[-2]}; they must be the same size"
                )
            scorer.add(out, ref)
            report.keep("output", out)
            report.keep("reference", ref)
            if report.frames == compare_at:
                snapshot = {"output": out, "reference": ref}
            report.frames += 1
            bar.update()
    if next(out_frames, None) is not None:
        raise InputError(f"{str(cfg.output)!r} has more frames than the reference")
    return snapshot


def _lr_batch(hr: torch.Tensor, batch: FrameBatch, cfg: EvalConfig) -> FrameBatch:
    lr = degrade(hr, cfg.scale, cfg.degradation, np.random.default_rng(cfg.seed))  # same "camera" every batch
    data = (lr * 255).round().byte().permute(0, 2, 3, 1).contiguous()
    return FrameBatch(data, batch.pts, batch.time_base)


def _score_model(cfg: EvalConfig, report: EvalReport, compare_at: int, bar: tqdm) -> dict[str, torch.Tensor]:
    device = resolve_device(cfg.device)
    model, info = load_model(cfg.model, cfg.scale)
    runners = {
        "bicubic": BicubicRunner(cfg.scale, device),
        info["name"]: Runner(model, RunnerSettings(device=device, dtype=resolve_dtype(cfg.dtype, device))),
    }
    for name in runners:
        report.methods[name] = SequenceScorer(border=cfg.scale)
    snapshot: dict[str, torch.Tensor] = {}
    # Degradations with a codec code each batch as one clip: batches of 32 frames give the codec
    # runs of 32 frames with a key frame at each start (the clean ones are per frame: any size).
    clean = cfg.degradation in ("BI", "BD")
    for batch in _frames(cfg.reference, cfg.frames, 8 if clean else 32):
        hr = crop_to_multiple(_float_frames(batch), 2 * cfg.scale)
        lr = _lr_batch(hr, batch, cfg)
        outputs = {name: _float_frames(r.upscale(lr)) for name, r in runners.items()}
        for i in range(hr.shape[0]):
            for name, out in outputs.items():
                report.methods[name].add(out[i], hr[i])
                report.keep(name, out[i])
            report.keep("reference", hr[i])
            if report.frames == compare_at:
                snapshot = {**{n: o[i] for n, o in outputs.items()}, "ground truth": hr[i]}
            report.frames += 1
            bar.update()
    return snapshot


def save_crops(path: Path, images: dict[str, torch.Tensor]) -> None:
    """Centre crops (at most 256x256) of same-size (3, h, w) images side by side, labelled, as PNG."""
    import cv2

    h, w = next(iter(images.values())).shape[-2:]
    ch, cw = min(h, 256), min(w, 256)
    y, x = (h - ch) // 2, (w - cw) // 2
    tiles = []
    for name, img in images.items():
        tile = (img[:, y : y + ch, x : x + cw].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        tile = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2BGR)
        cv2.putText(tile, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(path), np.concatenate(tiles, axis=1))


def _save_plot(path: Path, report: EvalReport) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BackendUnavailableError("--plot needs matplotlib: pip install 'vsr[plot]'") from None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name, scorer in report.methods.items():
        top.plot([p if math.isfinite(p) else np.nan for p in scorer.psnr], label=name)
        bottom.plot(range(1, len(scorer.flicker) + 1), scorer.flicker, label=name)
    top.set_ylabel("PSNR-Y (dB)")
    bottom.set_ylabel("flicker")
    bottom.set_xlabel("frame")
    top.legend()
    top.set_title(Path(report.reference).name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(cfg: EvalConfig) -> EvalReport:
    report = EvalReport(
        reference=str(cfg.reference),
        mode="model" if cfg.model else "pair",
        scale=cfg.scale,
        degradation=cfg.degradation if cfg.model else None,
        kept={} if cfg.jod else None,
    )
    with VideoReader(cfg.reference) as reader:
        total = min(reader.info.frames, cfg.frames) if cfg.frames else reader.info.frames
        rate = reader.info.rate
    if cfg.jod:
        if rate is None:
            raise InputError(f"{str(cfg.reference)!r} has no frame rate: JOD needs one")
        jod_metric.require()  # fail before decoding, not after
    bar = tqdm(total=total or None, disable=not cfg.progress, unit="frame", desc="eval")
    try:
        score = _score_pair if cfg.output is not None else _score_model
        snapshot = score(cfg, report, total // 2, bar)
    finally:
        bar.close()
    if report.kept:
        reference = np.stack(report.kept.pop("reference"))
        for name in report.methods:
            report.jod[name] = jod_metric.jod(np.stack(report.kept.pop(name)), reference, float(rate))
    if cfg.compare is not None and snapshot:
        save_crops(cfg.compare, snapshot)
    if cfg.json is not None:
        cfg.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if cfg.plot is not None:
        _save_plot(cfg.plot, report)
    return report
