"""`vsr live --web [HOST:]PORT`: a page to watch what each source sends, against bicubic, and the
run's figures for people (/stats.json) and for monitoring systems (/metrics, Prometheus text made
by vsr.pipeline.live_metrics).

The server is the standard library's ThreadingHTTPServer: a page, two small text endpoints and
MJPEG streams need nothing more, and vsr's core install stays as it is. Each connection gets a
thread of its own, so a slow or vanished viewer only ever blocks itself.

Cost: the output thread of a source hands every frame to its `Publisher`, which keeps a reference
to the newest one and does nothing else unless a viewer is connected. One encoder thread per
source turns the newest frame into a JPEG at most WEB_FPS times a second, at most WEB_WIDTH pixels
wide per half ([model | bicubic of the same frame], side by side), and only while someone watches;
viewers take the newest JPEG when they are ready for one, so nothing queues.

Safety: it binds to 127.0.0.1 unless a host is given. On any other address it requires a token
(given with --web-token, or generated and printed once), as `?token=` or an `Authorization:
Bearer` header, compared in constant time. It serves its own routes only: no files, no listing.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from vsr.errors import OptionError
from vsr.pipeline.live_metrics import prometheus

log = logging.getLogger(__name__)

WEB_FPS = 10.0  # frames a second encoded for the page, at most
WEB_WIDTH = 640  # width of each half of the page's picture, at most
JPEG_QUALITY = 80
SEND_TIMEOUT_S = 10.0  # a viewer that takes no bytes for this long is dropped
PAGE = Path(__file__).with_name("web_page.html")


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None  # None: none on loopback, generated elsewhere

    @staticmethod
    def parse(text: str, token: str | None = None) -> WebConfig:
        """--web [HOST:]PORT (an IPv6 host in brackets: [::1]:8080)."""
        host, sep, port = text.rpartition(":")
        host = host.strip("[]") if sep else "127.0.0.1"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise OptionError(f"--web {text!r}: expected [HOST:]PORT with a port from 1 to 65535")
        return WebConfig(host or "127.0.0.1", int(port), token)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class Publisher:
    """The page's view of one source: the newest frame, and its JPEG while anyone watches."""

    def __init__(self, fps: float = WEB_FPS, width: int = WEB_WIDTH) -> None:
        self.fps, self.width = fps, width
        self._cond = threading.Condition()
        self._frame: tuple[np.ndarray, np.ndarray] | None = None  # (upscaled, LR), newest
        self._frame_seq = 0
        self.jpeg: bytes | None = None
        self.jpeg_seq = 0
        self.viewers = 0
        self.encoded = 0  # JPEGs made (what the page cost)

    def offer(self, image: np.ndarray, lr: np.ndarray) -> None:
        """Called by the source's output thread for every frame: O(1), never waits for the page."""
        if not self.viewers:
            return
        with self._cond:
            self._frame = (image, lr)
            self._frame_seq += 1
            self._cond.notify_all()

    def compose(self, image: np.ndarray, lr: np.ndarray) -> bytes:
        """[upscaled | bicubic of the same LR frame], each half at most `width` wide, as JPEG."""
        h, w = image.shape[:2]
        bicubic = cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)
        if w > self.width:
            size = (self.width, max(2, round(h * self.width / w)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            bicubic = cv2.resize(bicubic, size, interpolation=cv2.INTER_AREA)
        both = cv2.cvtColor(np.hstack([image, bicubic]), cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", both, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return data.tobytes()

    def encode_loop(self, stop: threading.Event) -> None:
        """The source's encoder thread: the newest frame to JPEG, at most `fps` a second."""
        seen = 0
        while not stop.is_set():
            with self._cond:
                while not stop.is_set() and (not self.viewers or self._frame_seq == seen):
                    self._cond.wait(0.25)
                if stop.is_set():
                    break
                frame, seen = self._frame, self._frame_seq
            if frame is None:
                continue
            started = time.monotonic()
            data = self.compose(*frame)
            with self._cond:
                self.jpeg, self.jpeg_seq = data, self.jpeg_seq + 1
                self.encoded += 1
                self._cond.notify_all()
            stop.wait(max(0.0, 1.0 / self.fps - (time.monotonic() - started)))
        with self._cond:
            self._cond.notify_all()

    def watch(self, stop: threading.Event) -> Iterator[bytes]:
        """The JPEGs a viewer gets: each newer than the last it took (frames it was too slow for
        are skipped, never queued)."""
        with self._cond:
            self.viewers += 1
            self._cond.notify_all()
        try:
            seen = 0
            while not stop.is_set():
                with self._cond:
                    while not stop.is_set() and self.jpeg_seq == seen:
                        self._cond.wait(0.25)
                    if stop.is_set():
                        return
                    data, seen = self.jpeg, self.jpeg_seq
                if data is not None:
                    yield data
        finally:
            with self._cond:
                self.viewers -= 1


class WebServer:
    """The page, /stats.json, /metrics and /stream/N.mjpg of a live run, in background threads."""

    def __init__(
        self, cfg: WebConfig, publishers: list[Publisher], snapshot: Callable[[], dict[str, Any]]
    ) -> None:
        self.cfg = cfg
        self.token = cfg.token or (None if cfg.loopback else secrets.token_urlsafe(16))
        self.publishers = publishers
        self.snapshot = snapshot
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        handler = type("Handler", (_Handler,), {"server_app": self})
        try:
            self.httpd = ThreadingHTTPServer((cfg.host, cfg.port), handler)
        except OSError as exc:
            raise OptionError(f"--web {cfg.host}:{cfg.port}: cannot listen there ({exc.strerror})") from None
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> None:
        for i, publisher in enumerate(self.publishers):
            thread = threading.Thread(target=publisher.encode_loop, args=(self.stop,), name=f"vsr-web-{i}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        serve = threading.Thread(target=self.httpd.serve_forever, name="vsr-web", daemon=True)
        serve.start()
        self._threads.append(serve)

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=2)

    def allowed(self, query: dict[str, list[str]], authorization: str | None) -> bool:
        if self.token is None:
            return True
        given = query.get("token", [""])[0]
        if authorization and authorization.startswith("Bearer "):
            given = authorization.removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), self.token.encode())


class _Handler(BaseHTTPRequestHandler):
    server_app: WebServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("web: " + format, *args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        app = self.server_app
        url = urlsplit(self.path)
        if not app.allowed(parse_qs(url.query), self.headers.get("Authorization")):
            self._send(HTTPStatus.FORBIDDEN, b"vsr: a valid token is required\n", "text/plain; charset=utf-8")
            return
        if url.path == "/":
            self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        elif url.path == "/stats.json":
            body = json.dumps(app.snapshot(), indent=1).encode()
            self._send(HTTPStatus.OK, body, "application/json")
        elif url.path == "/metrics":
            viewers = [p.viewers for p in app.publishers]
            body = prometheus(app.snapshot(), viewers).encode()
            self._send(HTTPStatus.OK, body, "text/plain; version=0.0.4; charset=utf-8")
        elif (m := re.fullmatch(r"/stream/(\d+)\.mjpg", url.path)) and int(m[1]) < len(app.publishers):
            self._stream(app.publishers[int(m[1])])
        else:
            self._send(HTTPStatus.NOT_FOUND, b"vsr: not found\n", "text/plain; charset=utf-8")

    def _stream(self, publisher: Publisher) -> None:
        self.close_connection = True
        self.connection.settimeout(SEND_TIMEOUT_S)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=vsrframe")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for data in publisher.watch(self.server_app.stop):
                head = f"--vsrframe\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                self.wfile.write(head.encode() + data + b"\r\n")
                self.wfile.flush()
        except OSError:  # the viewer went away, or stalled past SEND_TIMEOUT_S
            pass
