"""icspa_desktop/pipeline.py: the buffers going round between two threads of a bundle import or a blob read."""

from __future__ import annotations

import contextlib
import errno
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


def test_buffers_are_made_as_they_are_first_needed_and_never_more_than_the_pool() -> None:
    """A small job uses one buffer of a pool of 16 (an import of a few small files: 1 MiB, not 16 MiB resident);
    a job that keeps the pool busy makes all of them, and no more."""
    small = pipeline.Conveyor[int](16, 1024)
    made: set[int] = set()
    for n in range(5):
        buf = small.take()
        made.add(id(buf))
        small.send(buf, n)
        got = small.receive()
        assert got is not None
        small.give_back(got[0])
    assert len(made) == 1
    busy = pipeline.Conveyor[int](4, 1024)
    held = [busy.take() for _ in range(4)]
    assert len({id(b) for b in held}) == 4
    waiter = threading.Thread(target=lambda: held.append(busy.take()), daemon=True)
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # the fifth waits for one to come back: no fifth buffer is made
    busy.give_back(held[0])
    waiter.join(1)
    assert not waiter.is_alive() and held[-1] is held[0]


def test_a_finished_drainer_lets_its_owner_go_without_the_garbage_collector() -> None:
    """A Drainer given its owner's method held that owner (and its buffers) in a cycle after finishing, until the
    garbage collector ran; an import's 16 MiB staging pool waited for it. Now the owner goes with its last
    reference."""
    import gc
    import weakref

    class Owner:
        def __init__(self) -> None:
            self.seen = 0
            self.drainer = pipeline.Drainer(pipeline.Conveyor[int](2, 8), self.drain, "test-owner")

        def drain(self, _buf: bytearray, item: int) -> None:
            self.seen += item

    owner = Owner()
    for n in (1, 2, 3):
        buf = owner.drainer.conveyor.take()
        owner.drainer.conveyor.send(buf, n)
    owner.drainer.finish()
    assert owner.seen == 6
    gone = weakref.ref(owner)
    gc.disable()
    try:
        del owner
        assert gone() is None
    finally:
        gc.enable()


def test_a_lent_buffer_goes_back_to_the_pool_only_when_every_holder_has_let_go() -> None:
    """A bundle import's walk lends the decrypted block to the thread that seals the payload lying in it: the
    decrypting side must not fill it again before that thread is done, however far behind it is."""
    kept: list[tuple[pipeline.Loan, bytes]] = []

    def fill(conveyor: pipeline.Conveyor[int]) -> None:
        for i in range(40):
            buf = conveyor.take()
            buf[:] = bytes([i]) * len(buf)
            conveyor.send(buf, i)

    seen = []
    for loan, i in pipeline.lent(pipeline.Conveyor[int](4, 64), fill, "test-lend"):
        seen.append(i)
        if i % 3 == 0:  # held past the walk, as a payload chunk waiting to be sealed
            loan.hold()
            kept.append((loan, bytes(loan.buf)))
        if len(kept) == 2:  # the sealing thread catches up, checking nothing overwrote what it held
            for held, content in kept:
                assert bytes(held.buf) == content
                held.let_go()
            kept.clear()
    assert seen == list(range(40))
    for held, content in kept:
        assert bytes(held.buf) == content
        held.let_go()
    with pytest.raises(RuntimeError, match="back in the pool"):
        held.let_go()
    assert not _threads("test-lend")


def test_a_filler_waits_while_the_whole_pool_is_held() -> None:
    conveyor = pipeline.Conveyor[int](2, 8)
    sent = threading.Event()
    progress: list[int] = []

    def fill(c: pipeline.Conveyor[int]) -> None:
        for i in range(3):
            c.send(c.take(), i)
            progress.append(i)
        sent.set()

    loans = pipeline.lent(conveyor, fill, "test-held")
    held = []
    for _ in range(2):
        loan, _item = next(loans)
        loan.hold()
        held.append(loan)
    time.sleep(0.05)
    assert progress == [0, 1] and not sent.is_set()  # both buffers held: the third waits
    held[0].let_go()
    assert sent.wait(1)
    held[1].let_go()
    loans.close()
    assert not _threads("test-held")


def test_a_drainer_hands_what_it_will_not_drain_to_drop() -> None:
    dropped: list[int] = []
    all_sent = threading.Event()

    def drain(_buf: bytearray, item: int) -> None:
        all_sent.wait()
        if item == 1:
            raise OSError(errno.ENOSPC, "full")

    conveyor = pipeline.Conveyor[int](8, 0)
    drainer = pipeline.Drainer(conveyor, drain, "test-drop", drop=dropped.append)
    for i in range(4):
        conveyor.send(conveyor.take(), i)
    all_sent.set()
    with pytest.raises(OSError, match="full"):
        drainer.finish()
    assert dropped == [2, 3]
