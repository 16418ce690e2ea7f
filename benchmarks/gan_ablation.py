"""Issue 28's ablation: GAN runs from the same start and for the same iterations, with and without
the new losses, compared on their training validation (the EMA generator on the first
`--val-frames` frames of each validation clip, per setting: BI and BD x4). Reads each run's
log.jsonl and config.json; reports, per run and iteration, PSNR-Y, tOF, flicker, detail ratio
and ERQA, and each against the first run at the same iteration.

    python benchmarks/gan_ablation.py train/logs/gan-abl-base train/logs/gan-abl-percep \
        --start benchmarks/results/val28_fast-x4_start.json --json benchmarks/results/gan_ablation_fast.json

`--start` adds the PSNR model both runs started from (benchmarks/val_start.py's result on the same
validation), as iteration 0, and every row against it (the issue's targets are relative to it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.bench import save_result  # noqa: E402

METRICS = ("psnr_y", "tof", "flicker", "detail", "erqa")
LOSSES = ("perceptual_weight", "temporal_weight", "adv_weight", "fm_weight", "pingpong_weight", "usm")


def validations(run: Path) -> dict[int, dict[str, float]]:
    """Iteration -> the mean of each metric over the validation clips and settings."""
    out = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "val_psnr_y" in entry:
            out[entry["iter"]] = {m: round(entry[f"val_{m}"], 4) for m in METRICS}
            out[entry["iter"]]["bicubic_psnr_y"] = round(entry["val_bicubic_psnr_y"], 4)
    return out


def against(values: dict[str, float], base: dict[str, float], name: str) -> dict[str, float]:
    """PSNR-Y as a difference in dB, the other metrics as ratios, of `values` against `base`."""
    out = {f"psnr_y_vs_{name}_db": round(values["psnr_y"] - base["psnr_y"], 3)}
    return out | {f"{m}_vs_{name}": round(values[m] / base[m], 3) for m in METRICS[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", type=Path, help="training output folders; the first is the reference"
    )
    parser.add_argument("--start", type=Path, help="val_start.py JSON of the PSNR model the runs start from")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = {run.name: validations(run) for run in args.runs}
    start = None
    if args.start:
        metrics = json.loads(args.start.read_text())["metrics"]
        start = {m: round(metrics[f"val_{m}"], 4) for m in METRICS}
        start["bicubic_psnr_y"] = round(metrics["val_bicubic_psnr_y"], 4)
    configs = {run.name: json.loads((run / "config.json").read_text()) for run in args.runs}
    reference = args.runs[0].name
    rows = []
    for name, by_iter in runs.items():
        for it, values in sorted(by_iter.items()):
            row = {"run": name, "iter": it, **values}
            ref = runs[reference].get(it)
            if ref is not None and name != reference:
                row |= against(values, ref, "reference")
            if start is not None:
                row |= against(values, start, "start")
            rows.append(row)
            print(row)
    if args.json:
        save_result(
            args.json,
            reference=reference,
            start={"weights": str(args.start), **start} if start is not None else None,
            losses={name: {k: c.get(k) for k in LOSSES} for name, c in configs.items()},
            validation={
                name: {k: configs[name].get(k) for k in ("val_degradation", "val_frames")} for name in runs
            },
            rows=rows,
        )


if __name__ == "__main__":
    main()
