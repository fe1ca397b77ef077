"""One session used from two threads at once (the desktop's GUI thread and a worker): transactions are
serialised by the connection's lock instead of failing or mixing (issue 12 item 4)."""

from __future__ import annotations

import threading
from pathlib import Path

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify, evidence
from icspa_desktop.services.session import Session


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
