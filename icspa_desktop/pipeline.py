"""Two threads and a fixed pool of buffers going round between them: bounded memory, errors cross over.

The long jobs (bundle import, reading a blob, staging payload files) split their work over two cores:
hashlib, ``cryptography``'s AEADs and file I/O release the GIL on large buffers. One side *fills* buffers
(takes a free one, fills it, sends it on with a description), the other *drains* them (uses one, gives it
back). At most ``count`` buffers ever exist (made as they are first needed), so a fast side waits for the
slow one instead of queueing without bound. Either side may give up:

* the draining side ``stop``\\ s: the filler's next ``take`` raises ``Stopped`` (or the drainer's error);
* the filling side ``end``\\ s, with an error or without: the drainer's ``receive`` raises it, or returns None.

``drained`` runs the filler in a worker thread for a caller that drains (decrypting a bundle, reading a
blob); ``Drainer`` runs the drainer in a worker thread for a caller that fills (writing staged blobs).
``lent`` is ``drained`` for a caller that passes parts of a buffer on to a third thread without copying them:
each buffer comes as a ``Loan``, back in the pool once every holder has let go.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """The draining side gave up: the filling side's work is to end now, quietly."""


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None


class Conveyor(Generic[T]):
    """``count`` buffers of ``size`` bytes between a filling and a draining thread, each sent with an item."""

    def __init__(self, count: int, size: int) -> None:
        if count < 1:
            raise ValueError("a conveyor needs at least one buffer")
        self._free: queue.Queue[bytearray] = queue.Queue()
        # Made when first needed, ``count`` at most: a small job (an import of a few small files) then uses one or
        # two, not the whole pool (16 MiB for an import's staging, zero-filled and resident as soon as made).
        self._unmade = count
        self._size = size
        self._making = threading.Lock()
        self._filled: queue.Queue[tuple[bytearray, T] | _End] = queue.Queue()
        self._stopped = threading.Event()
        self.error: BaseException | None = None  # why the draining side stopped, if it failed

    # -- the filling side --
    def take(self) -> bytearray:
        """A free buffer (waiting for one); raises the drainer's error, or Stopped, once it has stopped."""
        try:
            buf = self._free.get_nowait()
        except queue.Empty:
            made = self._make()
            buf = made if made is not None else self._free.get()
        if self._stopped.is_set():
            self._free.put(buf)  # wakes the next waiter too
            raise self.error if self.error is not None else Stopped
        return buf

    def _make(self) -> bytearray | None:
        """A new buffer while fewer than ``count`` exist, else None (then wait for one to come back)."""
        with self._making:
            if self._unmade == 0 or self._stopped.is_set():
                return None
            self._unmade -= 1
        return bytearray(self._size)

    def send(self, buf: bytearray, item: T) -> None:
        """Pass a filled buffer (from ``take``) on, described by ``item``; never blocks."""
        self._filled.put((buf, item))

    def end(self, error: BaseException | None = None) -> None:
        """Nothing more follows; with ``error``, the drainer's ``receive`` raises it."""
        self._filled.put(_End(error))

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- the draining side --
    def receive(self) -> tuple[bytearray, T] | None:
        """The next filled buffer and its item, in order; None at the end. Raises what the filler ended with."""
        got = self._filled.get()
        if isinstance(got, _End):
            self._filled.put(got)  # a second receive sees the end again instead of waiting forever
            if got.error is not None:
                raise got.error
            return None
        return got

    def give_back(self, buf: bytearray) -> None:
        self._free.put(buf)

    def stop(self, error: BaseException | None = None) -> None:
        """Give up draining (``error``: why); a filler waiting in ``take`` wakes and raises."""
        if error is not None and self.error is None:
            self.error = error
        self._stopped.set()
        self._free.put(bytearray(0))  # wakes a filler waiting for a buffer


class Loan:
    """A buffer of a conveyor's pool used by several holders at once (a bundle's tar walk, and the thread sealing
    a payload chunk that lies in it): back in the pool when the last holder lets go, never before."""

    __slots__ = ("_conveyor", "_holders", "_lock", "buf")

    def __init__(self, conveyor: Conveyor[Any], buf: bytearray) -> None:
        self.buf = buf
        self._conveyor = conveyor
        self._holders = 1  # whoever received it
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """Out of the pool: someone has not let go yet."""
        return self._holders > 0

    def hold(self) -> None:
        """One more holder: the buffer stays out of the pool until it lets go too."""
        with self._lock:
            if self._holders == 0:
                raise RuntimeError("the buffer is back in the pool")
            self._holders += 1

    def let_go(self) -> None:
        with self._lock:
            if self._holders == 0:
                raise RuntimeError("the buffer is back in the pool")
            self._holders -= 1
            last = self._holders == 0
        if last:
            self._conveyor.give_back(self.buf)


def lent(conveyor: Conveyor[T], fill: Callable[[Conveyor[T]], None],
         name: str) -> Generator[tuple[Loan, T], None, None]:
    """``drained``, each buffer lent: the caller's hold ends when it asks for the next one, and the buffer goes back
    to the pool once every other holder it took on (``Loan.hold``) has let go too. The filler waits for a free
    buffer meanwhile, so what the holders keep is bounded by the pool."""

    def run() -> None:
        try:
            fill(conveyor)
        except Stopped:
            conveyor.end()
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            conveyor.end(exc)
        else:
            conveyor.end()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (got := conveyor.receive()) is not None:
            loan = Loan(conveyor, got[0])
            try:
                yield loan, got[1]
            finally:
                loan.let_go()
    finally:
        conveyor.stop()
        worker.join()


def drained(conveyor: Conveyor[T], fill: Callable[[Conveyor[T]], None],
            name: str) -> Generator[tuple[bytearray, T], None, None]:
    """Run ``fill(conveyor)`` in a worker thread and yield what it sends, in order, in the caller's thread.

    Each buffer goes back to the pool when the next one is asked for (use it before that). Whatever ``fill``
    raises is raised here. When the caller stops early (an exception, or closing the generator: wrap it in
    ``contextlib.closing``), the filler is stopped at its next ``take`` and joined before this returns.
    """

    with contextlib.closing(lent(conveyor, fill, name)) as loans:
        for loan, item in loans:
            yield loan.buf, item


def _drained(_buf: bytearray, _item: object) -> None:
    """What a finished Drainer holds in place of its drain (nothing more comes)."""


class Drainer(Generic[T]):
    """A worker thread that calls ``drain(buffer, item)`` for each buffer the caller sends, in order.

    The first exception from ``drain`` stops the conveyor with it: the caller's next ``take`` raises it (the
    rest sent is given back unused, each item handed to ``drop`` if given), and so does ``finish``. ``abort``
    drops whatever is still queued.
    """

    def __init__(self, conveyor: Conveyor[T], drain: Callable[[bytearray, T], None], name: str,
                 drop: Callable[[T], None] | None = None) -> None:
        self.conveyor = conveyor
        self._drain = drain
        self._drop = drop
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._drain_all()
        finally:
            # The drain is often a method of the object that owns this Drainer: holding it after the thread is done
            # made a cycle, and the owner's buffers (an import's staging pool: 16 MiB) waited for the garbage
            # collector instead of going with the owner.
            self._drain = _drained
            self._drop = None

    def _drain_all(self) -> None:
        conveyor = self.conveyor
        while True:
            try:
                got = conveyor.receive()
            except BaseException:  # the caller ended with an error: nothing more to drain
                return
            if got is None:
                return
            buf, item = got
            if not conveyor.stopped:
                try:
                    self._drain(buf, item)
                except BaseException as exc:  # raised in the caller's thread at its next take, or finish
                    conveyor.stop(exc)
            elif self._drop is not None:
                self._drop(item)
            conveyor.give_back(buf)

    def finish(self) -> None:
        """Wait until everything sent is drained; raises the first error ``drain`` raised."""
        self.conveyor.end()
        self._thread.join()
        if self.conveyor.error is not None:
            raise self.conveyor.error

    def abort(self) -> None:
        """Stop draining (what is queued is dropped) and wait for the thread; never raises."""
        self.conveyor.stop()
        self.conveyor.end()
        with contextlib.suppress(RuntimeError):
            self._thread.join()


class Pending:
    """One call running in a worker thread while the caller goes on (e.g. making files durable while the
    database rows that will name them are written)."""

    def __init__(self, call: Callable[[], None], name: str) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # raised in the caller's thread by wait
            self._error = exc

    def wait(self) -> None:
        """Until the call has returned; raises what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def join(self) -> None:
        """Until the call has returned, whatever its outcome (the caller is already failing)."""
        self._thread.join()
