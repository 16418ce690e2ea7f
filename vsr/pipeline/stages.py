"""Stage threads joined by bounded queues that carry items, an end marker and failures.

A stage that fails puts its exception downstream and sets the shared `cancel` event, so every
other stage stops waiting; `Pipeline.run` re-raises the first failure in the calling thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from vsr.errors import Cancelled

__all__ = ["Cancelled", "Channel", "Pipeline"]

T = TypeVar("T")
U = TypeVar("U")

_POLL_S = 0.1
STOP_WAIT_S = 60.0  # at most this long for a stage to reach a point where it can stop


@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class Channel(Generic[T]):
    """A bounded queue between two stages; iterating it yields items until the end marker."""

    def __init__(self, maxsize: int, cancel: threading.Event) -> None:
        self._queue: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize)
        self._cancel = cancel

    def _put(self, item: T | _End | _Failure) -> None:
        while True:
            if self._cancel.is_set() and not isinstance(item, _Failure):
                raise Cancelled
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def put(self, item: T) -> None:
        self._put(item)

    def close(self) -> None:
        self._put(_End())

    def fail(self, error: BaseException) -> None:
        try:
            self._queue.put_nowait(_Failure(error))
        except queue.Full:
            pass  # the consumer sees `cancel` instead

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._cancel.is_set():
                    raise Cancelled from None
                continue
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise Cancelled from item.error
            yield item


class Pipeline:
    """Runs a source, any number of transform stages and a sink, each in its own thread."""

    def __init__(self, depth: int = 4) -> None:
        self.depth = depth
        self.cancel = threading.Event()
        self._threads: list[threading.Thread] = []
        self._done: list[threading.Event] = []  # set as each stage's thread ends
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def _record(self, error: BaseException) -> None:
        with self._lock:
            if not isinstance(error, Cancelled):
                self._errors.append(error)
        self.cancel.set()

    def _spawn(self, name: str, body: Callable[[], None]) -> None:
        done = threading.Event()

        def target() -> None:
            try:
                body()
            except BaseException as exc:  # noqa: BLE001 - every failure is handed to run()
                self._record(exc)
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"vsr-{name}", daemon=True)
        self._threads.append(thread)
        self._done.append(done)

    def source(self, name: str, items: Callable[[], Iterable[T]]) -> Channel[T]:
        """A thread that puts everything `items()` yields into a new channel."""
        out: Channel[T] = Channel(self.depth, self.cancel)
        self._spawn(name, lambda: self._feed(out, items()))
        return out

    def stage(self, name: str, inputs: Channel[T], fn: Callable[[T], U]) -> Channel[U]:
        """A thread that puts `fn(item)` for every item of `inputs` into a new channel."""
        out: Channel[U] = Channel(self.depth, self.cancel)
        self._spawn(name, lambda: self._feed(out, (fn(item) for item in inputs)))
        return out

    @staticmethod
    def _feed(out: Channel[T], items: Iterable[T]) -> None:
        """Put every item, then the end marker; on failure hand the error downstream and re-raise."""
        try:
            for item in items:
                out.put(item)
            out.close()
        except BaseException as exc:
            out.fail(exc)
            raise

    def sink(self, name: str, inputs: Channel[T], fn: Callable[[T], None]) -> None:
        def body() -> None:
            for item in inputs:
                fn(item)

        self._spawn(name, body)

    def run(self) -> None:
        """Start every stage, wait for all of them, and raise the first real failure."""
        for thread in self._threads:
            thread.start()
        try:
            for thread in self._threads:
                while thread.is_alive():
                    thread.join(_POLL_S)
        except BaseException:  # KeyboardInterrupt in the main thread: stop the stages
            # and wait until they have: a stage left running inside native code (a model step)
            # when the interpreter exits is killed there, which aborts the process. Not
            # Thread.join: interrupted by a signal, it can mark a running thread as finished.
            self.cancel.set()
            for done in self._done:
                done.wait(STOP_WAIT_S)
            raise
        if self._errors:
            raise self._errors[0]
