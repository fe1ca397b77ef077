"""What ``cipher_memory_security = ON`` (DESIGN §2) costs: item rows written and read with it and without.

    python -m bench sqlcipher [--rows 2000]

The setting is process-wide, so each variant runs in its own child process on a fresh database with the
vault's real schema (every migration, FTS triggers included) and the vault's pragmas. Printed: time per
inserted item row (one transaction, as ingest and import do), and for reading every row of a case back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import report


def _child(argv: Sequence[str]) -> int:
    import sqlcipher3

    from icspa_desktop.vault.migrations import MIGRATIONS

    memory_security, rows, path = argv[0] == "on", int(argv[1]), Path(argv[2])
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    if memory_security:
        conn.execute("PRAGMA cipher_memory_security = ON")
    conn.execute("PRAGMA key = \"x'" + "42" * 32 + "'\"")
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "secure_delete = ON",
                   "temp_store = MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    for migration in MIGRATIONS:
        migration.apply(conn)
    conn.execute("INSERT INTO users (id, name, display_name, role, active, created_at)"
                 " VALUES ('u', 'bench', 'Bench', 'administrator', 1, 'x')")
    conn.execute("INSERT INTO cases (id, number, title, status, handling_code, tlp, created_at, updated_at,"
                 " created_by) VALUES ('c', 'B/1', 'Bench', 'open', 'H0', 'AMBER', 'x', 'x', 'u')")
    started = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(rows):
        conn.execute("INSERT INTO items (id, case_id, exhibit_number, kind, original_name, description,"
                     " handling_code, tlp, created_at, created_by, updated_at)"
                     " VALUES (?, 'c', ?, 'physical', ?, ?, 'H0', 'AMBER', 'x', 'u', 'x')",
                     (f"item-{i}", f"B/1-{i:05d}", f"photo {i}.jpg", "seized at the harbour, shelf 3"))
    conn.execute("COMMIT")
    insert = time.perf_counter() - started
    started = time.perf_counter()
    fetched = conn.execute("SELECT * FROM items WHERE case_id = 'c' ORDER BY exhibit_number").fetchall()
    read = time.perf_counter() - started
    assert len(fetched) == rows
    print(json.dumps({"insert": insert, "read": read}))
    return 0


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench sqlcipher")
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args(list(argv))
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-sqlcipher-") as tmp:
        for mode in ("off", "on"):
            child = subprocess.run([sys.executable, "-m", "bench.bench_sqlcipher", "--child", mode, str(args.rows),
                                    str(Path(tmp) / f"{mode}.db")], capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            results[mode] = json.loads(child.stdout.strip().splitlines()[-1])
    off, on = results["off"], results["on"]
    print(f"# {args.rows} item rows in one transaction, vault schema and pragmas")
    print(f"insert, memory security OFF   {off['insert'] / args.rows * 1e6:8.0f} us/row")
    print(f"insert, memory security ON    {on['insert'] / args.rows * 1e6:8.0f} us/row   "
          f"cost x{on['insert'] / off['insert']:.1f}")
    report("sqlcipher", f"insert an item row (memory security off / on), {args.rows} rows",
           [off["insert"] / args.rows * 1e6], "us", ratio=on["insert"] / off["insert"],
           baseline="the same with memory security on")
    print(f"read all, memory security OFF {off['read'] * 1e3:8.1f} ms")
    print(f"read all, memory security ON  {on['read'] * 1e3:8.1f} ms   cost x{on['read'] / off['read']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
