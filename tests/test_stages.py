"""Stage threads: failures surface as the original error, never as a hang or a short output."""

from __future__ import annotations

import threading
import time

import pytest

from vsr.pipeline.stages import Pipeline


def test_items_flow_in_order() -> None:
    pipe = Pipeline(depth=2)
    got: list[int] = []
    src = pipe.source("src", lambda: range(50))
    doubled = pipe.stage("double", src, lambda x: 2 * x)
    pipe.sink("sink", doubled, got.append)
    pipe.run()
    assert got == [2 * i for i in range(50)]


@pytest.mark.parametrize("where", ["source", "stage", "sink"])
def test_failure_anywhere_is_raised(where: str) -> None:
    class Boom(RuntimeError):
        pass

    def items():
        for i in range(1000):
            if where == "source" and i == 5:
                raise Boom("source failed")
            yield i

    def stage(x: int) -> int:
        if where == "stage" and x == 5:
            raise Boom("stage failed")
        return x

    def sink(x: int) -> None:
        if where == "sink" and x == 5:
            raise Boom("sink failed")

    pipe = Pipeline(depth=2)
    pipe.sink("sink", pipe.stage("stage", pipe.source("src", items), stage), sink)
    start = time.monotonic()
    with pytest.raises(Boom, match=f"{where} failed"):
        pipe.run()
    assert time.monotonic() - start < 5


def test_queues_are_bounded() -> None:
    """A slow sink holds the source back: at most a few items are in flight."""
    produced = 0
    consumed = 0
    peak = 0
    lock = threading.Lock()

    def items():
        nonlocal produced, peak
        for i in range(40):
            with lock:
                produced += 1
                peak = max(peak, produced - consumed)
            yield i

    def sink(_: int) -> None:
        nonlocal consumed
        time.sleep(0.005)
        with lock:
            consumed += 1

    pipe = Pipeline(depth=2)
    pipe.sink("sink", pipe.stage("stage", pipe.source("src", items), lambda x: x), sink)
    pipe.run()
    assert consumed == 40
    assert peak <= 2 + 2 + 3  # two queues of depth 2, plus one item held by each of three threads
