"""Shipped or exported models through the training log's validation protocol, to compare a run's
log lines with models it did not train: the first 20 frames of each validation clip, BI x4, EMA-free
weights as shipped; PSNR-Y (also with the state reset every frame), tOF, flicker, detail ratio and
ERQA, with bicubic beside them (`train.train.validate`).

    python benchmarks/val_protocol.py fast-x4 gan-x4 real-x4 --json benchmarks/results/val_protocol.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # train/ lives beside the package

from train.data import find_clips, load_validation  # noqa: E402
from train.train import validate  # noqa: E402
from vsr.bench import save_result  # noqa: E402
from vsr.models.zoo import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="shipped model names or .safetensors paths")
    parser.add_argument("--val-dir", default="../shared/data/val")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path("~/.cache/vsr-train/val").expanduser()
    val = load_validation(find_clips(args.val_dir), cache, args.frames, 4)
    results = {}
    for name in args.models:
        model, _ = load_model(name, 4)
        metrics = validate(model, val, 4, None)
        results[name] = {k: v for k, v in metrics.items() if k != "val_clips"} | {
            "clips": metrics["val_clips"]
        }
        print(name, {k: round(v, 4) for k, v in metrics.items() if k != "val_clips"}, flush=True)
    if args.json:
        save_result(args.json, frames_per_clip=args.frames, results=results)


if __name__ == "__main__":
    main()
