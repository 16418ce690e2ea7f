"""End-to-end speed of `vsr upscale --segments B` (segment-parallel), against B=1, and how far
its frames are from the sequential ones.

Speed: a synthetic clip (--size, --frames) is upscaled x4 through the whole file pipeline (decode,
model, colour conversion, one x264 encoder per part, the final join) for each B; fps is output
frames over the run's wall time as vsr.upscale reports it (model load excluded, warm-up frames
included as cost). Quality: the sample is upscaled to lossless FFV1 sequentially and with each B;
PSNR of all frames, and of the frames after the first part, against the sequential output.

    python benchmarks/segments_upscale.py --json benchmarks/results/segments_upscale_cpu.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np

import vsr
from vsr.bench import save_result, synthetic_clip

SAMPLE = Path(__file__).parent.parent / "samples" / "city_320x180.mp4"


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def quality(tmp: Path, segments: list[int], warmup: int, backend: str) -> dict:
    lossless = {"codec": "ffv1", "crf": None, "preset": None, "backend": backend, "progress": False}
    vsr.upscale(SAMPLE, tmp / "seq.mkv", **lossless)
    seq = decoded(tmp / "seq.mkv")
    rows = {}
    for b in segments:
        if b == 1:
            continue
        vsr.upscale(SAMPLE, tmp / f"q{b}.mkv", segments=b, warmup=warmup, **lossless)
        par = decoded(tmp / f"q{b}.mkv")
        first_part = -(-len(seq) // b)
        rows[str(b)] = {
            "psnr_all_vs_sequential": round(psnr(par, seq), 2),
            "psnr_later_parts_vs_sequential": round(psnr(par[first_part:], seq[first_part:]), 2),
        }
        print(f"B={b}: {rows[str(b)]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "in.mp4", w, h, args.frames)
        common = {"backend": args.backend, "device": args.device, "preset": args.preset, "progress": False}
        vsr.upscale(clip, Path(tmp) / "warm.mkv", **common)
        for b in args.segments:
            report = vsr.upscale(
                clip,
                Path(tmp) / f"out{b}.mkv",
                segments=b,
                warmup=args.warmup,
                **common,
            )
            assert report.frames == args.frames, report.frames
            results[str(b)] = {"fps": round(report.fps, 2), "seconds": round(report.seconds, 2)}
            print(f"B={b}: {report.fps:.1f} fps end to end ({report.seconds:.1f} s)", flush=True)
        sample_quality = quality(Path(tmp), args.segments, args.warmup, args.backend)
    base = results[str(args.segments[0])]["fps"]
    for row in results.values():
        row["speedup_vs_first"] = round(row["fps"] / base, 3)
    if args.json:
        save_result(
            args.json,
            input=f"synthetic {args.size}, {args.frames} frames, x4 fast-x4, --backend {args.backend} "
            f"--device {args.device}, "
            f"libx264 {args.preset}, --warmup {args.warmup}",
            results=results,
            quality_on_sample=sample_quality,
        )


if __name__ == "__main__":
    main()
