"""One change measured on its own: `vsr bench` from two (or more) source trees, in alternating
rounds, on the same machine: per-stage fps, end-to-end fps and the ratio to bicubic, medians.

Each tree runs from its path (on PYTHONPATH, ahead of the installed package; from a folder with no
vsr in it, since `python -m` puts the working directory first). Arguments after `--` go to `vsr
bench` as they are; `--avx2` restricts PyTorch and oneDNN (and so OpenVINO's CPU plugin) to AVX2.

    git worktree add /tmp/vsr-before <commit>
    python benchmarks/bench_trees.py --tree before=/tmp/vsr-before --tree after=. --rounds 5 \
        --json benchmarks/results/rgb8_output_zen4.json -- --backend openvino-int8 --size 320x180 \
        --batch 1 --frames 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.bench import save_result  # noqa: E402

# OV_CPU_MAX_ISA caps OpenVINO's own kernels only in its debug builds (2026.4); oneDNN's, which run
# the convolutions, follow ONEDNN_MAX_CPU_ISA
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OV_CPU_MAX_ISA": "AVX2"}


def bench_once(tree: Path, bench_args: list[str], env: dict[str, str], folder: Path) -> dict:
    out = folder / "bench.json"
    command = [sys.executable, "-m", "vsr", "bench", *bench_args, "--json", str(out)]
    environment = {**os.environ, **env, "PYTHONPATH": str(tree.resolve())}
    subprocess.run(command, env=environment, cwd=folder, check=True, capture_output=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a source tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--avx2", action="store_true", help="PyTorch and oneDNN restricted to AVX2")
    parser.add_argument("--json", type=Path)
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then vsr bench's options")
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    trees = {label: Path(path) for label, _, path in (t.partition("=") for t in args.tree)}
    env = AVX2 if args.avx2 else {}
    runs: dict[str, list[dict]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for label, tree in trees.items():
                result = bench_once(tree, bench_args, env, Path(tmp))
                runs[label].append(result)
                row = result["rows"][0]
                e2e = row["end_to_end"].get("model_fps")
                print(f"round {r + 1} {label}: model stage {row['stages']['model']:.1f} fps, "
                      f"end to end {e2e}", flush=True)  # fmt: skip
    summary = {}
    for label, results in runs.items():
        rows = [res["rows"][0] for res in results]
        stages = {s: statistics.median(row["stages"][s] for row in rows) for s in rows[0]["stages"]}
        entry = {"backend_used": results[0]["backend_used"], "stages_fps": stages}
        for key in rows[0]["end_to_end"]:
            entry[f"end_to_end_{key}"] = statistics.median(row["end_to_end"][key] for row in rows)
        entry["model_fps_rounds"] = [round(row["stages"]["model"], 2) for row in rows]
        summary[label] = entry
        print(label, json.dumps({k: v for k, v in entry.items() if k != "stages_fps"}))
    if args.json:
        save_result(
            args.json,
            isa="AVX2 (restricted)" if args.avx2 else "native",
            trees={label: str(path) for label, path in trees.items()},
            summary=summary,
        )


if __name__ == "__main__":
    main()
