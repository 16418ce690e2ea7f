"""--ray on vsr batch and vsr upscale, against real Ray clusters on this machine (loopback only).

One two-node cluster (1 CPU each, no dashboard, no usage statistics, a small object store) serves
the module; vsr runs as a separate process that joins it, as a user's driver would.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

import vsr
from tests.clips import make_clip, probe
from tests.peers import default_sigint

# Keep every Ray process on the loopback interface (Ray otherwise binds to the routable address,
# even for 127.0.0.1), with token authentication, and send no usage statistics. Ray reads these
# when it is imported, so they are set first, for this test process and the vsr it starts. The
# cluster below is started like `ray start`, which (unlike ray.init) generates no token: on a
# machine without ~/.ray/auth_token its GCS server would abort, so the tests bring their own.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": os.environ.get("RAY_AUTH_TOKEN") or secrets.token_hex(32),
}
os.environ.update(RAY_ENV)
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
psutil = pytest.importorskip("psutil")
ENCODE = ["--preset", "ultrafast", "--no-progress"]
# Where parts are compared with a serial --segments run: lossless, so that what is compared is the
# model's output (x264 turns a 1-level difference into different decisions on later frames), and
# float32 (on CPUs with native bf16 the default autocast rounds further apart between batch sizes).
LOSSLESS = ["--codec", "ffv1", "--dtype", "float32", "--no-progress"]
SERIAL_LOSSLESS = {"codec": "ffv1", "crf": None, "preset": None, "dtype": "float32", "progress": False}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    c.add_node(**node)
    try:
        yield c.address
    finally:
        c.shutdown()


def _vsr(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vsr", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **RAY_ENV},
    )


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _same(a: Path, b: Path) -> bool:
    x, y = _frames(a), _frames(b)
    return len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y, strict=True))


def _close(a: Path, b: Path) -> bool:
    """Frame for frame within rounding: a serial --segments run steps its parts as one batch,
    Ray one part per actor, and oneDNN's convolutions round differently by batch size (measured:
    a few pixels off by 1-2 levels, PSNR > 60 dB)."""
    x, y = _frames(a), _frames(b)
    if len(x) != len(y):
        return False
    for p, q in zip(x, y, strict=True):
        d = np.abs(p.astype(np.int16) - q.astype(np.int16))
        if d.max() > 3 or d.mean() > 0.01:
            return False
    return True


def _leftovers(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir() if p.name.startswith("."))


def test_cluster_listens_on_loopback_only(cluster: str) -> None:
    ray_procs = [
        p for p in psutil.process_iter(["name", "cmdline"]) if "ray" in " ".join(p.info["cmdline"] or [])
    ]
    pids = {p.pid for p in ray_procs}
    listening = [
        c.laddr.ip for c in psutil.net_connections(kind="inet") if c.status == "LISTEN" and c.pid in pids
    ]
    assert cluster.startswith("127.0.0.1:") and listening

    def loopback(ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return (getattr(address, "ipv4_mapped", None) or address).is_loopback

    assert all(loopback(ip) for ip in listening), listening


def test_two_nodes_batch_of_three_with_a_broken_file(cluster: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=10, audio=True)
    make_clip(src / "b.mkv", frames=8, width=48, height=32, codec="ffv1")
    (src / "c.mp4").write_bytes(b"\x00" * 300)  # not a video
    out = tmp_path / "out"
    run = _vsr("batch", str(src), "-o", str(out), "--ray", cluster, *ENCODE)
    assert run.returncode == 1, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv"]
    lines = run.stderr.splitlines()
    assert [line for line in lines if "c.mp4: failed: input" in line]
    assert "2 done, 0 already finished, 1 failed" in run.stdout
    # one actor per node (1 CPU each), each took one file
    nodes = {line.split("(node ")[1].split(")")[0] for line in lines if "(node " in line}
    assert len(nodes) == 2, run.stderr
    for name in ("a.mp4", "b.mkv"):
        vsr.upscale(src / name, tmp_path / f"serial_{name}", preset="ultrafast", progress=False)
        assert _same(out / name, tmp_path / f"serial_{name}")
    assert probe(out / "a.mp4")["audio_seconds"] == probe(src / "a.mp4")["audio_seconds"]
    assert _leftovers(out) == []


def test_bytes_through_the_object_store_equal_shared_paths(cluster: str, tmp_path: Path) -> None:
    """--ray-data bytes: inputs go to the workers and outputs come back through Ray."""
    make_clip(tmp_path / "a.mp4", frames=8)
    make_clip(tmp_path / "long.mp4", frames=20, audio=True)
    out = tmp_path / "out"
    run = _vsr("batch", str(tmp_path / "*.mp4"), "-o", str(out), "--ray", cluster, "--ray-data", "bytes",
               "--part-frames", "8", "--ext", "mkv", *LOSSLESS)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "long.mp4: 20 frames" in run.stderr and "(3 parts)" in run.stderr
    vsr.upscale(tmp_path / "a.mp4", tmp_path / "a_serial.mkv", **SERIAL_LOSSLESS)
    assert _same(out / "a.mkv", tmp_path / "a_serial.mkv")
    vsr.upscale(tmp_path / "long.mp4", tmp_path / "l.mkv", segments=3, **SERIAL_LOSSLESS)
    assert _close(out / "long.mkv", tmp_path / "l.mkv")
    assert probe(out / "long.mkv")["audio_seconds"] == probe(tmp_path / "l.mkv")["audio_seconds"]
    assert _leftovers(out) == []


def test_long_file_on_local_ray_equals_segments_run_serially(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=30, audio=True)
    run = _vsr(
        "upscale", str(clip), str(tmp_path / "ray.mkv"), "--ray", "local", "--segments", "3", *LOSSLESS
    )
    assert run.returncode == 0, run.stderr
    assert "30 frames" in run.stderr and "on Ray" in run.stderr
    vsr.upscale(clip, tmp_path / "serial.mkv", segments=3, **SERIAL_LOSSLESS)
    assert _close(tmp_path / "ray.mkv", tmp_path / "serial.mkv")
    a, b = probe(tmp_path / "ray.mkv"), probe(tmp_path / "serial.mkv")
    assert a["pts_seconds"] == b["pts_seconds"] and a["audio_seconds"] == b["audio_seconds"]
    assert _leftovers(tmp_path) == []


def test_finished_parts_are_skipped_on_rerun(cluster: str, tmp_path: Path) -> None:
    from vsr.cluster.plan import plan_file, weights_key
    from vsr.config import UpscaleConfig
    from vsr.pipeline.job import load_runner
    from vsr.pipeline.segmented import upscale_part

    clip = make_clip(tmp_path / "in.mp4", frames=16)
    out = tmp_path / "out.mkv"
    options = UpscaleConfig(
        clip, out, segments=2, codec="ffv1", dtype="float32", progress=False
    )  # as the CLI's below
    # What an interrupted run leaves: part 0 finished and recorded, part 1 not.
    plan = plan_file(clip, out, options, 3000, weights_key(options))
    frames, info = upscale_part(options, plan.parts[0], plan.segment(0), load_runner(options, 8))
    plan.commit(0, info, None)
    run = _vsr("-v", "upscale", str(clip), str(out), "--ray", cluster, "--segments", "2", *LOSSLESS)
    assert run.returncode == 0, run.stderr
    assert "1 of 2 parts already finished" in run.stderr and "1 unit(s) on 1 Ray worker(s)" in run.stderr
    vsr.upscale(clip, tmp_path / "serial.mkv", segments=2, **SERIAL_LOSSLESS)
    assert _close(out, tmp_path / "serial.mkv")
    assert frames == 8 and not plan.work.exists()  # joined, then removed


def test_a_worker_killed_mid_part_is_retried(cluster: str, tmp_path: Path) -> None:
    # 320x192: each part takes a second or more, long enough for the killer to catch it mid-way
    # (at 160x96 in float32 a part could end between two looks on a busy machine)
    clip = make_clip(tmp_path / "in.mp4", frames=90, width=320, height=192)
    out = tmp_path / "out.mkv"
    parts = tmp_path / ".out.mkv.vsr-ray-parts"
    killed: list[int] = []

    def kill_one_worker_mid_part() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if parts.exists() and any(p.name.endswith(".partial") for p in parts.iterdir()):
                for proc in psutil.process_iter(["cmdline"]):
                    if " ".join(proc.info["cmdline"] or []).startswith("ray::RayWorker.run"):
                        proc.kill()
                        killed.append(proc.pid)
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_mid_part)
    killer.start()
    run = _vsr("upscale", str(clip), str(out), "--ray", cluster, "--segments", "2", *LOSSLESS)
    killer.join()
    assert killed, "no worker was caught in the middle of a part"
    assert run.returncode == 0, run.stderr
    vsr.upscale(clip, tmp_path / "serial.mkv", segments=2, **SERIAL_LOSSLESS)
    assert _close(out, tmp_path / "serial.mkv")
    assert _leftovers(tmp_path) == []


def test_ray_missing_is_one_line(tmp_path: Path) -> None:
    """Without the extra: one line naming the install command, no output, no traceback."""
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    run = subprocess.run(
        [sys.executable, "-m", "vsr", "upscale", str(clip), str(tmp_path / "o.mp4"), "--ray", "local"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "pip install 'vsr[ray]'" in run.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_interrupted_run_keeps_finished_parts_for_the_next(cluster: str, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=120, width=160, height=96)
    out = tmp_path / "out.mkv"
    parts = tmp_path / ".out.mkv.vsr-ray-parts"
    args = [sys.executable, "-m", "vsr", "upscale", str(clip), str(out), "--ray", cluster, "--segments", "4",
            "--ray-workers", "1", *LOSSLESS]  # fmt: skip
    proc = subprocess.Popen(
        args,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **RAY_ENV},
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    while not (parts / "part-0000.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("vsr: error: interrupted; finished outputs are kept, and ")
    assert not out.exists()
    assert (parts / "part-0000.json").exists() and not list(parts.glob(".*.partial"))
    run = _vsr("upscale", str(clip), str(out), "--ray", cluster, "--segments", "4", *LOSSLESS)
    assert run.returncode == 0, run.stderr
    assert "of 4 parts already finished" in run.stderr
    assert probe(out)["frames"] == 120 and _leftovers(tmp_path) == []
