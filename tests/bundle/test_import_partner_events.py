"""The partner's events an import keeps (bundle_import ``_store_partner_events``): a later bundle of the same
case carries the earlier events again; those we hold must be the very same leaves, only the new ones are added,
each with its item links, and one that differs from ours refuses the whole import."""

from __future__ import annotations

from pathlib import Path

import pytest

from icspa_desktop.domain.errors import RefusedInput
from icspa_desktop.services import bundle_import, custody_verify
from tests.bundle.exchange import CASE, Exchange, make_exchange, tree_digest


@pytest.fixture
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    return make_exchange(tmp_path)


def _partner_events(ex: Exchange) -> tuple[dict[int, tuple[bytes, bytes, bytes, str]], set[tuple[int, str]]]:
    with ex.open_de() as de:
        rows = de.conn.execute("SELECT leaf_index, body, signature, public_key, bundle_id FROM partner_events"
                               ).fetchall()
        links = de.conn.execute("SELECT leaf_index, item_id FROM partner_event_items").fetchall()
    return ({int(r[0]): (bytes(r[1]), bytes(r[2]), bytes(r[3]), str(r[4])) for r in rows},
            {(int(r[0]), str(r[1])) for r in links})


def test_a_later_bundle_adds_only_the_events_we_do_not_hold(ex: Exchange) -> None:
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        one = bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
    held, links = _partner_events(ex)
    assert one.partner_events_added == len(held) > 0
    assert links and {item for _, item in links} == {item.id for item in one.added}
    second = ex.export("second")
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, second.path)
        carried = {event.leaf_index for event in prepared.custody.events}
        two = bundle_import.commit_import(de, prepared)
        assert custody_verify.verify(de).ok
    now, now_links = _partner_events(ex)
    assert held.keys() <= carried  # the second bundle carries the first one's events again ...
    assert two.partner_events_added == len(carried - held.keys()) > 0  # ... and only the others are added
    assert {i: now[i] for i in held} == held  # kept as they were, still filed under the first bundle
    assert now.keys() == held.keys() | carried
    assert links < now_links and {item for _, item in now_links} == {i.id for i in one.added + two.added}


def test_a_held_event_that_differs_refuses_the_import_and_changes_nothing(ex: Exchange) -> None:
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
        index = int(de.conn.execute("SELECT MAX(leaf_index) FROM partner_events").fetchone()[0])
        with de.transaction() as conn:  # what we hold no longer matches the partner's log
            conn.execute("UPDATE partner_events SET signature = zeroblob(64) WHERE leaf_index = ?", (index,))
    second = ex.export("second")
    before = tree_digest(ex.de)
    held, links = _partner_events(ex)
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, second.path)
        with pytest.raises(RefusedInput, match=rf"custody event #{index} differs from the one we hold"):
            bundle_import.commit_import(de, prepared)
    assert _partner_events(ex) == (held, links)
    after = tree_digest(ex.de)
    assert not {k for k in before.keys() | after.keys()
                if before.get(k) != after.get(k) and k.startswith(("blobs", "staging"))}


def test_custody_verify_finds_partner_tree_heads_removed_or_changed_by_direct_sql(ex: Exchange) -> None:
    """An insider with the vault's keys deletes (or rewrites) the partner's tree heads we hold: a later bundle
    carrying a rewritten log would then pass as a first bundle of that log. Our own signed "received" events name
    each head (origin, size, root), so custody verify finds it; it said nothing before."""
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
        assert custody_verify.verify(de).ok
        with de.transaction() as conn:
            conn.execute("UPDATE partner_checkpoints SET root = zeroblob(32)")
        changed = custody_verify.verify(de)
        assert not changed.ok
        assert any("with another root hash than the vault holds now" in d.message for d in changed.damages)
        with de.transaction() as conn:
            conn.execute("DELETE FROM partner_checkpoints")
            conn.execute("DELETE FROM partner_events")
        gone = custody_verify.verify(de)
        assert not gone.ok
        assert any("which the vault no longer holds (removed by direct access?)" in d.message for d in gone.damages)


def test_custody_verify_finds_partner_events_deleted_by_direct_sql(ex: Exchange) -> None:
    """Deleting some of the partner's events (their tree heads kept) went unseen: each event left still verified
    against its bundle's checkpoint. Our signed "received" events now name how many each bundle stored."""
    first = ex.export(items=[f"{CASE}-001"])
    second = ex.export("second")
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
        two = bundle_import.commit_import(de, bundle_import.prepare_import(de, second.path))
        assert custody_verify.verify(de).ok
        with de.transaction() as conn:
            conn.execute("DELETE FROM partner_events WHERE leaf_index = (SELECT MAX(leaf_index) FROM partner_events)")
        report = custody_verify.verify(de)
        assert not report.ok
        gone = [d.message for d in report.damages if "of the partner's events from bundle" in d.message]
        stored = two.partner_events_added
        assert len(gone) == 1 and f"records storing {stored} " in gone[0] and f"holds {stored - 1} of them" in gone[0]


def test_event_signatures_checked_in_two_threads_keep_each_events_verdict() -> None:
    """``_events_signed`` splits a bundle's events over two threads: each event keeps its own verdict, a
    bad signature in either half (or a malformed key) is found at its place and nowhere else."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from icspa_desktop.custody import events
    from icspa_desktop.services import partner_custody

    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    signed = []
    for n in range(150):
        body = f'{{"n":{n}}}'.encode()
        key = keys[n % 3]
        signed.append((key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
                       key.sign(events.signed_message(body)), body))
    bad = {7: "body", 120: "signature", 149: "key"}
    for index, what in bad.items():
        public_key, signature, body = signed[index]
        if what == "body":
            body = body + b" "
        elif what == "signature":
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        else:
            public_key = b"\xff" * 32  # not a point on the curve, or another key: never valid
        signed[index] = (public_key, signature, body)
    assert len(signed) >= partner_custody._SPLIT_FROM
    verdicts = partner_custody._events_signed(signed)
    assert [i for i, good in enumerate(verdicts) if not good] == sorted(bad)
