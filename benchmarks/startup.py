"""Start-up: what `vsr upscale` pays before its first frame, and what each part costs.

A 2-frame 320x180 clip is upscaled by `python -m vsr upscale` (defaults: fast-x4, --backend auto),
so the wall time is almost all start-up; beside it, `python -c "import torch"` (the floor no
change here can lower) and `vsr --help` (the CLI without torch). Each source tree given with
--tree LABEL=PATH runs from PATH (on PYTHONPATH, ahead of the installed package), in alternating
rounds, and the median of each is reported.

    git worktree add /tmp/vsr-before <commit>
    python benchmarks/startup.py --tree before=/tmp/vsr-before --tree after=. --rounds 7 \
        --json benchmarks/results/startup_zen4.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.clips import make_clip  # noqa: E402
from vsr.bench import save_result  # noqa: E402


def timed(command: list[str], tree: Path, cwd: Path) -> float:
    # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH: run from a
    # folder with no vsr in it, or every tree would time the checkout it was started from
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a source tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trees = {label: Path(path) for label, _, path in (t.partition("=") for t in args.tree)}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "two.mp4", frames=2, width=320, height=180)
        out = Path(tmp) / "out.mp4"
        commands = {
            "import torch": [sys.executable, "-c", "import torch"],
            "vsr --help": [sys.executable, "-m", "vsr", "--help"],
            "vsr upscale (2 frames)": [
                sys.executable,
                "-m",
                "vsr",
                "upscale",
                str(clip),
                str(out),
                "--overwrite",
            ],
        }
        times: dict[str, dict[str, list[float]]] = {label: {c: [] for c in commands} for label in trees}
        for _ in range(args.rounds):
            for label, tree in trees.items():
                for name, command in commands.items():
                    times[label][name].append(timed(command, tree, Path(tmp)))
    results = {
        label: {name: {"median_s": round(statistics.median(t), 3), "rounds_s": [round(x, 3) for x in t]}
                for name, t in by_command.items()}
        for label, by_command in times.items()
    }  # fmt: skip
    for label, by_command in results.items():
        print(label, {name: r["median_s"] for name, r in by_command.items()})
    if args.json:
        save_result(
            args.json, command="python benchmarks/startup.py " + " ".join(sys.argv[1:]), results=results
        )


if __name__ == "__main__":
    main()
