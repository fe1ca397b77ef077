"""A realistic vault for the desktop's responsiveness checks (issue 11), built through the services.

    .venv/bin/python -m bench.gui_vault PATH [--items 2000] [--cases 21]

21 cases; the first ("BIG/001") holds ``--items`` small files ingested in one call (one "acquired" event
each) and every item annotated once (a second event each): ~2 events per item, as the issue measured
(2,000 items, ~4,000 events). The other cases hold three files each. The cheap test KDF profile makes
unlocking instant; nothing else is shortened. User ``alice``, passphrase ``alice-passphrase``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from icspa_desktop.crypto import kdf
from icspa_desktop.domain.enums import Tlp
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault

USER, PASSPHRASE = "alice", "alice-passphrase"
BIG_CASE = "BIG/001"


@dataclass(frozen=True)
class BuiltVault:
    path: Path
    big_case_id: str
    items: int
    events: int
    seconds: float


def build(path: Path, items: int = 2000, case_count: int = 21) -> BuiltVault:
    """Create the vault at ``path`` (which must not exist) and fill it."""
    kdf.use_insecure_test_profile()
    started = time.perf_counter()
    init_vault(path, USER, PASSPHRASE, display_name="Alice Admin",
               agency=AgencyInfo("Test Police", "NL", "Digital Forensics", "lab@example.org"))
    with unlock(path, USER, PASSPHRASE) as session, tempfile.TemporaryDirectory() as scratch:
        big = cases.create_case(session, CaseFields(BIG_CASE, "Operation Kingfisher: seized laptop image",
                                                    lead_investigator="Alice Admin", tlp=Tlp.AMBER))
        folder = Path(scratch) / "DCIM"
        for i in range(items):
            sub = folder / f"{i // 250:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"IMG_{i:05d}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + i.to_bytes(4, "big") * 64)
        outcome = evidence.add_files(session, big.id, [folder], ItemFields(description="Photo from the seized card",
                                                                          tags=("photo",)))
        for n, item in enumerate(outcome.items):
            evidence.annotate(session, item.id, notes=f"Reviewed, batch {n // 100}", reason="first review")
        for n in range(1, case_count):
            case = cases.create_case(session, CaseFields(f"2026/{n:03d}", f"Case number {n}"))
            small = Path(scratch) / f"small{n}"
            small.mkdir()
            for k in range(3):
                (small / f"doc{k}.txt").write_text(f"case {n} document {k}\n")
            evidence.add_files(session, case.id, [small])
        events = int(session.conn.execute("SELECT count(*) FROM custody_events WHERE case_id = ?",
                                          (big.id,)).fetchone()[0])
        return BuiltVault(path, big.id, items, events, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gui_vault", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=21)
    args = parser.parse_args(argv)
    built = build(args.path, args.items, args.cases)
    print(f"{built.path}: {args.cases} cases; {BIG_CASE} has {built.items} items and {built.events} custody events "
          f"(built in {built.seconds:.1f} s). User {USER!r}, passphrase {PASSPHRASE!r}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
