"""Where YUV<->RGB conversion runs: swscale on the CPU, or torch beside the model (--colour).

Runs `vsr bench` (stages alone, then `vsr upscale` end to end beside bicubic) once per setting,
alternating, `--repeats` times, and reports the median end-to-end fps of each. On a GPU this is
the comparison that decides `--colour auto` there; on a CPU, that it stays swscale. Then upscales
the sample both ways into lossless FFV1 and reports the PSNR between the two outputs (luma and
chroma planes), i.e. what the choice changes in the pictures.

python benchmarks/colour_path.py --json benchmarks/results/colour_path_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import av
import numpy as np

import vsr
from vsr.bench import BenchConfig, run_bench, save_result
from vsr.metrics import psnr_plane

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "city_320x180.mp4"


def _planes(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p").astype(np.float64) for f in c.decode(video=0)]


def picture_difference(device: str) -> dict[str, float]:
    """Mean PSNR (dB) between the sample upscaled with swscale and with the device conversion."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for colour in ("swscale", "device"):
            outs[colour] = Path(tmp) / f"{colour}.mkv"
            vsr.upscale(SAMPLE, outs[colour], codec="ffv1", colour=colour, device=device, progress=False)
        a, b = _planes(outs["swscale"]), _planes(outs["device"])
    rows = a[0].shape[0] * 2 // 3
    return {
        "frames": len(a),
        "luma_psnr_db": statistics.mean(psnr_plane(x[:rows], y[:rows]) for x, y in zip(a, b, strict=True)),
        "chroma_psnr_db": statistics.mean(psnr_plane(x[rows:], y[rows:]) for x, y in zip(a, b, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    runs: dict[str, list[dict]] = {"swscale": [], "device": []}
    for _ in range(args.repeats):
        for colour, rows in runs.items():
            cfg = BenchConfig(
                sizes=((w, h),),
                frames=args.frames,
                batches=(args.batch,),
                device=args.device,
                backend=args.backend,
                colour=colour,
            )
            (row,) = run_bench(cfg)["rows"]
            rows.append(row)
            print(colour, {k: round(v, 1) for k, v in row["end_to_end"].items()}, flush=True)
    summary = {
        colour: {
            "end_to_end_fps_median": statistics.median(r["end_to_end"]["model_fps"] for r in rows),
            "model_stage_fps_median": statistics.median(r["stages"]["model"] for r in rows),
            "colour_in_fps_median": statistics.median(r["stages"]["colour_in"] for r in rows),
            "colour_out_fps_median": statistics.median(r["stages"]["colour_out"] for r in rows),
        }
        for colour, rows in runs.items()
    }
    quality = picture_difference(args.device)
    print(summary, quality)
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size}, {args.frames} frames, x4 fast-x4 {args.backend}, batch {args.batch}, "
            "libx264 veryfast CRF 18",
            summary=summary,
            sample_swscale_vs_device=quality,
            runs=runs,
        )


if __name__ == "__main__":
    main()
