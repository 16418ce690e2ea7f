"""Quality of models on the validation clips, against bicubic (and Lanczos with --lanczos).

Clips: every clip in --val-dir, then the training sources held out as validation (issue 27:
train.data.HOLDOUT_SOURCES, found in --train-dir; --no-holdout for the --val-dir clips only).
HR = all decoded frames (cropped to a multiple of 2 x scale). LR, one per --settings entry
(default: the six fixed settings of vsr.degradations.EVAL_SETTINGS): "BI" (antialiased bicubic
downscale by the model's scale, stored losslessly), "BD" (Gaussian blur sigma 1.6, then the
sample at the centre of each scale x scale block, on BI's grid), "BI+H264" / "BI+H264-28" (BI, then the whole clip through libx264 at CRF 23 / 28,
preset medium), "BD+H264" (BD then CRF 23) and "BI+H265-28" (libx265 CRF 28); also "real" and
"web" (vsr.degradations' random camera/stream mixes, drawn with the seed 1000 + the clip's place in
the list, as compare_temporal.py and training validation draw them). Each method upscales each
LR; PSNR-Y / SSIM-Y (border = scale), tOF, flicker, detail ratio and ERQA are computed against
HR, per clip and as the mean over clips. "model-per-frame" is --model with its recurrent state
reset on every frame. More models join the same table: `--also LABEL=WEIGHTS` runs with its
state, `--single LABEL=WEIGHTS` with its state reset every frame (a single-frame model, e.g. one
trained with --reset-state).

    python benchmarks/eval_quality.py --model fast-x4 --json benchmarks/results/quality_fast-x4.json
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # train/, for the held-out sources

import vsr.jod as jod_metric  # noqa: E402
from train.data import HOLDOUT_SOURCES, find_clips, holdout_split  # noqa: E402
from vsr.bench import save_result  # noqa: E402
from vsr.degradations import EVAL_SETTINGS, crop_to_multiple, degrade  # noqa: E402
from vsr.engine.runner import Runner, RunnerSettings, resolve_dtype  # noqa: E402
from vsr.engine.runtimes import backend_dtype, make_generator  # noqa: E402
from vsr.frames import FrameBatch  # noqa: E402
from vsr.metrics import SequenceScorer  # noqa: E402
from vsr.models.zoo import load_model, shipped_models  # noqa: E402

KEYS = ("psnr_y", "ssim_y", "tof", "flicker", "detail", "erqa", "jod")


def decode(path: Path, limit: int) -> torch.Tensor:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(limit), c.decode(video=0), strict=False)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def frame_rate(path: Path) -> float:
    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
    return float(rate) if rate else 25.0


def to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().byte()


def upscale_model(runner: Runner, lr: torch.Tensor, per_frame: bool) -> torch.Tensor:
    runner.reset()
    data = to_u8(lr).permute(0, 2, 3, 1).contiguous()  # (t, h, w, 3)
    out = []
    for i in range(data.shape[0]):
        batch = FrameBatch(data[i : i + 1], (i,), Fraction(1, 25), reset=per_frame)
        out.append(runner.upscale(batch).host())
    return torch.cat(out).permute(0, 3, 1, 2).float() / 255.0


def upscale_bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    up = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
    return to_u8(up).float() / 255.0


def upscale_lanczos(lr: torch.Tensor, scale: int) -> torch.Tensor:
    out = []
    for f in to_u8(lr).permute(0, 2, 3, 1).numpy():
        h, w = f.shape[:2]
        out.append(cv2.resize(f, (w * scale, h * scale), interpolation=cv2.INTER_LANCZOS4))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fast-x4")
    parser.add_argument("--val-dir", type=Path, default=Path("../shared/data/val"))
    parser.add_argument(
        "--train-dir", type=Path, default=Path("../shared/data/train"), help="where the held-out sources are"
    )
    parser.add_argument("--no-holdout", action="store_true", help="--val-dir's clips only")
    parser.add_argument("--frames", type=int, default=10_000, help="at most this many frames per clip")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument(
        "--backend",
        default="eager",
        help="runtime of --model (e.g. openvino-int8); --also/--single run eager",
    )
    parser.add_argument("--ssim-stride", type=int, default=2, help="SSIM on every Nth frame")
    parser.add_argument("--tof-stride", type=int, default=2, help="tOF on every Nth frame pair")
    parser.add_argument("--erqa-stride", type=int, default=2, help="ERQA on every Nth frame (0: none)")
    parser.add_argument("--lanczos", action="store_true", help="Lanczos (OpenCV) as a method too")
    parser.add_argument("--no-per-frame", action="store_true", help="skip --model with its state reset")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=WEIGHTS",
        help="another model, run with its recurrent state",
    )
    parser.add_argument(
        "--single",
        action="append",
        default=[],
        metavar="LABEL=WEIGHTS",
        help="another model, run with its state reset on every frame",
    )
    parser.add_argument(
        "--per-frame-only",
        action="store_true",
        help="--model was trained single-frame (state reset): skip its run with the state kept",
    )
    parser.add_argument(
        "--settings", nargs="+", default=list(EVAL_SETTINGS), choices=[*EVAL_SETTINGS, "real", "web"]
    )
    parser.add_argument(
        "--jod-frames",
        type=int,
        default=0,
        help="ColorVideoVDP JOD on the first N frames of each clip (0: none; needs vsr[jod], slow on CPU)",
    )
    parser.add_argument("--jod-methods", nargs="+", help="JOD of these methods only (default: all)")
    parser.add_argument("--jod-settings", nargs="+", help="JOD in these settings only (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.jod_frames:
        jod_metric.require()

    scales = {m.name: m.args.scale for m in shipped_models()}
    model, info = load_model(args.model, scales.get(args.model, 4))
    scale = model.scale
    device = torch.device("cpu")
    dtype = resolve_dtype(args.dtype, device)
    runner_dtype = backend_dtype(args.dtype, device, args.backend)
    step = make_generator(model, args.backend, device, runner_dtype)
    runner = Runner(step, RunnerSettings(device=device, dtype=runner_dtype))
    methods = (
        ["bicubic"]
        + (["lanczos"] if args.lanczos else [])
        + ([] if args.no_per_frame else ["model-per-frame"])
        + ([] if args.per_frame_only else ["model"])
    )
    extra: dict[str, tuple[Runner, bool]] = {}  # label -> (runner, reset every frame)
    for values, per_frame in ((args.also, False), (args.single, True)):
        for value in values:
            label, _, weights = value.partition("=")
            other, _ = load_model(weights, scale)
            extra[label] = (Runner(other, RunnerSettings(device=device, dtype=dtype)), per_frame)
            methods.append(label)
    clips = sorted(p for p in args.val_dir.iterdir() if p.is_file())
    held = [] if args.no_holdout else holdout_split(find_clips(args.train_dir), HOLDOUT_SOURCES)[1]
    results: dict[str, dict] = {}
    start = time.time()
    for index, clip in enumerate(clips + held):
        hr = crop_to_multiple(decode(clip, args.frames), 2 * scale)
        fps = frame_rate(clip) if args.jod_frames else 0.0
        for setting in args.settings:
            lr = degrade(hr, scale, setting, np.random.default_rng(1000 + index))
            row = {}
            for method in methods:
                if method == "bicubic":
                    sr = upscale_bicubic(lr, scale)
                elif method == "lanczos":
                    sr = upscale_lanczos(lr, scale)
                elif method in extra:
                    other, per_frame = extra[method]
                    sr = upscale_model(other, lr, per_frame=per_frame)
                else:
                    sr = upscale_model(runner, lr, per_frame=method == "model-per-frame")
                scorer = SequenceScorer(
                    border=scale,
                    ssim_stride=args.ssim_stride,
                    tof_stride=args.tof_stride,
                    erqa_stride=args.erqa_stride,
                )
                row[method] = scorer.add_sequence(sr, hr).summary()
                if (
                    args.jod_frames
                    and method in (args.jod_methods or methods)
                    and setting in (args.jod_settings or args.settings)
                ):
                    n = min(args.jod_frames, len(hr))
                    u8 = [to_u8(x[:n]).permute(0, 2, 3, 1).numpy() for x in (sr, hr)]
                    row[method]["jod"] = jod_metric.jod(*u8, fps=fps)
            results.setdefault(setting, {})[clip.stem] = row
            print(clip.stem, setting, {m: round(v["psnr_y"], 3) for m, v in row.items()}, flush=True)

    summary = {
        setting: {
            method: {
                k: float(np.mean([c[method][k] for c in rows.values()]))
                for k in KEYS
                if all(k in c[method] for c in rows.values())
            }
            for method in methods
        }
        for setting, rows in results.items()
    }
    for rows in summary.values():  # what a user asks first: the gain over bicubic, tOF against it
        base = rows["bicubic"]
        for m in rows.values():
            m["gain_db"] = m["psnr_y"] - base["psnr_y"]
            m["tof_ratio"] = m["tof"] / base["tof"]
    report = {
        "model": args.model,
        "model_info": info,
        "backend": args.backend,
        "also": args.also,
        "single": args.single,
        "dtype": str(runner.settings.dtype).removeprefix("torch."),
        "seconds": round(time.time() - start, 1),
        "frames_per_clip": args.frames,
        "clip_sets": {
            "val": [c.stem for c in clips],
            "held_out_training_sources": {"prefixes": list(HOLDOUT_SOURCES), "clips": [c.stem for c in held]},
        },
        "metrics": (
            f"PSNR-Y/SSIM-Y: BT.601 luma 16-235, border {scale}, per-frame mean (SSIM every {args.ssim_stride} frames); "
            f"tOF: mean L1 of Farneback flow difference in px (every {args.tof_stride} pairs); "
            "flicker: mean |temporal luma difference error| (16-235 scale); "
            "detail: output / GT Laplacian energy of the luma (1 = GT's detail); "
            f"ERQA 1.1: F1 of Canny edges after global alignment (every {args.erqa_stride} frames); "
            "gain_db, tof_ratio: against bicubic on the same input"
            + (
                f"; JOD: ColorVideoVDP {jod_metric.DISPLAY} on the first {args.jod_frames} frames"
                if args.jod_frames
                else ""
            )
        ),
        "summary": summary,
        "clips": results,
    }
    for setting, rows in summary.items():
        print(f"\n{setting}: mean over {len(results[setting])} clips")
        print(
            f"{'method':<24}{'PSNR-Y':>8}{'gain':>8}{'SSIM-Y':>8}{'tOF':>8}{'tOF/bic':>8}{'flicker':>9}"
            f"{'detail':>8}{'ERQA':>8}{'JOD':>8}"
        )
        for method, m in rows.items():
            print(
                f"{method:<24}{m['psnr_y']:8.3f}{m['gain_db']:+8.3f}{m['ssim_y']:8.4f}{m['tof']:8.3f}"
                f"{m['tof_ratio']:8.2f}{m['flicker']:9.3f}{m['detail']:8.3f}{m['erqa']:8.4f}"
                f"{m.get('jod', float('nan')):8.3f}"
            )
    if args.json:
        save_result(args.json, **report)


if __name__ == "__main__":
    main()
