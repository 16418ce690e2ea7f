"""`vsr live --web`: the page in a real browser (Debian's Chromium, headless, driven by selenium),
/metrics parsed as Prometheus text, /stats.json, and the token off loopback; against a live UDP
source from a real ffmpeg sender."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.clips import make_clip
from tests.peers import free_port, need_chromium, need_ffmpeg, udp_sender, vsr_command
from vsr.errors import OptionError
from vsr.pipeline.live_metrics import prometheus
from vsr.pipeline.web import Publisher, WebConfig

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "city_320x180.mp4"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("web") / "src.mp4", frames=250, width=160, height=96)


class Live:
    """A running `vsr live udp://... --web ...` fed by ffmpeg; its page's address once it serves."""

    def __init__(self, clip: Path, tmp: Path, *web: str) -> None:
        need_ffmpeg()
        port = free_port()
        self.sender = udp_sender(clip, port)
        self.proc = subprocess.Popen(
            [*vsr_command(), "live", f"udp://127.0.0.1:{port}", *web, "--duration", "40",
             "--fallback", "bicubic", "--stats-every", "0"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.url = ""
        deadline = time.monotonic() + 60
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if m := re.search(r"vsr: watch at (\S+)", line):
                self.url = m[1]
                break
            assert line or self.proc.poll() is None, "vsr live ended before serving its page"
        assert self.url, "no page address printed"
        self.base = re.sub(r"/\?token=.*$", "", self.url).rstrip("/")

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        url = self.base + path + (f"?token={token}" if token is not None else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def close(self) -> None:
        self.proc.terminate()
        self.sender.terminate()
        self.proc.wait(timeout=30)
        self.sender.wait(timeout=10)


@pytest.fixture
def live(clip: Path, tmp_path: Path) -> Iterator[Live]:
    run = Live(clip, tmp_path, "--web", str(free_port(kind=1)))
    yield run
    run.close()


def _wait_for_frames(live: Live, n: int = 10) -> dict:
    for _ in range(100):
        status, body = live.get("/stats.json")
        assert status == 200
        stats = json.loads(body)
        if stats["sources"][0]["frames_out"] >= n:
            return stats
        time.sleep(0.2)
    raise AssertionError("no frames went out")


def test_metrics_parse_as_prometheus_text_and_count_up(live: Live) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    assert live.url.startswith("http://127.0.0.1:") and "token" not in live.url  # loopback: no token
    stats = _wait_for_frames(live)
    assert stats["runtimes"][-1] == "bicubic" and stats["sources"][0]["serving"] in ("fast-x4", "bicubic")

    def scrape() -> dict[str, dict]:
        status, body = live.get("/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        return families

    # a viewer that asks for the picture and never reads it: the run must not notice
    host, port = live.base.removeprefix("http://").split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /stream/0.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    first = scrape()
    time.sleep(1.5)
    second = scrape()
    # prometheus_client names counter families without their _total suffix
    for name in (
        "vsr_live_frames_in",
        "vsr_live_frames_out",
        "vsr_live_frames_dropped",
        "vsr_live_reconnects",
    ):
        assert first[name].type == "counter", name
        (sample,) = first[name].samples
        assert sample.labels == {"source": stats["sources"][0]["source"]}
    value = {f.samples[0].name: f.samples[0].value for f in first.values()}
    later = {f.samples[0].name: f.samples[0].value for f in second.values()}
    assert later["vsr_live_frames_in_total"] > value["vsr_live_frames_in_total"]
    assert later["vsr_live_frames_out_total"] > value["vsr_live_frames_out_total"]
    assert second["vsr_live_fps_in"].type == "gauge" and 10 < later["vsr_live_fps_in"] < 40
    levels = {s.labels["level"] for s in second["vsr_live_frames_served"].samples}
    assert levels == {"fast-x4", "bicubic"}
    assert {s.labels["quantile"] for s in second["vsr_live_latency_seconds"].samples} == {"0.5", "0.95"}
    assert live.get("/nothing-here")[0] == 404 and live.get("/../../etc/passwd")[0] == 404
    assert later["vsr_live_web_viewers"] == 1  # the stalled one, still connected
    stalled.close()


def test_the_page_shows_a_moving_picture_and_changing_stats_in_chromium(tmp_path: Path) -> None:
    """The sample clip (a city at night, 320x180) sent by ffmpeg, upscaled to 1280x720."""
    need_chromium()
    live = Live(SAMPLE, tmp_path, "--web", str(free_port(kind=1)))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}"):  # fmt: skip
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    except BaseException:
        live.close()
        raise
    try:
        _wait_for_frames(live)
        driver.get(live.url)
        wait = WebDriverWait(driver, 30)
        wait.until(  # the first frame has arrived and the canvas is sized to it (wipe: one half)
            lambda d: d.execute_script(
                "const i = document.querySelector('img.feed'), c = document.querySelector('canvas');"
                "return i && i.naturalWidth > 0 && c.width === i.naturalWidth / 2;"
            )
        )

        def figure(key: str) -> str:  # the figures are redrawn every second: found afresh each time
            return driver.execute_script(
                "const e = document.querySelector(`[data-key=\"${arguments[0]}\"]`); return e ? e.textContent : '';",
                key,
            )

        wait.until(lambda d: figure("frames in / out"))
        first_stats = figure("frames in / out")
        canvas = driver.find_element(By.TAG_NAME, "canvas")
        shots = []
        for _ in range(2):
            png = canvas.screenshot_as_png
            shots.append(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.float32))
            time.sleep(1.5)
        assert shots[0].shape == shots[1].shape and shots[0].shape[1] >= 300
        assert np.abs(shots[0] - shots[1]).mean() > 1.0  # the video moves
        assert shots[0].std() > 10  # a picture, not a blank canvas
        assert figure("frames in / out") != first_stats  # the figures update
        # the level serving now, with the runtime `auto` chose for it (the same in /stats.json)
        runtimes = dict(
            zip(["fast-x4", "bicubic"], json.loads(live.get("/stats.json")[1])["runtimes"], strict=True)
        )
        serving = re.fullmatch(r"(fast-x4|bicubic) \((\S+)\)", figure("serving now"))
        assert serving and runtimes[serving[1]] == serving[2], figure("serving now")
        # VSR_WEB_SCREENSHOT=docs/web_page.png keeps the page as this test saw it (the README's picture)
        driver.save_screenshot(os.environ.get("VSR_WEB_SCREENSHOT") or str(tmp_path / "page.png"))
    finally:
        driver.quit()
        live.close()


def test_off_loopback_a_token_is_required(clip: Path, tmp_path: Path) -> None:
    port = free_port(kind=1)
    run = Live(clip, tmp_path, "--web", f"0.0.0.0:{port}", "--web-token", "s3cret-token")
    try:
        assert run.url.endswith("?token=s3cret-token")
        assert run.get("/stats.json", "s3cret-token")[0] == 200
        for path in ("/", "/stats.json", "/metrics", "/stream/0.mjpg"):
            assert run.get(path)[0] == 403, path
            assert run.get(path, "wrong")[0] == 403, path
            assert run.get(path, "s3cret-token-and-more")[0] == 403, path
        status, body = run.get("/", "s3cret-token")
        assert status == 200 and b"<title>vsr live</title>" in body
        request = urllib.request.Request(
            run.base + "/metrics", headers={"Authorization": "Bearer s3cret-token"}
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
    finally:
        run.close()
    generated = Live(clip, tmp_path, "--web", f"0.0.0.0:{free_port(kind=1)}")
    try:
        token = re.search(r"\?token=(\S+)$", generated.url)
        assert token and len(token[1]) >= 16  # generated and printed once
        assert generated.get("/stats.json")[0] == 403 and generated.get("/stats.json", token[1])[0] == 200
    finally:
        generated.close()


def test_web_address_and_publisher_without_viewers() -> None:
    assert WebConfig.parse("8080") == WebConfig("127.0.0.1", 8080)
    assert WebConfig.parse("0.0.0.0:9000").loopback is False
    assert WebConfig.parse("[::1]:9000") == WebConfig("::1", 9000) and WebConfig.parse("[::1]:9000").loopback
    for bad in ("http", "host:", "1:99999", "0"):
        with pytest.raises(OptionError, match="--web"):
            WebConfig.parse(bad)
    page = Publisher()
    image, lr = np.zeros((96, 128, 3), np.uint8), np.zeros((24, 32, 3), np.uint8)
    page.offer(image, lr)  # nobody watches: nothing is kept
    assert page._frame is None and page.encoded == 0
    wide = page.compose(np.zeros((720, 1280, 3), np.uint8), np.zeros((180, 320, 3), np.uint8))
    assert cv2.imdecode(np.frombuffer(wide, np.uint8), cv2.IMREAD_COLOR).shape == (360, 1280, 3)


def test_prometheus_text_escapes_labels() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    source = {
        "source": 'cam "1"\\x', "frames_in": 3, "frames_dropped": 1, "frames_upscaled": 2, "frames_out": 2,
        "frames_dropped_output": 0, "reconnects": 0, "fallback_switches": 0, "fallback_frames": 1,
        "fallback_served": [1], "fps_in": 1.5, "fps_out": 1.0, "serving": "bicubic",
        "latency_ms": {"p50": None, "p95": 20.0},
    }  # fmt: skip
    text = prometheus({"model": "m", "fallback": ["bicubic"], "sources": [source]}, viewers=[2])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["vsr_live_frames_in"].samples[0].labels["source"] == 'cam "1"\\x'
    assert families["vsr_live_level"].samples[0].value == 1
    assert families["vsr_live_web_viewers"].samples[0].value == 2
    served = {s.labels["level"]: s.value for s in families["vsr_live_frames_served"].samples}
    assert served == {"m": 1, "bicubic": 1}
