"""Export a training checkpoint to the shipped format (python -m train.export --help).

Writes vsr/models/weights/<name>.safetensors with the generator's hyperparameters and a summary
of its training (data, degradation, iterations, last validation metrics) in the header.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vsr.models.checkpoint import save_generator
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs
from vsr.models.zoo import WEIGHTS_DIR


def last_validation(log_path: Path) -> dict:
    last: dict = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            entry = json.loads(line)
            if "val_psnr_y" in entry:
                last = entry
    return last


def export(run_dir: Path, name: str, out_dir: Path = WEIGHTS_DIR, use_ema: bool = True) -> Path:
    ckpt = torch.load(run_dir / "ckpt.pt", map_location="cpu", weights_only=True)
    cfg = ckpt["config"]
    state = ckpt.get("ema") if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    args = GeneratorArgs(**ckpt["model_args"]) if "model_args" in ckpt else None
    if args is None:
        from train.train import TrainConfig  # older checkpoints: rebuild from the config

        args = TrainConfig(**{**cfg, "resume": True}).model_args()
    model = FrameRecurrentGenerator.from_args(args)
    model.load_state_dict(state)
    val = last_validation(run_dir / "log.jsonl")
    info = {
        "stage": cfg.get("stage", "psnr"),
        "degradation": cfg.get("degradation", "BI"),
        "iterations": ckpt["iter"],
        "train_data": cfg["train_dir"],
        "val_data": cfg["val_dir"],
        "val_frames_per_clip": cfg["val_frames"],
        "val_degradation": cfg.get("val_degradation", "BI"),
        "val_psnr_y": val.get("val_psnr_y"),
        "val_bicubic_psnr_y": val.get("val_bicubic_psnr_y"),
        "val_iter": val.get("iter"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    save_generator(model, path, info)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--raw", action="store_true", help="the trained weights, not their EMA")
    args = parser.parse_args()
    print(export(args.run_dir, args.name, args.out_dir, use_ema=not args.raw))


if __name__ == "__main__":
    main()
