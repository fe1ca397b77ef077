"""icspa_desktop/pipeline.py: the buffers going round between two threads of a bundle import or a blob read."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from icspa_desktop import pipeline


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_drained_yields_everything_in_order_with_no_more_buffers_than_the_pool() -> None:
    taken: list[int] = []
    outstanding = 0
    most = 0
    lock = threading.Lock()

    def fill(conveyor: pipeline.Conveyor[int]) -> None:
        nonlocal outstanding, most
        for i in range(200):
            buf = conveyor.take()
            with lock:
                outstanding += 1
                most = max(most, outstanding)
            buf[:4] = i.to_bytes(4, "big")
            conveyor.send(buf, i)

    for buf, i in pipeline.drained(pipeline.Conveyor[int](3, 16), fill, "test-fill"):
        time.sleep(0.0005 if i % 7 else 0)  # a slower consumer: the filler must wait for buffers
        assert int.from_bytes(buf[:4], "big") == i
        taken.append(i)
        with lock:
            outstanding -= 1
    assert taken == list(range(200))
    assert most <= 3
    assert not _threads("test-fill")


def test_drained_raises_the_fillers_error_in_the_callers_thread() -> None:
    def fill(conveyor: pipeline.Conveyor[int]) -> None:
        conveyor.send(conveyor.take(), 1)
        raise OSError(5, "the medium went away")

    got = []
    with pytest.raises(OSError, match="the medium went away"):
        for _, item in pipeline.drained(pipeline.Conveyor[int](2, 8), fill, "test-fail"):
            got.append(item)
    assert got == [1]
    assert not _threads("test-fail")


def test_a_consumer_that_stops_early_stops_and_joins_the_filler() -> None:
    ended = threading.Event()

    def fill(conveyor: pipeline.Conveyor[int]) -> None:
        try:
            for i in range(10**9):  # would never end on its own
                conveyor.send(conveyor.take(), i)
        finally:
            ended.set()

    blocks = pipeline.drained(pipeline.Conveyor[int](2, 8), fill, "test-stop")
    with pytest.raises(RuntimeError, match="walk refused"), contextlib.closing(blocks):
        for _, i in blocks:
            if i == 5:
                raise RuntimeError("walk refused")
    assert ended.is_set()
    assert not _threads("test-stop")


def test_a_drainer_error_reaches_the_filler_at_its_next_take_and_at_finish() -> None:
    drained: list[int] = []

    def drain(buf: bytearray, item: int) -> None:
        if item == 3:
            raise OSError(28, "No space left on device")
        drained.append(item)

    conveyor = pipeline.Conveyor[int](2, 8)
    drainer = pipeline.Drainer(conveyor, drain, "test-drain")
    with pytest.raises(OSError, match="No space left"):
        for i in range(1000):
            conveyor.send(conveyor.take(), i)
    with pytest.raises(OSError, match="No space left"):
        drainer.finish()
    assert drained == [0, 1, 2]  # nothing after the failure was drained
    assert not _threads("test-drain")


def test_a_drainer_finishes_everything_sent_and_abort_drops_the_rest() -> None:
    done: list[int] = []
    gate = threading.Event()

    def drain(buf: bytearray, item: int) -> None:
        gate.wait()
        done.append(item)

    conveyor = pipeline.Conveyor[int](4, 8)
    drainer = pipeline.Drainer(conveyor, drain, "test-finish")
    for i in range(4):
        conveyor.send(conveyor.take(), i)
    gate.set()
    drainer.finish()
    assert done == [0, 1, 2, 3]

    gate.clear()
    done.clear()
    conveyor = pipeline.Conveyor[int](4, 8)
    drainer = pipeline.Drainer(conveyor, drain, "test-abort")
    for i in range(4):
        conveyor.send(conveyor.take(), i)
    threading.Timer(0.05, gate.set).start()  # the first drain is under way when abort is called
    drainer.abort()
    assert len(done) <= 1
    assert not _threads("test-abort")
    with pytest.raises(pipeline.Stopped):
        conveyor.take()
