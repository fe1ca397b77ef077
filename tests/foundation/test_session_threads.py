"""One session used from two threads at once (the desktop's GUI thread and a worker): transactions are
serialised by the connection's lock instead of failing or mixing (issue 12 item 4)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.services import cases, custody_verify, evidence
from icspa_desktop.services.session import Session, cancellable_reads
from icspa_desktop.vault import db


def test_two_threads_write_through_one_session_without_mixing_transactions(admin: Session, tmp_path: Path) -> None:
    case = cases.create_case(admin, CaseFields("2026/900", "Threads"))
    source = tmp_path / "note.txt"
    source.write_text("x\n")
    (item,) = evidence.add_files(admin, case.id, [source]).items
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def annotate(label: str) -> None:
        start.wait()
        try:
            for n in range(40):
                evidence.annotate(admin, item.id, notes=f"{label} {n}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=annotate, args=(name,)) for name in ("gui", "worker")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert custody_verify.verify(admin).ok
    annotated = admin.conn.execute("SELECT COUNT(*) FROM custody_events WHERE action = 'annotated'").fetchone()[0]
    assert annotated == 80


_LONG_READ = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 300000000) "
              "SELECT count(*) FROM n")  # minutes of work unless interrupted


def test_a_cancelled_read_stops_inside_its_statement(admin: Session) -> None:
    """A view's read (gui/ops.py ``load_in_background``) stops at once when the vault locks, even in the middle of
    one long statement (whichever comes first, the cancel or the statement's start, it never runs to its end).
    Statements outside the block are not touched."""
    token = CancelToken()
    started = threading.Event()
    outcome: list[BaseException | int] = []

    def read() -> None:
        with cancellable_reads(token), admin.reading() as conn:
            started.set()
            try:
                outcome.append(int(conn.execute(_LONG_READ).fetchone()[0]))
            except db.DatabaseError as exc:
                outcome.append(exc)

    worker = threading.Thread(target=read)
    worker.start()
    started.wait()
    token.cancel()
    worker.join(timeout=30)
    assert not worker.is_alive()
    (result,) = outcome
    assert isinstance(result, db.DatabaseError) and "interrupt" in str(result)
    # The connection is usable afterwards, and a cancelled token outside its block stops nothing.
    assert admin.conn.execute("SELECT count(*) FROM users").fetchone()[0] >= 1
    with cancellable_reads(CancelToken()), admin.reading() as conn:
        assert conn.execute("SELECT count(*) FROM (SELECT 1 UNION SELECT 2)").fetchone()[0] == 2


def test_a_long_read_calling_python_never_blocks_the_session_connection(admin: Session) -> None:
    """The views' sorts and filters call Python functions from SQL (natural order, case folding) on the reader
    connection. The GUI thread's queries on the session's connection go on meanwhile: were those functions on
    the shared connection, a query binding its parameters (holding the GIL, waiting for the connection) and the
    statement calling back (holding the connection, waiting for the GIL) would wait for each other for ever."""
    token = CancelToken()
    started = threading.Event()
    outcome: list[BaseException | int] = []
    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 300000000) "
            "SELECT count(*) FROM n WHERE icspa_fold(i) = icspa_natural(i)")

    def read() -> None:
        with cancellable_reads(token), admin.reading() as conn:
            started.set()
            try:
                outcome.append(int(conn.execute(slow).fetchone()[0]))
            except db.DatabaseError as exc:
                outcome.append(exc)

    worker = threading.Thread(target=read)
    worker.start()
    started.wait()
    for n in range(300):  # parameters bound on the session's connection while the reader's statement calls back
        assert admin.conn.execute("SELECT ? + 1", (n,)).fetchone()[0] == n + 1
    token.cancel()
    worker.join(timeout=30)
    assert not worker.is_alive() and len(outcome) == 1
    with pytest.raises(db.DatabaseError, match="no such function"):  # the session's connection has none
        admin.conn.execute("SELECT icspa_fold('A')")
