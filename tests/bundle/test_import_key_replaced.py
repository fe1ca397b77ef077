"""Bundles across a key replacement (issue 10): a partner's log outlives its agency key.

When the sender replaces its agency key, its next checkpoints are signed by the new key under a new log name
(one name per key), while the last checkpoint the recipient holds was signed by the old one. When the recipient
replaces its key, the sender must still find the last checkpoint it sent to that agency. Either way the next
bundle must import and prove it extends what the recipient holds; a log rewritten across the replacement must
still be refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from icspa_desktop.domain.errors import RefusedInput
from icspa_desktop.services import agency, bundle_import, custody_verify, evidence, partners, receipts
from icspa_desktop.services.session import Session
from tests.bundle.exchange import CASE, Exchange, make_exchange


@pytest.fixture
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    return make_exchange(tmp_path)


def _replace_key(owner: Session, holder: Session) -> None:
    """``owner`` replaces its agency key and ``holder`` takes the successor card (signed by the old key)."""
    old = agency.agency_identity(owner)
    known = partners.find_partner_by_certificate(holder, old.certificate)
    agency.create_identity(owner, known.name, old.country)  # the name the holder knows it by: no confirmation
    successor = partners.import_card(holder, agency.make_card(owner), None)
    assert successor.lineage == known.lineage


def _import(session: Session, path: Path) -> bundle_import.ImportResult:
    prepared = bundle_import.prepare_import(session, path)
    custody = next(c.detail for c in prepared.checks if c.name == "Custody")
    assert "extends the checkpoint" in custody, custody
    return bundle_import.commit_import(session, prepared)


def _first_bundle(ex: Exchange) -> str:
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
    return first.bundle_id


@pytest.mark.parametrize("replaced", ["sender", "recipient"])
def test_the_next_bundle_extends_what_the_partner_holds_after_a_key_replacement(ex: Exchange, tmp_path: Path,
                                                                                replaced: str) -> None:
    """The sender's new key signs its log under a new name, its previous checkpoint signed by the old key; or the
    sender must find the last checkpoint it sent to the recipient's old key. Either way the proof links up."""
    first = _first_bundle(ex)
    with ex.open_nl() as nl, ex.open_de() as de:
        owner, holder = (nl, de) if replaced == "sender" else (de, nl)
        _replace_key(owner, holder)
    second = ex.export("second")
    with ex.open_de() as de:
        result = _import(de, second.path)
        assert len(result.added) == 2 and result.already_present == 1
        assert len(evidence.list_items(de, result.case.id)) == 3
        assert custody_verify.verify(de).ok
        for bundle_id in (first, second.bundle_id):  # receipts for the bundles on either side of the replacement
            receipts.write_receipt(de, bundle_id, tmp_path / f"{bundle_id}.receipt")
    with ex.open_nl() as nl:
        for bundle_id in (first, second.bundle_id):
            assert not receipts.import_receipt(nl, tmp_path / f"{bundle_id}.receipt").already
        assert custody_verify.verify(nl).ok


def test_each_partner_event_is_held_once_across_the_senders_keys(ex: Exchange) -> None:
    """The second bundle carries the first one's events again, now proven under the new key's name of the log:
    they are the same leaves, compared with what we hold and not stored (nor shown) twice."""
    _first_bundle(ex)
    with ex.open_nl() as nl, ex.open_de() as de:
        _replace_key(nl, de)
    with ex.open_de() as de:
        before = de.conn.execute("SELECT origin, leaf_index FROM partner_events").fetchall()
    second = ex.export("second")
    with ex.open_de() as de:
        result = _import(de, second.path)
        rows = de.conn.execute("SELECT origin, leaf_index FROM partner_events").fetchall()
    leaves = [int(index) for _origin, index in rows]
    assert before and len(leaves) == len(set(leaves)) == len(before) + result.partner_events_added
    assert set(before) <= set(rows)  # the first bundle's events stay filed under the old key's name
    assert len({origin for origin, _index in rows}) == 2


def test_a_previous_checkpoint_signed_by_a_revoked_earlier_key_is_refused(ex: Exchange) -> None:
    _first_bundle(ex)
    with ex.open_nl() as nl, ex.open_de() as de:
        old = agency.agency_identity(nl)
        _replace_key(nl, de)
        partners.revoke_partner(de, old.fingerprint, "old key reported lost")
    second = ex.export("second")
    with ex.open_de() as de, pytest.raises(RefusedInput, match=r"previous checkpoint is signed with an earlier key "
                                                               r"of Politie NL .* which was revoked: old key reported"):
        bundle_import.prepare_import(de, second.path)


def test_a_receipt_signed_by_the_recipients_new_key_completes_the_transfer(ex: Exchange, tmp_path: Path) -> None:
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
    with ex.open_de() as de, ex.open_nl() as nl:
        _replace_key(de, nl)
    out = tmp_path / "receipt.txt"
    with ex.open_de() as de:
        receipts.write_receipt(de, first.bundle_id, out)
    with ex.open_nl() as nl:
        stored = receipts.import_receipt(nl, out)
        assert stored.partner_name == "BKA" and not stored.already
        assert receipts.import_receipt(nl, out).already
        assert custody_verify.verify(nl).ok


def test_a_bundle_sent_to_the_recipients_old_key_still_imports(ex: Exchange) -> None:
    """A bundle in transit while its recipient replaced its key: the recipient's earlier key still opens it."""
    sent = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de, ex.open_nl() as nl:
        _replace_key(de, nl)
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        recipients = next(c.detail for c in prepared.checks if c.name == "Recipients")
        assert recipients.endswith("recipient(s), under a key we have since replaced"), recipients
        assert prepared.warnings == [f"Politie NL sent this bundle to a key of ours that we have replaced since: it "
                                     f"opens, but they should take our current card "
                                     f"({agency.agency_identity(de).fingerprint}) for their next bundle."]
        result = bundle_import.commit_import(de, prepared)
        assert len(result.added) == 1 and custody_verify.verify(de).ok


def test_an_earlier_key_counts_only_for_what_it_signed_before_we_took_its_successor(ex: Exchange) -> None:
    """The rule for the previous checkpoint's key, as for a bundle's signer: a replaced key's signature dated after
    we took its successor (its key stolen since?) is refused; dated before, or in that very second, it counts."""
    from dataclasses import replace
    from datetime import timedelta

    from icspa_desktop.domain.agency import PartnerStatus
    from icspa_desktop.services import partner_custody

    with ex.open_de() as de:
        nl = partners.get_partner(de, "Politie NL")
    taken = nl.created_at + timedelta(days=30)
    old = replace(nl, status=PartnerStatus.SUPERSEDED, status_changed=taken)
    partner_custody._check_earlier_key(old, taken - timedelta(days=1), "previous checkpoint")
    partner_custody._check_earlier_key(old, taken, "previous checkpoint")
    with pytest.raises(RefusedInput, match=r"signed with an earlier key of Politie NL .* dated .* after we had taken "
                                           r"the key that replaced it"):
        partner_custody._check_earlier_key(old, taken + timedelta(seconds=1), "previous checkpoint")
