"""Training validation (train.train.validate) of a weights file, as a run validates: the numbers a
fine-tuning run starts from, to read its log against.

    python benchmarks/val_start.py --weights vsr/models/weights/fast-x4.safetensors \
        --val-degradation BI,BD,BI+H264-28 --holdout tuneavideo_,videollava_ --val-frames 12 \
        --json benchmarks/results/val27_fast-x4_start.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from train.data import find_clips, holdout_split, load_validation  # noqa: E402
from train.train import validate  # noqa: E402
from vsr.bench import save_result  # noqa: E402
from vsr.models.checkpoint import load_generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--val-dir", default="../shared/data/val")
    parser.add_argument("--train-dir", default="../shared/data/train")
    parser.add_argument("--holdout", default="")
    parser.add_argument("--val-degradation", default="BI")
    parser.add_argument("--val-frames", type=int, default=20)
    parser.add_argument("--cache-dir", default="~/.cache/vsr-train")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_generator(args.weights)[0]
    paths = find_clips(args.val_dir)
    if args.holdout:
        paths += holdout_split(find_clips(args.train_dir), tuple(args.holdout.split(",")))[1]
    cache = Path(args.cache_dir).expanduser() / "val"
    clips = load_validation(paths, cache, args.val_frames, model.scale, args.val_degradation)
    metrics = validate(model, clips, model.scale, None)
    for setting, m in metrics.get("val_settings", {}).items():
        print(
            f"{setting}: gain {m['gain_db']:+.3f} dB, state {m['state_gain_db']:+.3f} dB, tOF {m['tof_ratio']:.2f}x"
        )
    print(f"all: gain {metrics['val_gain_db']:+.3f} dB")
    if args.json:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        save_result(args.json, options=options, metrics=metrics)


if __name__ == "__main__":
    main()
