"""int8 against fp32 on the validation clips: PSNR-Y against the ground truth, through the recurrence.

For every clip in --val-dir (all frames, or --frames), HR is cropped to a multiple of 2 x scale and
downscaled by antialiased bicubic ("BI", lossless), and that LR is also compressed with H.264 CRF 23
("BI+H264"), as in eval_quality.py. Each backend (default: eager fp32, the reference, and
openvino-int8) upscales each LR through a real Runner with its state carried; the table gives
mean PSNR-Y per clip and setting, and each backend's difference from the reference. Issue 14 asks
int8 to stay within 0.05 dB.

    python benchmarks/int8_quality.py --json benchmarks/results/int8_quality_zen3.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_quality import decode, upscale_model  # noqa: E402
from vsr.bench import save_result  # noqa: E402
from vsr.degradations import bicubic_downscale, compress, crop_to_multiple  # noqa: E402
from vsr.engine.build import build_runner  # noqa: E402
from vsr.metrics import psnr_y  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument(
        "--backends", nargs="+", default=["eager", "openvino-int8"], help="the first is the reference"
    )
    parser.add_argument("--val-dir", type=Path, default=ROOT.parent / "shared" / "data" / "val")
    parser.add_argument("--frames", type=int, default=100_000, help="at most this many frames per clip")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runners = {b: build_runner(args.model, 4, backend=b, dtype="float32")[0] for b in args.backends}
    scale = next(iter(runners.values())).scale
    clips: dict[str, dict[str, dict[str, float]]] = {}
    start = time.time()
    for clip in sorted(p for p in args.val_dir.iterdir() if p.is_file()):
        hr = crop_to_multiple(decode(clip, args.frames), 2 * scale)
        lr_bi = bicubic_downscale(hr, scale)
        for setting, lr in (("BI", lr_bi), ("BI+H264", compress(lr_bi, "libx264", 23, preset="medium"))):
            row = {}
            for backend, runner in runners.items():
                sr = upscale_model(runner, lr, per_frame=False)
                row[backend] = float(
                    np.mean([psnr_y(a, b, border=scale) for a, b in zip(sr, hr, strict=True)])
                )
            clips.setdefault(setting, {})[clip.stem] = row
            print(clip.stem, setting, {k: round(v, 3) for k, v in row.items()}, flush=True)
    reference = args.backends[0]
    summary = {
        setting: {
            b: {
                "psnr_y": float(np.mean([r[b] for r in rows.values()])),
                "vs_reference_db": float(np.mean([r[b] - r[reference] for r in rows.values()])),
                "worst_clip_vs_reference_db": float(min(r[b] - r[reference] for r in rows.values())),
            }
            for b in args.backends
        }
        for setting, rows in clips.items()
    }
    for setting, rows in summary.items():
        print(setting, {b: (round(v["psnr_y"], 3), round(v["vs_reference_db"], 4)) for b, v in rows.items()})
    if args.json:
        save_result(
            args.json,
            model=args.model,
            frames_per_clip=args.frames,
            reference=reference,
            seconds=round(time.time() - start, 1),
            summary=summary,
            clips=clips,
        )


if __name__ == "__main__":
    main()
