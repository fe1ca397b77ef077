"""Vault benchmark: unlock (KDF vs the rest), open + list many cases, SQLCipher vs plain SQLite.

    python -m bench vault [--cases 10000] [--rounds 3]

Baselines measured in the same run: the production Argon2id derivation alone (for unlock), and the
stdlib ``sqlite3`` running the same case-table operations on the same schema (for SQLCipher), and
SQLCipher with ``cipher_memory_security`` OFF (a subprocess, since the switch is process-wide).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import median_time

USER, PASSPHRASE = "bench", "bench-passphrase-123"




def _case_rows(n: int) -> list[tuple[Any, ...]]:
    now = "2026-11-26T12:00:00.000000+00:00"
    return [
        (str(uuid.uuid4()), f"2026/{i:06d}", f"Case title number {i}", "description " * 8, "open", "lead", "NL",
         f"W-{i}", "H2", "", "AMBER", now, now, "u")
        for i in range(n)
    ]


_INSERT = (
    "INSERT INTO cases (id, number, title, description, status, lead_investigator, jurisdiction, legal_authority,"
    " handling_code, handling_text, tlp, created_at, updated_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_CASES_DDL = """CREATE TABLE cases (id TEXT PRIMARY KEY, number TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
 description TEXT NOT NULL, status TEXT NOT NULL, lead_investigator TEXT NOT NULL, jurisdiction TEXT NOT NULL,
 legal_authority TEXT NOT NULL, handling_code TEXT NOT NULL, handling_text TEXT NOT NULL, tlp TEXT NOT NULL,
 created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT NOT NULL)"""


def table_ops(conn: Any, n: int) -> dict[str, float]:
    """The case-table operations timed on one connection (same for SQLCipher and sqlite3)."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(_CASES_DDL)
    rows = _case_rows(n)
    out: dict[str, float] = {}
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(_INSERT, rows)
    conn.execute("COMMIT")
    out["insert (one transaction)"] = time.perf_counter() - start
    out["select all"] = median_time(lambda: conn.execute("SELECT * FROM cases ORDER BY number").fetchall(), 5)
    numbers = [r[1] for r in rows[:: max(1, n // 1000)]]
    out[f"select by number x{len(numbers)}"] = median_time(
        lambda: [conn.execute("SELECT * FROM cases WHERE number = ?", (num,)).fetchone() for num in numbers], 3
    )

    def update() -> None:
        conn.execute("BEGIN")
        for num in numbers:
            conn.execute("UPDATE cases SET title = title || '.' WHERE number = ?", (num,))
        conn.execute("COMMIT")

    out[f"update x{len(numbers)} (one transaction)"] = median_time(update, 3)
    return out


def _ops_child(path: str, n: int, engine: str) -> None:
    """One measurement in a fresh process: ``sqlite3``, or SQLCipher with memory security ``on``/``off``."""
    if engine == "sqlite3":
        conn: Any = sqlite3.connect(path, isolation_level=None)
    else:
        import sqlcipher3

        if engine == "sqlcipher-on":  # process-wide, before the first keyed database (as the vault does)
            c = sqlcipher3.connect(":memory:")
            c.execute("PRAGMA cipher_memory_security = ON")
            c.close()
        conn = sqlcipher3.connect(path, isolation_level=None)
        conn.execute("PRAGMA key = \"x'" + "11" * 32 + "'\"")
        conn.execute("PRAGMA cipher_compatibility = 4")
    print(json.dumps(table_ops(conn, n)))


ENGINES = ("sqlite3", "sqlcipher-on", "sqlcipher-off")


def _ops(tmp: Path, n: int, engine: str, round_no: int) -> dict[str, float]:
    path = tmp / f"{engine}-{round_no}.db"
    code = f"from bench.bench_vault import _ops_child; _ops_child({str(path)!r}, {n}, {engine!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _bench_unlock(tmp: Path) -> None:
    from icspa_desktop.crypto import kdf

    kdf.use_insecure_test_profile(False)  # production Argon2id parameters for this part
    from icspa_desktop.services.session import unlock
    from icspa_desktop.services.vault_service import init_vault

    path = tmp / "unlock-vault"
    init_vault(path, USER, PASSPHRASE)
    params = kdf.new_params()
    kdf_alone = statistics.median(kdf.time_derivation(params) for _ in range(3))
    # Split each real unlock exactly: time the KDF call inside it (keyslots calls kdf.derive_kek).
    original = kdf.derive_kek
    inside: list[float] = []

    def timed_derive(passphrase: str, slot_params: kdf.Argon2Params) -> bytes:
        start = time.perf_counter()
        try:
            return original(passphrase, slot_params)
        finally:
            inside.append(time.perf_counter() - start)

    totals: list[float] = []
    kdf.derive_kek = timed_derive  # type: ignore[assignment]
    try:
        for _ in range(5):
            start = time.perf_counter()
            unlock(path, USER, PASSPHRASE).lock()
            totals.append(time.perf_counter() - start)
    finally:
        kdf.derive_kek = original  # type: ignore[assignment]
    rest = statistics.median(t - k for t, k in zip(totals, inside, strict=True))
    total = statistics.median(totals)
    print(f"Argon2id m={params.memory_kib // 1024} MiB t={params.iterations} p={params.lanes}")
    print(f"  {'KDF alone (baseline)':<44} {kdf_alone * 1000:9.1f} ms")
    print(f"  {'unlock, total':<44} {total * 1000:9.1f} ms")
    print(f"  {'unlock, KDF part (timed inside unlock)':<44} {statistics.median(inside) * 1000:9.1f} ms")
    print(f"  {'unlock, everything but the KDF':<44} {rest * 1000:9.1f} ms   ({rest / total:.1%} of unlock)")


def _bench_list(tmp: Path, n: int) -> None:
    from icspa_desktop.crypto import kdf
    from icspa_desktop.domain.models import CaseFields
    from icspa_desktop.services import cases
    from icspa_desktop.services.session import unlock
    from icspa_desktop.services.vault_service import init_vault

    kdf.use_insecure_test_profile()  # vault creation is not what is measured here
    path = tmp / "list-vault"
    init_vault(path, USER, PASSPHRASE)
    with unlock(path, USER, PASSPHRASE) as session:
        service_n = min(n, 300)
        start = time.perf_counter()
        for i in range(service_n):
            cases.create_case(session, CaseFields(number=f"S-{i:05d}", title=f"Service case {i}"))
        per_case = (time.perf_counter() - start) / service_n
        # The rest in bulk (one transaction): listing is what is measured, not creation.
        uid = session.user.id
        rows = [(*r[:13], uid) for r in _case_rows(n - service_n)]
        with session.transaction() as conn:
            conn.executemany(_INSERT, rows)
    open_time = median_time(lambda: unlock(path, USER, PASSPHRASE).lock(), 3)

    def open_and_list() -> None:
        with unlock(path, USER, PASSPHRASE) as s:
            assert len(cases.list_cases(s)) == n

    both = median_time(open_and_list, 3)
    print(f"{n} cases in a real vault (test-profile KDF, so unlock here is the non-KDF part)")
    print(f"  {'create_case via services (signed event, fsync)':<44} {per_case * 1000:9.2f} ms/case")
    print(f"  {'open (unlock) alone':<44} {open_time * 1000:9.1f} ms")
    print(f"  {'open + list_cases':<44} {both * 1000:9.1f} ms   (list: {(both - open_time) * 1000:.1f} ms)")


def _bench_ratio(tmp: Path, n: int, rounds: int) -> None:
    # Each engine in a fresh process on a fresh file, interleaved round by round, so a busy machine
    # slows all three alike; the figure per operation is the median over the rounds.
    runs: dict[str, list[dict[str, float]]] = {engine: [] for engine in ENGINES}
    for round_no in range(rounds):
        for engine in ENGINES:
            runs[engine].append(_ops(tmp, n, engine, round_no))
    med = {engine: {op: statistics.median(r[op] for r in results) for op in results[0]}
           for engine, results in runs.items()}
    plain, on, off = med["sqlite3"], med["sqlcipher-on"], med["sqlcipher-off"]
    print(f"case table, {n} rows: SQLCipher 4 vs stdlib sqlite3 {sqlite3.sqlite_version} (baseline), WAL, "
          f"synchronous=FULL; median of {rounds} interleaved rounds")
    print(f"  {'operation':<32} {'sqlite3':>10} {'SQLCipher':>10} {'ratio':>7} {'mem-sec OFF':>12} {'ON/OFF':>7}")
    for op, base in plain.items():
        print(f"  {op:<32} {base * 1000:8.1f}ms {on[op] * 1000:8.1f}ms {on[op] / base:6.2f}x "
              f"{off[op] * 1000:10.1f}ms {on[op] / off[op]:6.2f}x")
    print("  (SQLCipher column: cipher_memory_security ON, as the vault runs; OFF measured in its own process)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench vault")
    parser.add_argument("--cases", type=int, default=10_000, help="rows/cases per measurement (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the table comparison")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="icspa-bench-vault-") as name:
        tmp = Path(name)
        _bench_unlock(tmp)
        _bench_list(tmp, args.cases)
        _bench_ratio(tmp, args.cases, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
