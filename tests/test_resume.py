"""--resume: a killed job continues from its last finished segment and ends with the same file."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from tests.clips import make_clip, probe
from tests.peers import default_sigint
from vsr.pipeline.resume import journal_dir

SEGMENT = ["--checkpoint-every", "0.4"]  # 10 frames at 25 fps


def _cmd() -> list[str]:
    exe = shutil.which("vsr")
    return [exe] if exe else [sys.executable, "-c", "from vsr.cli import run; run()"]


def _upscale(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cmd(), "upscale", str(src), str(out), "--no-progress", "--resume", *SEGMENT, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _start(src: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*_cmd(), "upscale", str(src), str(out), "--no-progress", "--resume", *SEGMENT, *extra],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def _wait_for_segments(proc: subprocess.Popen[str], out: Path, count: int) -> int:
    """Block until the journal has `count` finished segments; return how many frames they hold."""
    manifest = journal_dir(out) / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if manifest.exists():
            segments = json.loads(manifest.read_text())["segments"]
            if len(segments) >= count:
                return sum(s["frames"] for s in segments)
        time.sleep(0.05)
    raise AssertionError("no finished segment within 120 s")


def _packets(path: Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(*streams) if p.size]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    return make_clip(folder / "in.mp4", frames=60, width=96, height=64, audio=True)


@pytest.fixture(scope="module")
def uninterrupted(clip: Path) -> Path:
    out = clip.with_name("whole.mp4")
    proc = _upscale(clip, out)
    assert proc.returncode == 0, proc.stderr
    assert not journal_dir(out).exists()  # removed once the output is complete
    return out


def test_killed_job_resumes_to_the_same_file(clip: Path, uninterrupted: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = _start(clip, out)
    kept = _wait_for_segments(proc, out, 2)
    proc.kill()  # SIGKILL: nothing runs on the way out
    proc.wait()
    assert not out.exists()
    assert kept >= 20

    resumed = _upscale(clip, out)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed)" in resumed.stderr
    assert not journal_dir(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]
    a, b = probe(uninterrupted), probe(out)
    assert b["frames"] == a["frames"] == 60
    assert b["pts_seconds"] == a["pts_seconds"]
    assert b["audio_seconds"] == a["audio_seconds"]
    assert _packets(out, "audio") == _packets(uninterrupted, "audio")
    # The state saved with each segment makes the rest of the video bit-exact, not only close.
    assert _packets(out, "video") == _packets(uninterrupted, "video")


def test_resumable_output_matches_a_plain_run(clip: Path, uninterrupted: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.mp4"
    proc = subprocess.run(
        [*_cmd(), "upscale", str(clip), str(plain), "--no-progress"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    a, b = probe(plain), probe(uninterrupted)
    for key in ("frames", "pts_seconds", "width", "height", "audio_seconds", "streams"):
        assert a[key] == b[key], key
    assert _packets(plain, "audio") == _packets(uninterrupted, "audio")


def test_sigint_keeps_finished_segments_and_says_how_to_go_on(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = _start(clip, out)
    _wait_for_segments(proc, out, 1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "run the same command again" in lines[0], stderr
    assert not out.exists()
    names = {p.name for p in journal_dir(out).iterdir()}
    assert "manifest.json" in names and not any(n.startswith("partial") for n in names)


def test_journal_of_another_job_is_refused(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = _start(clip, out)
    _wait_for_segments(proc, out, 1)
    proc.kill()
    proc.wait()
    before = sorted(p.name for p in journal_dir(out).iterdir())
    other = _upscale(clip, out, "--crf", "30")
    assert other.returncode == 1
    assert other.stderr.count("\n") == 1 and "belongs to another job (different crf)" in other.stderr
    assert sorted(p.name for p in journal_dir(out).iterdir()) == before  # left as it was


def test_join_out_of_space_keeps_segments_for_a_rerun(tmp_path: Path) -> None:
    """A file-size limit below the output's size but above every journal file's lets the whole
    job run and the join fail (a disk filling up at the end of a long job): the segments stay,
    and the same command then only joins them."""
    import resource

    clip = make_clip(tmp_path / "long.mp4", frames=300, width=96, height=64)  # output > saved state
    reference = _upscale(clip, tmp_path / "ref.mp4")
    assert reference.returncode == 0, reference.stderr
    limit = int((tmp_path / "ref.mp4").stat().st_size * 0.8)

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "o.mp4"
    full = subprocess.run(
        [*_cmd(), "upscale", str(clip), str(out), "--no-progress", "--resume", *SEGMENT],
        preexec_fn=small_disk,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert full.returncode == 1 and full.stderr.count("\n") == 1 and "File too large" in full.stderr
    assert not out.exists()
    manifest = json.loads((journal_dir(out) / "manifest.json").read_text())
    assert sum(s["frames"] for s in manifest["segments"]) == 300  # all upscaled, only the join failed
    again = _upscale(clip, out)
    assert again.returncode == 0, again.stderr
    assert "300 frames (300 resumed)" in again.stderr
    assert out.read_bytes() == (tmp_path / "ref.mp4").read_bytes()


def test_second_run_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", frames=600, width=96, height=64)  # outlasts a 2nd start
    out = tmp_path / "o.mp4"
    first = _start(clip, out)
    _wait_for_segments(first, out, 1)
    second = _upscale(clip, out)
    first.kill()
    first.wait()
    assert second.returncode == 1 and "another vsr is writing" in second.stderr, second.stderr
    assert not out.exists()


def test_resume_with_subtitles_in_matroska(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", frames=24, audio=True, subtitles=True)
    out = tmp_path / "o.mkv"
    proc = _upscale(src, out)
    assert proc.returncode == 0, proc.stderr
    info = probe(out)
    assert info["frames"] == 24 and [t for t, _ in info["streams"]] == ["video", "audio", "subtitle"]
    assert info["pts_seconds"] == probe(src)["pts_seconds"]


def test_journal_lock_is_released_on_close(tmp_path: Path) -> None:
    """In one process (the Python API), a job that failed must not lock out its own retry."""
    from vsr.errors import OutputError
    from vsr.pipeline.resume import Journal

    first = Journal(tmp_path / "o.mp4", {"job": 1})
    first.open()
    with pytest.raises(OutputError, match="another vsr is writing"):
        Journal(tmp_path / "o.mp4", {"job": 1}).open()
    first.close()
    again = Journal(tmp_path / "o.mp4", {"job": 1})
    again.open()
    again.remove()
    assert not journal_dir(tmp_path / "o.mp4").exists()
