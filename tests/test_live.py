"""vsr live against real peers on loopback: FFmpeg over UDP, gst-rtsp-server, listening FFmpeg."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.clips import make_clip
from tests.peers import (
    ffprobe,
    free_port,
    need_ffmpeg,
    need_rtsp_server,
    rtsp_server,
    stop,
    udp_sender,
    vsr_command,
    wait_for,
)
from vsr.cli import app
from vsr.engine import autotune
from vsr.errors import InputError, OptionError
from vsr.io.live_outputs import describe_output
from vsr.io.sources import parse_source
from vsr.models.checkpoint import save_generator
from vsr.models.generator import FrameRecurrentGenerator, GeneratorArgs
from vsr.models.zoo import live_fallback, shipped_models
from vsr.pipeline.capture import Captured, Mailbox
from vsr.pipeline.live import LiveConfig, LiveSession, _assign_outputs

W, H = 160, 96  # source size; outputs are 640x384


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s at 25 fps, so no source reaches its end during a test."""
    return make_clip(tmp_path_factory.mktemp("live") / "src.mp4", frames=250, width=W, height=H)


def _live(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([*vsr_command(), "live", *args], capture_output=True, text=True, timeout=timeout)


def _stats(path: Path) -> dict:
    return json.loads(path.read_text())["sources"][0]


def _check_counts(s: dict) -> None:
    accounted = s["frames_out"] + s["frames_dropped"] + s["frames_dropped_output"]
    assert accounted <= s["frames_in"] <= accounted + 2  # at most one frame in flight per stage


# -- real peers ---------------------------------------------------------------------------------


def test_udp_mpegts_source_to_file(tmp_path: Path, clip: Path) -> None:
    need_ffmpeg()
    port = free_port()
    sender = udp_sender(clip, port)
    try:
        out, stats = tmp_path / "out.ts", tmp_path / "stats.json"
        proc = _live(f"udp://127.0.0.1:{port}", "-o", str(out), "--duration", "4", "--stats-json", str(stats))
    finally:
        stop(sender)
    assert proc.returncode == 0, proc.stderr
    info = ffprobe(out)
    assert (info["width"], info["height"]) == (4 * W, 4 * H)
    assert info["frames"] >= 10
    assert 2.5 <= info["duration"] <= 4.6
    assert all(b > a for a, b in zip(info["pts"], info["pts"][1:], strict=False))  # monotonic
    s = _stats(stats)
    # 25 fps for 4 s, plus up to ~2 s of frames that queued while the stream was being probed
    assert 70 <= s["frames_in"] <= 150
    _check_counts(s)
    assert s["frames_out"] == info["frames"]
    assert s["latency_ms"]["p50"] is not None and s["latency_ms"]["p95"] < 2000
    assert s["reconnects"] == 0


def test_udp_joined_between_key_frames_waits_for_one(tmp_path: Path, clip: Path) -> None:
    """A stream with key frames 8 s apart, joined ~2 s after one: vsr says it waits, then upscales
    from the next key frame on (before, it failed after 5 s with "Invalid data found")."""
    need_ffmpeg()
    port = free_port()
    sender = udp_sender(clip, port, gop=200)
    try:
        time.sleep(2.0)  # the sender's first key frame has gone by
        out = tmp_path / "out.ts"
        proc = _live(f"udp://127.0.0.1:{port}", "-o", str(out), "--max-frames", "10")
    finally:
        stop(sender)
    assert proc.returncode == 0, proc.stderr
    assert "joined between key frames; waiting for the next one" in proc.stderr
    assert ffprobe(out)["frames"] == 10


def test_rtsp_server_restart_reconnects_and_keeps_writing(tmp_path: Path, clip: Path) -> None:
    need_ffmpeg()
    need_rtsp_server()
    port = free_port(kind=1)  # TCP
    server = rtsp_server(clip, port)
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    web = f"http://127.0.0.1:{free_port(kind=1)}"
    proc = subprocess.Popen(
        [*vsr_command(), "live", f"rtsp://127.0.0.1:{port}/live", "-o", str(out), "--duration", "9",
         "--stats-json", str(stats), "--timeout", "2", "--web", web.removeprefix("http://")],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: out.exists() and out.stat().st_size > 0, 60), "vsr never started writing"
        time.sleep(2)
        stop(server)  # the camera goes away...
        time.sleep(1.5)
        server = rtsp_server(clip, port)  # ...and comes back

        def reconnected() -> bool:
            with urllib.request.urlopen(web + "/stats.json", timeout=5) as r:
                return json.load(r)["sources"][0]["reconnects"] >= 1

        assert wait_for(reconnected, 30)
        with urllib.request.urlopen(web + "/stream/0.mjpg", timeout=10) as stream:  # the page's picture
            data = b""
            while data.count(b"--vsrframe") < 2:  # one whole JPEG made after the reconnection
                data += stream.read(4096)
        jpeg = data[data.index(b"\xff\xd8") : data.index(b"--vsrframe", data.index(b"\xff\xd8"))]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1] == 2 * 4 * W
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop(server)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "reconnected" in stderr
    s = _stats(stats)
    assert s["reconnects"] >= 1
    _check_counts(s)
    info = ffprobe(out)
    assert (info["width"], info["height"]) == (4 * W, 4 * H)
    assert info["frames"] == s["frames_out"]
    # frames kept coming after the restart: without it the output would end about 2 s in
    assert info["pts"][-1] > 6.0
    gaps = [b - a for a, b in zip(info["pts"], info["pts"][1:], strict=False)]
    assert max(gaps) >= 1.0  # the outage shows as a gap in real-time timestamps, not a jump back


def _slow_model(tmp_path: Path) -> Path:
    """64 ch x 40 blocks, untrained (as costly as trained): about 6 fps at 160x96 on the 2-core
    CI machine, 4x slower than the 25 fps source, on an idle machine as on a busy one."""
    path = tmp_path / "slow.safetensors"
    args = GeneratorArgs(scale=4, channels=64, blocks=40, flow_channels=32, hr_warp=True)
    save_generator(FrameRecurrentGenerator.from_args(args), path)
    return path


def test_slow_model_drops_stale_frames_and_latency_stays_bounded(tmp_path: Path, clip: Path) -> None:
    need_ffmpeg()
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    proc = _live(
        str(clip), "--realtime", "-m", str(_slow_model(tmp_path)), "--fallback", "none", "-o", str(out),
        "--duration", "5", "--stats-json", str(stats),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = _stats(stats)
    _check_counts(s)
    assert s["frames_dropped"] > s["frames_out"] > 0  # the model keeps up with less than half
    # What the design bounds: a frame waits at most for the step in progress and its own (plus
    # capture and output), so latency stays within a few model steps however loaded the machine.
    # Without dropping, the backlog would grow with time: (25 - fps_out) / fps_out seconds per
    # second, about 15 s after 5 s at 6 fps.
    step_ms = 1000 / s["fps_out"]
    assert s["latency_ms"]["max"] < 4 * step_ms + 1000
    assert ffprobe(out)["frames"] == s["frames_out"]


def test_fallback_takes_over_while_the_model_drops_frames(tmp_path: Path, clip: Path) -> None:
    stats = tmp_path / "stats.json"
    proc = _live(
        str(clip), "--realtime", "-m", str(_slow_model(tmp_path)), "--fallback", "bicubic",
        "--duration", "8", "--stats-json", str(stats),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(stats.read_text())["fallback"] == ["bicubic"]
    s = _stats(stats)
    assert s["fallback_switches"] >= 1 and s["fallback_frames"] == s["fallback_served"][0] > 0
    assert "bicubic takes over for 3 s" in proc.stderr
    share = round(100 * s["fallback_frames"] / s["frames_upscaled"])
    assert f"by bicubic {share}%" in proc.stderr.splitlines()[-1]


class _Clock:
    """Drives a session's level choice on a simulated clock: a 25 fps source whose frames the
    serving level takes every 40 ms, dropping every other one while `dropping`."""

    def __init__(self, session: LiveSession) -> None:
        self.session, self.run, self.stats = session, session.runs[0], session.stats.sources[0]
        self.now = 0.0
        self.levels: list[int] = []  # the level of every frame

    def advance(self, seconds: float, dropping: bool | Callable[[int], bool]) -> None:
        for _ in range(round(seconds * 25)):
            self.now += 0.04
            self.stats.frames_in += 1
            drops = dropping(self.run.fallback.level) if callable(dropping) else dropping
            self.stats.frames_dropped += drops and self.stats.frames_in % 2 == 0
            self.levels.append(self.session._level(self.run, self.now))


def _session(tmp_path: Path, clip: Path, fallback: str) -> LiveSession:
    cfg = LiveConfig(sources=(str(clip),), model="bicubic", fallback=fallback, stats_json=tmp_path / "s.json")
    return LiveSession(cfg)


def test_each_failed_retry_doubles_the_fallback_hold(tmp_path: Path, clip: Path) -> None:
    """Holds of 3, 6, 12, ... 60 s while each retry of the model falls behind at once; a retry that
    keeps up for 10 s starts over at 3 s."""
    clock = _Clock(_session(tmp_path, clip, "bicubic"))
    run, holds = clock.run, []
    for _ in range(7):  # the model falls behind; the fallback holds; the model retries ...
        clock.advance(1.5, dropping=True)
        assert run.fallback.level == 1
        holds.append(run.fallback.holds[1])
        clock.advance(run.fallback.hold_until - clock.now + 0.1, dropping=False)  # the hold runs out
        assert run.fallback.level == 0 and run.fallback.resets[0]  # the model again, from a fresh state
    assert holds == [3, 6, 12, 24, 48, 60, 60]
    clock.advance(11, dropping=False)  # this retry keeps up
    clock.advance(1.5, dropping=True)
    assert run.fallback.holds[1] == 3 and clock.stats.fallback_switches == 8


def test_half_the_frames_dropped_is_relieved_within_half_a_second(tmp_path: Path, clip: Path) -> None:
    """Half the frames dropped is plain after 0.4 s; two dropped every 2 s (stalls) never is."""
    clock = _Clock(_session(tmp_path, clip, "bicubic"))
    clock.advance(0.4, dropping=True)
    assert clock.run.fallback.level == 0  # not yet: 0.4 s have not passed since the first record
    clock.advance(0.12, dropping=True)
    assert clock.run.fallback.level == 1 and clock.stats.frames_dropped <= 7
    clock = _Clock(_session(tmp_path, clip, "bicubic"))
    clock.advance(30, dropping=lambda level: clock.stats.frames_in % 50 in (2, 4))
    assert clock.stats.frames_dropped == 30 and set(clock.levels) == {0}


def test_a_fallback_that_drops_frames_hands_on_down_the_chain(tmp_path: Path, clip: Path) -> None:
    """Model and first fallback too slow, the last one fast: the chain settles on the last, tries
    the first again after each hold, and reaches the model only after the first kept up."""
    clock = _Clock(_session(tmp_path, clip, "bicubic,bicubic"))
    run = clock.run
    clock.advance(20, dropping=lambda level: level < 2)
    assert run.fallback.level == 2 and clock.stats.fallback_switches >= 4
    assert set(clock.levels[-100:]) <= {1, 2} and 0 not in clock.levels[50:]  # the model waits
    assert run.fallback.holds[2] > 3  # level 1's retries failed: level 2 holds longer each time
    # Now level 1 keeps up: after level 2's hold it serves for its own hold, then the model tries.
    clock.advance(run.fallback.hold_until - clock.now + 0.1, dropping=lambda level: level == 0)
    assert run.fallback.level == 1
    clock.advance(run.fallback.hold_until - clock.now + 0.1, dropping=lambda level: level == 0)
    assert run.fallback.level == 0
    clock.advance(1.5, dropping=lambda level: level == 0)
    assert run.fallback.level == 1


def test_default_fallback_is_the_real_time_model_then_bicubic(tmp_path: Path, clip: Path) -> None:
    """Without --fallback, a model that cannot keep up is relieved by the shipped real-time model."""
    stats = tmp_path / "stats.json"
    proc = _live(
        str(clip), "--realtime", "-m", str(_slow_model(tmp_path)), "--duration", "6", "--stats-json", str(stats)
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(stats.read_text())["fallback"] == ["rt-x4", "bicubic"]
    s = _stats(stats)
    _check_counts(s)
    assert s["fallback_served"][0] > 0
    assert " by rt-x4 " in proc.stderr.splitlines()[-1]


def test_each_model_level_runs_on_its_measured_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--backend auto (the default): an unbounded stream measures every model level's runtime at
    the source's size once; the next stream of that size takes the cached choice; a short run
    (--max-frames) measures nothing."""
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(autotune, "TIMED_SECONDS", 0.3)  # the timing's length, not what it decides
    source = make_clip(tmp_path / "src.ts", frames=16, width=64, height=48)  # MPEG-TS: no length

    def session(**options: object) -> LiveSession:
        cfg = LiveConfig(sources=(str(source),), stats_json=tmp_path / "s.json", **options)
        live = LiveSession(cfg)
        live.run()
        return live

    short = session(max_frames=4)
    assert [r["runtime"] for r in short.runtimes()] == ["eager", "eager", "bicubic"]
    assert not (tmp_path / "cache" / "autotune.json").exists()

    first = session()
    table = json.loads((tmp_path / "cache" / "autotune.json").read_text())
    assert len(table) == 2  # fast-x4 and rt-x4 at 64x48
    levels = first.runtimes()
    assert [r["level"] for r in levels] == ["fast-x4", "rt-x4", "bicubic"]
    for level in levels[:2]:
        assert level["reason"].startswith("measured") and " at 64x48 " in level["reason"]
        assert level["runtime"] in {entry["backend"] for entry in table.values()}
    assert json.loads((tmp_path / "s.json").read_text())["runtimes"] == [r["runtime"] for r in levels]

    again = session()
    assert [r["runtime"] for r in again.runtimes()] == [r["runtime"] for r in levels]
    assert all(r["reason"].endswith("(cached)") for r in again.runtimes()[:2])
    assert len(json.loads((tmp_path / "cache" / "autotune.json").read_text())) == 2


def test_fallback_choice() -> None:
    assert "rt-x4" in {m.name for m in shipped_models()}
    assert live_fallback("auto", "fast-x4", 4) == ["rt-x4", "bicubic"]
    assert live_fallback("auto", "rt-x4", 4) == ["bicubic"]  # the model is the real-time one already
    assert live_fallback("auto", "bicubic", 4) == []
    assert live_fallback("auto", "fast-x2", 2) == ["bicubic"]  # no real-time x2 model ships
    assert live_fallback("none", "fast-x4", 4) == []
    assert live_fallback("gan-x4, bicubic", "fast-x4", 4) == ["gan-x4", "bicubic"]


@pytest.mark.parametrize("scheme", ["udp", "rtmp", "rtsp"])
def test_push_to_a_listening_ffmpeg(tmp_path: Path, clip: Path, scheme: str) -> None:
    need_ffmpeg()
    port = free_port() if scheme == "udp" else free_port(kind=1)
    url, received, listen = {
        "udp": (f"udp://127.0.0.1:{port}", tmp_path / "recv.ts", []),
        "rtmp": (f"rtmp://127.0.0.1:{port}/live/vsr", tmp_path / "recv.flv", ["-listen", "1"]),
        "rtsp": (f"rtsp://127.0.0.1:{port}/live", tmp_path / "recv.mkv", ["-rtsp_flags", "listen"]),
    }[scheme]
    # A live receiver probes briefly (FFmpeg's default 5 s would outlast this 4 s stream).
    receiver = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *listen, "-analyzeduration", "1000000", "-i", url,
         "-c", "copy", "-y", str(received)],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # let it listen
        # bicubic: this tests the output path, and the receiver's probe needs a steady frame rate
        proc = _live(
            str(clip), "--realtime", "-m", "bicubic", "-o", url, "--duration", "4", "--stats-every", "0"
        )
        assert proc.returncode == 0, proc.stderr
        wait_for(lambda: receiver.poll() is not None, 5)  # RTMP ends with the connection
    finally:
        for _ in range(3):  # ffmpeg finalises its file on SIGINT (a second one ends a blocked read)
            if receiver.poll() is None:
                receiver.send_signal(signal.SIGINT)
                wait_for(lambda: receiver.poll() is not None, 3)
        if receiver.poll() is None:
            receiver.kill()
    info = ffprobe(received)
    assert (info["width"], info["height"]) == (4 * W, 4 * H)
    assert info["frames"] >= 10


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_stopping_leaves_a_readable_file(tmp_path: Path, clip: Path, sig: str) -> None:
    need_ffmpeg()
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen(
        [*vsr_command(), "live", str(clip), "--realtime", "-o", str(out)], stderr=subprocess.PIPE, text=True
    )
    assert wait_for(lambda: out.exists() and out.stat().st_size > 20_000, 60), "vsr never wrote frames"
    time.sleep(1)
    sent = time.monotonic()
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    if sig == "SIGTERM":
        assert proc.returncode == 0, stderr
        assert "stopped (interrupted)" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    info = ffprobe(out)  # Matroska flushed per packet: readable even after a kill
    assert info["frames"] >= 5 and (info["width"], info["height"]) == (4 * W, 4 * H)


def test_several_sources_in_one_batch_each_with_its_output(tmp_path: Path) -> None:
    need_ffmpeg()
    a = make_clip(tmp_path / "a.mp4", frames=15, width=64, height=48)
    b = make_clip(tmp_path / "b.mp4", frames=12, width=64, height=48)
    c = make_clip(tmp_path / "c.mp4", frames=9, width=48, height=32)
    outs = [tmp_path / f"{n}.mkv" for n in "abc"]
    stats = tmp_path / "stats.json"
    proc = _live(str(a), str(b), str(c), *[f"--output={o}" for o in outs], "--stats-json", str(stats))
    assert proc.returncode == 0, proc.stderr
    for out, (frames, w, h) in zip(outs, [(15, 64, 48), (12, 64, 48), (9, 48, 32)], strict=True):
        info = ffprobe(out)
        assert (info["frames"], info["width"], info["height"]) == (frames, 4 * w, 4 * h)
    sources = json.loads(stats.read_text())["sources"]
    assert [s["frames_dropped"] for s in sources] == [0, 0, 0]  # files without --realtime wait


@pytest.mark.skipif(not Path("/dev/video0").exists(), reason="no V4L2 webcam on this machine")
def test_webcam(tmp_path: Path) -> None:
    out = tmp_path / "cam.mkv"
    proc = _live("0", "-o", str(out), "--max-frames", "10")
    assert proc.returncode == 0, proc.stderr
    assert ffprobe(out)["frames"] == 10


# -- errors and parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["udp://127.0.0.1:{port}", "--timeout", "1"], "cannot open source"),
        (["rtsp://127.0.0.1:{port}/none", "--timeout", "2"], "cannot open source"),
        (["ftp://example.invalid/x"], "unsupported scheme 'ftp'"),
        (["{clip}", "--output", "{tmp}/a.mp4"], "live files are .mkv or .ts"),
        (["{clip}", "{clip}", "--output", "{tmp}/a.mkv"], "1 outputs for 2 sources"),
        (["{tmp}/missing.mp4"], "is not a file, a webcam index or a URL"),
        (["{clip}"], "nothing to do"),
        (
            ["{clip}", "--output", "{tmp}/a.mkv", "--output", "rtmp://127.0.0.1:{port}/a/b"],
            "cannot open output",
        ),
    ],
)
def test_bad_live_arguments_one_line_no_files(
    tmp_path: Path, clip: Path, args: list[str], message: str
) -> None:
    port = free_port()
    args = [a.format(port=port, clip=clip, tmp=tmp_path) for a in args]
    if "--output" not in args and args != [str(clip)]:
        args += ["-o", str(tmp_path / "out.mkv")]
    result = CliRunner().invoke(app, ["live", *args])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr: error:") and message in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_source_kinds_and_low_latency_options(tmp_path: Path, clip: Path) -> None:
    assert parse_source("0").url == "/dev/video0" and parse_source("0").kind == "webcam"
    rtsp = parse_source("rtsp://cam/stream", rtsp_transport="udp")
    assert rtsp.kind == "network" and rtsp.options["rtsp_transport"] == "udp"
    assert rtsp.options["analyzeduration"] == "1000000" and rtsp.reconnectable
    assert parse_source("udp://@:1234").options["overrun_nonfatal"] == "1"
    assert parse_source(str(clip)).realtime is False and parse_source(str(clip), realtime=True).realtime
    assert not parse_source(str(clip)).reconnectable
    with pytest.raises(OptionError):
        parse_source("rtsp://cam", rtsp_transport="http")
    with pytest.raises(InputError):
        parse_source(str(tmp_path / "nope.mkv"))
    assert describe_output("rtmp://host/app/key")[1] == "flv"
    assert describe_output("srt://host:9000")[1] == "mpegts"
    assert describe_output("x.mkv")[2]["flush_packets"] == "1"


@pytest.mark.parametrize(
    "url", ["tcp://:9000?listen=1", "srt://:9000?mode=listener", "rtmp://:1935/live?listen=1"]
)
def test_serving_output_must_name_its_address(url: str) -> None:
    with pytest.raises(OptionError, match="listens but names no address"):
        describe_output(url)
    host = url.replace("://:", "://127.0.0.1:")
    assert describe_output(host)[0] == "network"  # bound where the user says


def test_no_shell_anywhere() -> None:
    """Paths and URLs never reach a shell: the package starts no process at all."""
    import vsr

    root = Path(vsr.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for banned in ("subprocess", "os.system", "os.popen", "shell=True", "os.exec"):
            assert banned not in text, f"{path.relative_to(root)} uses {banned}"


def test_output_routing() -> None:
    assert _assign_outputs(("a.mkv", "rtmp://h/a"), 1) == [["a.mkv", "rtmp://h/a"]]
    assert _assign_outputs(("a.mkv", "b.mkv"), 2) == [["a.mkv"], ["b.mkv"]]
    assert _assign_outputs(("1=b.mkv", "0=a.mkv", "1=udp://h:1"), 2) == [["a.mkv"], ["b.mkv", "udp://h:1"]]
    with pytest.raises(OptionError):
        _assign_outputs(("2=c.mkv",), 2)


def test_mailbox_keeps_the_newest_frame_and_counts_drops() -> None:
    import numpy as np

    ready, stop_event = threading.Event(), threading.Event()
    box = Mailbox(drop=True, ready=ready)
    frames = [Captured(np.full((2, 2, 3), i, np.uint8), float(i), float(i), False) for i in range(3)]
    assert box.put(frames[0], stop_event) is False
    assert box.put(frames[1], stop_event) is True  # frame 0 was never taken: dropped
    assert ready.is_set()
    assert box.take() is frames[1] and box.take() is None
    waiting = Mailbox(drop=False, ready=ready)
    waiting.put(frames[0], stop_event)
    t = threading.Thread(target=waiting.put, args=(frames[2], stop_event))
    t.start()
    time.sleep(0.3)
    assert t.is_alive()  # blocked until the upscaler takes frame 0
    assert waiting.take() is frames[0]
    t.join(5)
    assert waiting.take() is frames[2]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_source_restarts_every_few_seconds_memory_flat(tmp_path: Path, clip: Path) -> None:
    """The short version of benchmarks/live_soak.py: every restart is a reconnect in the stats,
    the output keeps growing, and memory does not."""
    need_ffmpeg()
    port = free_port()
    out, stats = tmp_path / "out.ts", tmp_path / "stats.json"
    sender = udp_sender(clip, port)
    proc = subprocess.Popen(
        [*vsr_command(), "live", f"udp://127.0.0.1:{port}", "-o", str(out), "--timeout", "1",
         "--duration", "14", "--stats-json", str(stats)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: out.exists() and out.stat().st_size > 0, 60), "vsr never started writing"
        time.sleep(1)
        rss_start = _rss_mb(proc.pid)
        for _ in range(2):
            time.sleep(3)
            stop(sender)
            time.sleep(1)
            sender = udp_sender(clip, port)
        time.sleep(3)
        rss_end = _rss_mb(proc.pid)
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop(sender)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    s = _stats(stats)
    assert s["reconnects"] >= 2, stderr
    assert rss_end < 1.15 * rss_start, (rss_start, rss_end)
    info = ffprobe(out)
    assert info["frames"] == s["frames_out"]
    gaps = [b - a for a, b in zip(info["pts"], info["pts"][1:], strict=False)]
    assert sum(g >= 1.0 for g in gaps) >= 2  # both outages show; frames came after each
