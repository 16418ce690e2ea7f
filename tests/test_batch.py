"""vsr batch on one machine: real files, a broken one among them, reruns that continue."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner

import vsr
from tests.clips import make_clip, probe
from vsr.cli import app


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _batch(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["batch", *args, "--no-progress", "--preset", "ultrafast"])
    return result.exit_code, result.stdout, result.stderr


def test_batch_of_three_with_a_broken_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=6, audio=True)
    make_clip(src / "b.mkv", frames=5, width=48, height=32, codec="ffv1")
    (src / "c.mp4").write_bytes(b"\x00" * 300)  # not a video
    (src / "notes.txt").write_text("not picked up: not a video extension")
    code, out, err = _batch(str(src), "--out-dir", str(tmp_path / "out"), "--suffix", "_x4")
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x4.mp4", "b_x4.mkv"]
    assert "c.mp4: failed: input" in err and "1 of 3 files failed" in err
    assert "2 done, 0 already finished, 1 failed" in out
    # each output is what vsr upscale makes of the same file, frame for frame
    for name, made in (("a.mp4", "a_x4.mp4"), ("b.mkv", "b_x4.mkv")):
        vsr.upscale(src / name, tmp_path / f"serial_{made}", preset="ultrafast", progress=False)
        a, b = _frames(tmp_path / "out" / made), _frames(tmp_path / f"serial_{made}")
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert probe(tmp_path / "out" / "a_x4.mp4")["audio_seconds"] == probe(src / "a.mp4")["audio_seconds"]


def test_rerun_skips_finished_outputs(tmp_path: Path) -> None:
    make_clip(tmp_path / "a.mp4", frames=4)
    make_clip(tmp_path / "b.mp4", frames=4)
    out = tmp_path / "out"
    code, _, _ = _batch(str(tmp_path / "a.mp4"), "--out-dir", str(out), "-m", "bicubic")
    assert code == 0
    first = (out / "a.mp4").stat().st_mtime_ns
    code, table, err = _batch(str(tmp_path / "*.mp4"), "--out-dir", str(out), "-m", "bicubic")
    assert code == 0
    assert "a.mp4: already finished" in err and (out / "a.mp4").stat().st_mtime_ns == first
    assert "1 done, 1 already finished, 0 failed" in table
    assert probe(out / "b.mp4")["frames"] == 4


def test_extension_and_clashes(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    make_clip(tmp_path / "x" / "same.mp4", frames=3)
    make_clip(tmp_path / "y" / "same.mp4", frames=3)
    code, _, err = _batch(str(tmp_path / "x"), str(tmp_path / "y"), "--out-dir", str(tmp_path / "o"))
    assert code == 1 and "would both be written to" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # refused before any work
    code, _, _ = _batch(
        str(tmp_path / "x"), "--out-dir", str(tmp_path / "o"), "--ext", "mkv", "-m", "bicubic"
    )
    assert code == 0 and probe(tmp_path / "o" / "same.mkv")["frames"] == 3


def test_missing_input_and_output_onto_input(tmp_path: Path) -> None:
    code, _, err = _batch(str(tmp_path / "nope*.mp4"), "--out-dir", str(tmp_path))
    assert code == 1 and "matches no file" in err and err.count("\n") == 1
    make_clip(tmp_path / "a.mp4", frames=3)
    code, _, err = _batch(str(tmp_path / "a.mp4"), "--out-dir", str(tmp_path), "-y")
    assert code == 1 and "would overwrite its input" in err
    assert probe(tmp_path / "a.mp4")["frames"] == 3
