"""Insider-proof custody, costs: the user-state check at unlock, and the master-key rotation.

    python -m bench insider [--users 1000] [--items 10000] [--rounds 5]

Baselines measured in the same run: reading every row of the users table (what an unchecked unlock
reads), and, for the rotation, rewrapping the same number of evidence keys in memory with AES-GCM (the
crypto it cannot avoid) and a bare SQLCipher rekey of the same database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import median_time, report
from icspa_desktop.crypto import kdf, keys
from icspa_desktop.custody import userstate
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, rotation, users
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from icspa_desktop.vault import blobs

USER, PASSPHRASE = "bench", "bench-passphrase-123"




def bench_user_state(base: Path, count: int, rounds: int) -> None:
    path = base / "users"
    init_vault(path, USER, PASSPHRASE, agency=AgencyInfo("Bench Agency", "NL"))
    started = time.perf_counter()
    with unlock(path, USER, PASSPHRASE) as admin:
        for i in range(count - 1):
            users.add_user(admin, f"user{i:04d}", Role.INVESTIGATOR if i % 10 else Role.SUPERVISOR,
                           f"passphrase-{i:04d}")
    made = time.perf_counter() - started
    with unlock(path, "user0500" if count > 501 else USER,
                "passphrase-0500" if count > 501 else PASSPHRASE) as session:
        conn, me = session.conn, session.user.id
        check = median_time(lambda: (userstate.table_damages(conn, userstate.replay(conn, only_users={me}),
                                                          only_user=me)), rounds)
        full = median_time(lambda: userstate.replay(conn), rounds)
        baseline = median_time(lambda: conn.execute("SELECT * FROM users").fetchall(), rounds)
    print(f"\n== user state at unlock, {count:,} users (made in {made:.1f} s)")
    print(f"unlock check (replay, own signatures, own row) {check * 1000:8.1f} ms   (goal < 50 ms)")
    report("insider", f"user-state check at unlock, {count:,} users", [check * 1000], "ms",
           ratio=check / baseline, baseline="reading the users table", goal="< 50 ms", met=check < 0.05)
    print(f"  ratio to reading the users table ({baseline * 1000:.2f} ms):  {check / baseline:8.1f}")
    print(f"full replay with every signature (verify)     {full * 1000:8.1f} ms   ratio {full / baseline:.1f}")


def bench_rotation(base: Path, count: int) -> None:
    path = base / "rotation"
    init_vault(path, USER, PASSPHRASE, agency=AgencyInfo("Bench Agency", "NL"))
    source = base / "files"
    source.mkdir()
    for i in range(count):
        (source / f"f{i:05d}.txt").write_bytes(f"evidence file {i}\n".encode() * 8)
    with unlock(path, USER, PASSPHRASE) as admin:
        users.add_user(admin, "ivan", Role.INVESTIGATOR, "ivan-passphrase")
        case = cases.create_case(admin, CaseFields(number="ROT-1", title="Rotation bench"))
        started = time.perf_counter()
        evidence.add_files(admin, case.id, [source])
        ingest = time.perf_counter() - started
        conn = admin.conn
        old = admin.vault.master_key
        rows = conn.execute("SELECT b.id, i.id, b.wrapped_key FROM blobs b JOIN items i ON i.blob_id = b.id").fetchall()
        old_wrap, new_wrap = (keys.derive_subkey(old, keys.PURPOSE_BLOB_KEYS), keys.derive_subkey(
            keys.new_master_key(), keys.PURPOSE_BLOB_KEYS))
        t = time.perf_counter()
        for blob_id, item_id, wrapped in rows:
            blobs.wrap_key(new_wrap, blob_id, item_id, blobs.unwrap_key(old_wrap, blob_id, item_id, bytes(wrapped)))
        raw = time.perf_counter() - t
        t = time.perf_counter()
        same = keys.derive_subkey(old, keys.PURPOSE_SQLCIPHER).hex()
        conn.execute(f"PRAGMA rekey = \"x'{same}'\"")
        rekey = time.perf_counter() - t
        result = rotation.rotate_master_key(admin, "bench")
        size = (path / "metadata.db").stat().st_size
    print(f"\n== master-key rotation, {count:,} items (ingested in {ingest:.1f} s; database {size / 1e6:.1f} MB)")
    print(f"rotation (disable a user)  {result.seconds:8.2f} s   {result.blobs_rewrapped:,} keys rewrapped")
    print(f"  ratio to rewrapping the keys in memory ({raw * 1000:.0f} ms):  {result.seconds / raw:6.1f}")
    print(f"  ratio to a bare SQLCipher rekey ({rekey * 1000:.0f} ms):       {result.seconds / rekey:6.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_insider", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    kdf.use_insecure_test_profile()  # thousands of slots; the KDF is not what is measured here
    with tempfile.TemporaryDirectory(prefix="icspa-bench-insider-") as tmp:
        bench_user_state(Path(tmp), args.users, args.rounds)
        bench_rotation(Path(tmp), args.items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
