"""Custody log benchmark: append rate, full and incremental verification, inclusion proofs.

    .venv/bin/python -m bench.bench_custody [--events 100000 1000000] [--workers 2]

Baselines measured in the same run: raw Ed25519 verification (libsodium via PyNaCl, and OpenSSL via
`cryptography`) and raw SHA-256 leaf hashing, one core each. Large logs are generated quickly by
signing events in parallel and bulk-inserting them into a real SQLCipher vault (the rows are exactly
what ``custody.events.append`` writes). Goals (issue #4): full verification of 1,000,000 events in
under 60 s on 2 cores; incremental verification since the last verified state under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from nacl.bindings import crypto_sign_open

from bench import report as bench_report
from icspa_desktop.crypto import kdf, signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import events, merkle
from icspa_desktop.custody.events import Actor, EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.ids import CaseId, EventId, ItemId
from icspa_desktop.services import custody, custody_verify
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault

kdf.use_insecure_test_profile()  # vault creation is not what is measured here

USER, PASSPHRASE = "bench", "bench-passphrase"


class _Signer:
    """An agency certificate for the checkpoints (services.agency's when installed)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Agency")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                            .sign(self.key, hashes.SHA384()))

    def sign_detached(self, content: bytes) -> bytes:
        return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(self.certificate, self.key, hashes.SHA384())
                .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))


def _signer(session: Session) -> Any:
    try:
        return custody.agency_signer(session)
    except Exception:  # the agency identity may not be set up in this vault
        return _Signer()


# ---- generation of a large, valid, chained log -------------------------------------------------------
def _gen_rows(actor: Actor, key: bytes, start: dt.datetime, head: Any,
             bounds: tuple[int, int]) -> list[tuple[Any, ...]]:
    """Signed, chained rows; sequential by nature: each body carries the tree head of all before it."""
    sk = Ed25519PrivateKey.from_private_bytes(key)
    public = signing.public_from_private(key)
    rows = []
    for idx in range(*bounds):
        case_id = CaseId(f"case-{idx // 1000:06d}")
        item_id = ItemId(f"item-{idx // 10:07d}")
        draft = EventDraft(CustodyAction.VIEWED if idx % 3 else CustodyAction.ACQUIRED, case_id=case_id,
                           item_ids=(item_id,), purpose="examination of the image in the lab",
                           authority="Warrant 12 Gs 345/26", location="Lab 2, Wiesbaden",
                           hashes={"sha256": hashlib.sha256(item_id.encode()).hexdigest()}, result="ok",
                           details={"exhibit_number": f"2026-{idx // 1000:04d}-{idx % 1000:03d}"})
        moment = start + dt.timedelta(microseconds=idx * 10)
        body = events.build_body(draft, actor, moment, EventId(f"{idx:08x}-0000-4000-8000-000000000000"), idx,
                                 head.root())
        body_bytes = canonical_json(body)
        signature = sk.sign(events.signed_message(body_bytes))
        leaf = events.leaf_hash(events.leaf_bytes(body_bytes, signature, public))
        head.push(leaf)
        rows.append((idx, body["id"], case_id, body["action"], actor.user_id, body["at"], body_bytes, signature,
                     public, leaf, item_id))
    return rows


def bulk_append(session: Session, count: int, workers: int) -> float:
    """Append ``count`` signed, chained events by the session's user with bulk inserts; returns seconds.

    ``workers`` is unused since the log is chained: every body depends on every earlier leaf."""
    del workers
    started = time.perf_counter()
    conn = session.conn
    head = events.current_head(conn)
    first = head.size
    # The user's key became valid when the vault was made; the generated events come after.
    begin = dt.datetime.now(dt.UTC)
    chunk = 20_000
    conn.execute("BEGIN IMMEDIATE")
    for low in range(first, first + count, chunk):
        rows = _gen_rows(session.actor(), session.signing_key(), begin, head, (low, min(low + chunk, first + count)))
        conn.executemany(
            "INSERT INTO custody_events (idx, id, case_id, action, actor_id, at, body, signature, public_key,"
            " leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r[:10] for r in rows])
        conn.executemany("INSERT INTO custody_event_items (event_idx, item_id) VALUES (?, ?)",
                         [(r[0], r[10]) for r in rows])
    conn.execute("UPDATE custody_head SET tree_size = ?, frontier = ? WHERE id = 1", (head.size, head.to_bytes()))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


# ---- baselines ---------------------------------------------------------------------------------------
def baseline_rates(samples: int = 20_000) -> dict[str, float]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    raw_public = signing.public_bytes(public)
    messages = [os.urandom(800) for _ in range(samples)]
    sigs = [key.sign(m) for m in messages]
    t = time.perf_counter()
    for s, m in zip(sigs, messages, strict=True):
        crypto_sign_open(s + m, raw_public)
    sodium = samples / (time.perf_counter() - t)
    t = time.perf_counter()
    for s, m in zip(sigs, messages, strict=True):
        public.verify(s, m)
    openssl = samples / (time.perf_counter() - t)
    leaves = [os.urandom(1100) for _ in range(samples * 5)]
    t = time.perf_counter()
    for leaf in leaves:
        hashlib.sha256(b"\x00" + leaf).digest()
    sha = len(leaves) / (time.perf_counter() - t)
    return {"ed25519_sodium": sodium, "ed25519_openssl": openssl, "sha256_leaf": sha}


_RAW: dict[str, Any] = {}


def _raw_init() -> None:
    key = Ed25519PrivateKey.generate()
    messages = [os.urandom(1000) for _ in range(2000)]
    _RAW.update(public=signing.public_bytes(key.public_key()), pairs=[(key.sign(m), m) for m in messages])


def _raw_verify(_: int) -> int:
    for s, m in _RAW["pairs"]:
        crypto_sign_open(s + m, _RAW["public"])
    return len(_RAW["pairs"])


def raw_parallel_rate(workers: int, tasks: int = 24) -> float:
    """libsodium Ed25519 verifications/s with ``workers`` processes, measured right now (same load)."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_raw_init) as pool:
        pool.map(_raw_verify, range(workers))  # warm up
        t = time.perf_counter()
        done = sum(pool.map(_raw_verify, range(tasks)))
        return done / (time.perf_counter() - t)




def bench_append(session: Session, count: int) -> dict[str, float]:
    """The real path: one transaction per event (what each action does), and batched."""
    t = time.perf_counter()
    for _ in range(count):
        with session.transaction():
            session.record(EventDraft(CustodyAction.VIEWED, purpose="bench"))
    single = count / (time.perf_counter() - t)
    t = time.perf_counter()
    with session.transaction():
        for _ in range(count * 5):
            session.record(EventDraft(CustodyAction.VIEWED, purpose="bench"))
    batched = count * 5 / (time.perf_counter() - t)
    return {"append_per_tx": single, "append_batched": batched}


def run_size(base: Path, n: int, workers: int, base_rates: dict[str, float]) -> None:
    path = base / f"vault-{n}"
    init_vault(path, USER, PASSPHRASE, agency=AgencyInfo("Bench Agency", "NL"))
    witness = base / f"witness-{n}"
    with unlock(path, USER, PASSPHRASE) as session:
        gen = bulk_append(session, n - events.count(session.conn), workers)
        print(f"\n== {n:,} events (generated and bulk-inserted in {gen:.1f} s)")
        signer = _signer(session)
        custody.make_checkpoint(session, "bench", signer=signer, witness_dir=witness)
        size = events.count(session.conn)
        before = raw_parallel_rate(workers)
        t = time.perf_counter()
        report = custody_verify.verify(session, witness_dir=witness, workers=workers)
        full = time.perf_counter() - t
        raw_now = (before + raw_parallel_rate(workers)) / 2  # the machine's load, before and after
        assert report.ok, report.damages[:3]
        rate = size / full
        goal = " (goal < 60 s for 1,000,000)" if n >= 1_000_000 else ""
        print(f"full verify        {full:8.2f} s   {rate:10,.0f} events/s on {workers} workers{goal}")
        sodium, openssl = base_rates["ed25519_sodium"] * workers, base_rates["ed25519_openssl"] * workers
        print(f"  ratio to raw libsodium Ed25519 verify × {workers} cores: {rate / sodium:.2f}")
        print(f"  ratio to raw OpenSSL Ed25519 verify × {workers} cores:   {rate / openssl:.2f}")
        print(f"  ratio to raw libsodium verify in {workers} processes measured around it "
              f"({raw_now:,.0f}/s): {rate / raw_now:.2f}  (1M events at the raw rate alone: {1e6 / raw_now:.0f} s)")
        for note in report.notes:
            print(f"  note: {note}")
        bench_report("custody", f"full verify, {size:,} events", [full], "s", ratio=rate / raw_now,
                     baseline=f"raw libsodium verify × {workers}",
                     goal="< 60 s" if n >= 1_000_000 else "", met=full < 60 if n >= 1_000_000 else None)
        with session.transaction():
            for _ in range(100):
                session.record(EventDraft(CustodyAction.VIEWED, purpose="after the full verification"))
        t = time.perf_counter()
        inc = custody_verify.verify(session, incremental=True, witness_dir=witness)
        incremental = time.perf_counter() - t
        assert inc.ok, inc.damages[:3]
        assert inc.mode == "incremental", inc.notes
        print(f"incremental verify {incremental * 1000:8.1f} ms  ({inc.events_checked} new events; goal < 1 s)")
        bench_report("custody", f"incremental verify after {size:,} events", [incremental * 1000], "ms",
                     goal="< 1 s", met=incremental < 1)
        t = time.perf_counter()
        tree = custody.stored_tree(session.conn)
        build = time.perf_counter() - t
        size = tree.size
        indices = [int(i * (size - 1) / 999) for i in range(1000)]
        t = time.perf_counter()
        proofs = [tree.inclusion_proof(i) for i in indices]
        prove = (time.perf_counter() - t) / len(indices)
        root = tree.root()
        t = time.perf_counter()
        for i, proof in zip(indices, proofs, strict=True):
            merkle.verify_inclusion(i, size, tree.leaf_hash(i), proof, root)
        check = (time.perf_counter() - t) / len(indices)
        nodes = statistics.mean(len(p) for p in proofs)
        print(f"tree from stored leaf hashes {build:6.2f} s   ({size / build:,.0f} leaves/s; raw SHA-256 leaf hashing "
              f"{base_rates['sha256_leaf']:,.0f}/s)")
        print(f"inclusion proof    {nodes:.1f} nodes = {nodes * 32:.0f} bytes; make {prove * 1e6:.1f} µs, "
              f"verify {check * 1e6:.1f} µs")
        cons = tree.consistency_proof(size // 3)
        print(f"consistency proof  {len(cons)} nodes = {len(cons) * 32} bytes ({size // 3:,} → {size:,})")
        print(f"vault database     {(path / 'metadata.db').stat().st_size / 1e6:,.0f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_custody", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000], help="log sizes to measure")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--append", type=int, default=300, help="events appended one transaction each")
    args = parser.parse_args(argv)
    rates = baseline_rates()
    print("== baselines (one core)")
    print(f"Ed25519 verify, libsodium  {rates['ed25519_sodium']:10,.0f} /s")
    print(f"Ed25519 verify, OpenSSL    {rates['ed25519_openssl']:10,.0f} /s")
    print(f"SHA-256 of a 1.1 KB leaf   {rates['sha256_leaf']:10,.0f} /s")
    base = Path(tempfile.mkdtemp(prefix="icspa-bench-custody-"))
    try:
        path = base / "append"
        init_vault(path, USER, PASSPHRASE)
        with unlock(path, USER, PASSPHRASE) as session:
            append = bench_append(session, args.append)
        print("\n== append (real vault, synchronous=FULL)")
        print(f"one transaction per event  {append['append_per_tx']:10,.0f} events/s")
        print(f"batched in one transaction {append['append_batched']:10,.0f} events/s "
              f"(ratio to raw signing-free SHA-256: {append['append_batched'] / rates['sha256_leaf']:.3f})")
        for n in args.events:
            run_size(base, n, args.workers, rates)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
