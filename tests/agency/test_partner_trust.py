"""Partner trust: cards confirmed by fingerprint, refusals with precise reasons, manual partners, expiry,
revocation, key rotation — through the services and through the CLI (exit 4 for refused input).

Bad and odd cards are the committed files of tests/data/cards/ (made once by make_cards.py there, at fixed
dates read here through the services' clock); cards are forged at run time only where a test needs a key
that a vault of the test holds (a successor of a partner this test trusts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from icspa_desktop.crypto import age_keys, cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.agency import PartnerStatus
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import Conflict, ExitCode, PermissionDenied, RefusedInput
from icspa_desktop.services import agency, partners
from icspa_desktop.services.session import Session, unlock
from tests.agency.conftest import PASS
from tests.cli.conftest import Cli
from tests.conftest import VaultInfo, run_cli
from tests.tools import needs

CARDS = Path(__file__).resolve().parent.parent / "data" / "cards"
AGE_RECIPIENT = age_keys.generate_identity()[1]
# The fixture cards are valid from 2026-01-01 to 2046-01-01 (expired-card until 2026-03-01): read at fixed times.
IN_FORCE = datetime(2026, 2, 1, tzinfo=UTC)

# Each committed bad card and the words its refusal must contain (the oracle; make_cards.py says how each was
# made, not what it must be refused for).
BAD_CARDS = {
    "tampered-name": "signature does not match",
    "tampered-contact": "signature does not match",
    "signed-by-other-key": "signature does not match",
    "signature-not-base64": "signature is not valid base64",
    "expired-certificate": "certificate expired on 2025-06-30",
    "expired-card": "card expired on 2026-03-01",
    "rsa-key": "uses an RSA key; only ECDSA P-384, P-256 or Ed25519",
    "not-json": "not an agency card (not JSON)",
    "other-json": "not an ICSPA agency card",
    "version-2": "Agency card version 2 is not supported",
    "malformed": "malformed (missing or unexpected fields)",
    "too-large": "too large to be an agency card (70000 bytes)",
}
AFTER_EXPIRY = datetime(2026, 3, 2, tzinfo=UTC)


def _card(name: str) -> bytes:
    return (CARDS / f"{name}.icspa-card").read_bytes()


def _fixed(moment: datetime) -> partners.Clock:
    return lambda: moment


def _expected_fingerprint(card: bytes) -> str:
    """Independent of the program: SHA-256 over the certificate's DER, a newline and the age recipient."""
    body = json.loads(card)["body"]
    der = x509.load_pem_x509_certificate(body["certificate"].encode()).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der + b"\n" + body["age_recipient"].encode()).hexdigest().upper()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def _state(session: Session) -> tuple[int, list[Any]]:
    """What a refused input must leave unchanged: the log length and the partners table."""
    rows = session.conn.execute("SELECT * FROM partners ORDER BY id").fetchall()
    return len(events.list_events(session.conn)), rows


def _env(path: Path) -> dict[str, str]:
    return {"ICSPA_VAULT": str(path), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}


@pytest.fixture
def cli_b(agency_b: Path, run: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``icspa`` in-process against agency B's vault, as its administrator."""
    for name, value in _env(agency_b).items():
        monkeypatch.setenv(name, value)
    return run


# ---- the committed cards ----------------------------------------------------------------------------------
def test_fixture_files_are_all_there() -> None:
    """A card folder that lost a file must fail here, not make the tables below shorter."""
    made = {p.name.removesuffix(".icspa-card") for p in CARDS.glob("*.icspa-card")}
    assert made == {*BAD_CARDS, "valid", "successor", "forged-successor"}


def test_valid_card_reads_at_any_time_in_force_and_shows_its_fingerprint() -> None:
    data = _card("valid")
    for moment in (IN_FORCE, datetime(2045, 12, 31, tzinfo=UTC)):
        card = partners.read_card(data, moment)
        assert (card.body["name"], card.body["country"]) == ("Policia Judiciaria", "PT")
        assert card.fingerprint == _expected_fingerprint(data)
        assert card.expires == datetime(2046, 1, 1, tzinfo=UTC)
        assert card.predecessor is None
    with pytest.raises(RefusedInput, match="expired"):
        partners.read_card(data, datetime(2046, 1, 2, tzinfo=UTC))
    with pytest.raises(RefusedInput, match="certificate is not valid before 2025-12-31 23:55 UTC"):
        partners.read_card(data, datetime(2025, 12, 1, tzinfo=UTC))


@pytest.mark.parametrize("name", sorted(BAD_CARDS))
def test_bad_card_refused_with_its_own_message(name: str, session_b: Session) -> None:
    data, message = _card(name), BAD_CARDS[name]
    before = _state(session_b)
    with pytest.raises(RefusedInput, match=re.escape(message)):
        partners.read_card(data, AFTER_EXPIRY)
    with pytest.raises(RefusedInput, match=re.escape(message)):
        partners.import_card(session_b, data, _expected_fingerprint(_card("valid")), clock=_fixed(AFTER_EXPIRY))
    assert _state(session_b) == before


@pytest.mark.parametrize(("data", "message"), [
    (b"[1, 2]", "not an ICSPA agency card"),
    (b'{"format": "icspa-agency-card", "version": 9}', "version 9"),
    (b"", "not an agency card (not JSON)"),
])
def test_other_junk_refused(data: bytes, message: str) -> None:
    with pytest.raises(RefusedInput, match=re.escape(message)):
        partners.read_card(data)


def test_expiry_is_read_on_the_services_clock(session_b: Session) -> None:
    """The same committed card: accepted while in force, refused after, decided by the injected clock."""
    data = _card("expired-card")
    fp = _expected_fingerprint(data)
    with pytest.raises(RefusedInput, match="card expired on 2026-03-01; ask the partner for a new card"):
        partners.import_card(session_b, data, fp, clock=_fixed(AFTER_EXPIRY))
    with pytest.raises(RefusedInput, match="card expired on 2026-03-01"):
        partners.import_card(session_b, data, fp)  # the real clock: long after
    partner = partners.import_card(session_b, data, fp, clock=_fixed(IN_FORCE))
    assert partner.expires == datetime(2026, 3, 1, tzinfo=UTC)
    assert partners.get_partner_for_sending(session_b, partner.id, now=IN_FORCE).id == partner.id
    with pytest.raises(RefusedInput, match="expired on 2026-03-01; import the partner's new card"):
        partners.get_partner_for_sending(session_b, partner.id, now=AFTER_EXPIRY)
    assert partners.shown_status(partner, IN_FORCE) == "active"
    assert partners.shown_status(partner, AFTER_EXPIRY) == "expired"
    assert partners.shown_status(partner) == "expired"


def test_committed_successor_replaces_the_key_it_names(session_b: Session) -> None:
    first = partners.import_card(session_b, _card("valid"), _expected_fingerprint(_card("valid")))
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="previous key, but that key's signature does not match"):
        partners.import_card(session_b, _card("forged-successor"), None)
    assert _state(session_b) == before
    card = partners.read_card(_card("successor"))
    assert partners.successor_of(session_b, card) == first
    second = partners.import_card(session_b, _card("successor"), None)
    assert second.lineage == first.lineage
    assert second.fingerprint == _expected_fingerprint(_card("successor"))
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.SUPERSEDED
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ROTATED
    assert events.list_events(session_b.conn)[-1].body["details"]["confirmed"] == "signed by the previous key"


def test_successor_confirmed_by_fingerprint_too(session_b: Session) -> None:
    first = partners.import_card(session_b, _card("valid"), _expected_fingerprint(_card("valid")))
    second = partners.import_card(session_b, _card("successor"), _expected_fingerprint(_card("successor")))
    assert second.lineage == first.lineage
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.SUPERSEDED
    with pytest.raises(RefusedInput, match="replaced by a newer one"):
        partners.find_partner_by_certificate(session_b, first.certificate)
    assert events.list_events(session_b.conn)[-1].body["details"]["confirmed"] == "fingerprint"


# ---- comparing fingerprints (the rule the CLI and the desktop share) --------------------------------------
FP = "1A2B 3C4D 5E6F 7081 92A3 B4C5 D6E7 F809"


@pytest.mark.parametrize("told", [FP, FP.lower(), FP.replace(" ", ""), FP.lower().replace(" ", "-"),
                                  f"  {FP}\n", FP.replace(" ", ":")])
def test_fingerprint_told_in_any_case_and_grouping_matches(told: str) -> None:
    assert partners.fingerprints_match(told, FP)
    assert partners.told_fingerprint(told) == FP


@pytest.mark.parametrize("told", ["", "   ", "----", FP[:-1], FP + "0", FP.replace("1A2B", "1A2C"),
                                  FP.replace("7081", "7O81")])
def test_fingerprint_that_differs_or_is_missing_never_matches(told: str) -> None:
    assert not partners.fingerprints_match(told, FP)


def test_fingerprint_groups_mark_where_they_differ() -> None:
    groups = partners.compare_fingerprint_groups("1a2b 3c4d 5e6f 7O81 92a3 b4c5 d6e7", FP)
    assert [g.differs for g in groups] == [False, False, False, True, False, False, False, True]
    assert (groups[3].told, groups[3].card) == ("7O81", "7081")
    assert (groups[7].told, groups[7].card) == (partners.MISSING_GROUP, "F809")
    assert not any(g.differs for g in partners.compare_fingerprint_groups(FP.lower(), FP))


# ---- cards of the test's own agencies --------------------------------------------------------------------
def test_import_with_matching_fingerprint(session_a: Session, session_b: Session) -> None:
    card = agency.make_card(session_a)
    fp_a = agency.agency_identity(session_a).fingerprint
    # As read over the phone: lower case, dashes instead of spaces.
    partner = partners.import_card(session_b, card, fp_a.lower().replace(" ", "-"))
    assert partner.name == "Politie Landelijke Eenheid"
    assert partner.country == "NL"
    assert partner.fingerprint == fp_a
    assert partner.certificate == agency.agency_identity(session_a).certificate
    assert partner.status is PartnerStatus.ACTIVE
    assert partner.expires <= datetime.now(UTC) + timedelta(days=agency.DEFAULT_CARD_DAYS)
    assert partners.get_partner_for_sending(session_b, "politie landelijke eenheid").id == partner.id
    assert partners.find_partner_by_certificate(session_b, agency.agency_identity(session_a).certificate).id == \
        partner.id
    log = events.list_events(session_b.conn)
    assert log[-1].action == CustodyAction.PARTNER_ADDED
    assert log[-1].body["details"]["fingerprint"] == fp_a
    assert events.list_events(session_a.conn)[-1].action == CustodyAction.AGENCY_CARD_EXPORTED
    with pytest.raises(Conflict, match="already known"):
        partners.import_card(session_b, card, fp_a)


def test_wrong_or_missing_fingerprint_changes_nothing(session_a: Session, session_b: Session) -> None:
    card = agency.make_card(session_a)
    fp = agency.agency_identity(session_a).fingerprint
    before = _state(session_b)
    for wrong in ("0000 0000 0000 0000 0000 0000 0000 0000", "0000 " + fp[5:], fp[:-1], ""):
        with pytest.raises(RefusedInput, match="confirmed fingerprint does not match"):
            partners.import_card(session_b, card, wrong)
    with pytest.raises(RefusedInput, match="must be confirmed"):
        partners.import_card(session_b, card, None)
    assert _state(session_b) == before
    assert partners.list_partners(session_b) == []


def test_this_vaults_own_card_or_keys_are_not_a_partner(session_a: Session) -> None:
    """Seen on the desktop: a double-clicked own card went through to "Trust this partner"."""
    ours = agency.agency_identity(session_a)
    card = agency.make_card(session_a)
    before = _state(session_a)
    with pytest.raises(RefusedInput, match="this vault's own agency card"):
        partners.import_card(session_a, card, ours.fingerprint)
    pem = ours.certificate.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(RefusedInput, match="this vault's own agency card"):
        partners.add_partner(session_a, "Us again", "NL", ours.age_recipient, pem)
    assert _state(session_a) == before and partners.list_partners(session_a) == []


def test_our_own_card_altered_after_export_is_refused(session_a: Session, session_b: Session) -> None:
    doc = json.loads(agency.make_card(session_a))
    doc["body"]["contact"] = "attacker@example.org"
    with pytest.raises(RefusedInput, match="signature does not match"):
        partners.import_card(session_b, json.dumps(doc).encode(), agency.agency_identity(session_a).fingerprint)


def test_partner_signature_verifies_and_maps_to_partner(session_a: Session, session_b: Session) -> None:
    """What bundle import does: verify a detached CMS against trusted partner certificates."""
    fp = agency.agency_identity(session_a).fingerprint
    partner = partners.import_card(session_b, agency.make_card(session_a), fp)
    signature = agency.agency_signer(session_a).sign_detached(b"manifest")
    trusted = [p.certificate for p in partners.list_partners(session_b, include_inactive=False)]
    signer_cert = cms.verify_detached(signature, b"manifest", trusted)
    assert partners.find_partner_by_certificate(session_b, signer_cert).id == partner.id
    assert partners.get_partner_for_sending(session_b, "politie landelijke eenheid").id == partner.id


def test_revoked_expired_unknown_each_say_which(session_a: Session, session_b: Session) -> None:
    identity_a = agency.agency_identity(session_a)
    partner = partners.import_card(session_b, agency.make_card(session_a, days=30), identity_a.fingerprint)
    for later in (datetime.now(UTC) + timedelta(days=31), partner.expires + timedelta(seconds=1)):
        with pytest.raises(RefusedInput, match=r"expired on .*import the partner's new card"):
            partners.get_partner_for_sending(session_b, partner.id, now=later)
        with pytest.raises(RefusedInput, match="expired on"):
            partners.find_partner_by_certificate(session_b, identity_a.certificate, now=later)
    assert partners.get_partner_for_sending(session_b, partner.id, now=partner.expires).id == partner.id
    with pytest.raises(RefusedInput, match="Unknown partner 'Interpol'"):
        partners.get_partner_for_sending(session_b, "Interpol")
    stranger = certs.self_signed(certs.generate_key(), "Stranger", "US")
    with pytest.raises(RefusedInput, match=r"CN=Stranger.*not a known partner"):
        partners.find_partner_by_certificate(session_b, stranger)
    partners.revoke_partner(session_b, partner.id, "certificate reported stolen")
    with pytest.raises(RefusedInput, match="was revoked: certificate reported stolen"):
        partners.get_partner_for_sending(session_b, partner.id)
    with pytest.raises(RefusedInput, match="was revoked"):
        partners.find_partner_by_certificate(session_b, identity_a.certificate)
    assert partners.shown_status(partners.get_partner(session_b, partner.id)) == "revoked"
    last = events.list_events(session_b.conn)[-1]
    assert last.action == CustodyAction.PARTNER_REVOKED
    assert last.body["details"]["partner_id"] == partner.id


def test_key_rotation_accepts_successor(session_a: Session, session_b: Session) -> None:
    old = agency.agency_identity(session_a)
    first = partners.import_card(session_b, agency.make_card(session_a), old.fingerprint)
    new = agency.create_identity(session_a, old.name, old.country, "Cyber Unit", "desk@example.org")
    successor_card = agency.make_card(session_a)
    card = partners.read_card(successor_card)
    assert card.predecessor == old.certificate
    assert partners.successor_of(session_b, card) == first
    # Signed by the trusted previous key: accepted without a new out-of-band comparison.
    second = partners.import_card(session_b, successor_card, None)
    assert second.fingerprint == new.fingerprint
    assert second.lineage == first.lineage
    superseded = partners.get_partner(session_b, first.id)
    assert superseded.status is PartnerStatus.SUPERSEDED
    assert superseded.certificate == old.certificate  # kept for history
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ROTATED
    assert partners.get_partner_for_sending(session_b, old.name).id == second.id
    with pytest.raises(RefusedInput, match="replaced by a newer one"):
        partners.find_partner_by_certificate(session_b, old.certificate)
    # Revoking only the old key (reported lost) leaves the new one usable.
    partners.revoke_partner(session_b, first.id, "old key lost")
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.REVOKED
    assert partners.get_partner_for_sending(session_b, second.id).id == second.id
    # Revoking the partner by name revokes its current key.
    partners.revoke_partner(session_b, old.name, "agency dissolved")
    with pytest.raises(RefusedInput, match="revoked"):
        partners.get_partner_for_sending(session_b, second.id)


def test_forged_successor_of_a_partner_of_this_test_refused(session_a: Session, session_b: Session) -> None:
    """A stranger cannot claim to succeed a trusted partner: the predecessor signature must verify. (The
    trusted key is made by this test's vault, so the card is forged here.)"""
    trusted = agency.agency_identity(session_a)
    partners.import_card(session_b, agency.make_card(session_a), trusted.fingerprint)
    key = certs.generate_key()
    cert = certs.self_signed(key, "Impostor", "NL")
    now = datetime.now(UTC)
    body = {"name": "Impostor", "country": "NL", "unit": "", "contact": "", "age_recipient": AGE_RECIPIENT,
            "certificate": certs.cert_pem(cert), "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    signature = base64.b64encode(key.sign(agency.card_message(body), ec.ECDSA(hashes.SHA384()))).decode()
    plain = {"format": agency.CARD_FORMAT, "version": agency.CARD_VERSION, "body": body, "signature": signature}
    claiming = plain | {"predecessor": {"certificate": certs.cert_pem(trusted.certificate),
                                        "signature": base64.b64encode(key.sign(b"x", ec.ECDSA(hashes.SHA384())))
                                        .decode()}}
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="previous key, but that key's signature does not match"):
        partners.import_card(session_b, json.dumps(claiming).encode(), None)
    # Without a predecessor claim, a stranger's card still needs the fingerprint.
    with pytest.raises(RefusedInput, match="must be confirmed"):
        partners.import_card(session_b, json.dumps(plain).encode(), None)
    assert _state(session_b) == before


def test_manual_partner(session_a: Session, session_b: Session) -> None:
    key = certs.generate_key()
    cert = certs.self_signed(key, "Policia Judiciaria", "PT")
    pem = certs.cert_pem(cert).encode()
    rsa_cert = json.loads(_card("rsa-key"))["body"]["certificate"].encode()
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="not an age X25519 recipient"):
        partners.add_partner(session_b, "PJ", "PT", "age1notarecipient", pem)
    with pytest.raises(RefusedInput, match=r"not an X\.509 certificate"):
        partners.add_partner(session_b, "PJ", "PT", AGE_RECIPIENT, b"garbage")
    with pytest.raises(RefusedInput, match="uses an RSA key"):
        partners.add_partner(session_b, "PJ", "PT", AGE_RECIPIENT, rsa_cert)
    assert _state(session_b) == before
    partner = partners.add_partner(session_b, "Policia Judiciaria", "pt", AGE_RECIPIENT, pem, unit="UNC3T")
    assert partner.source == "manual"
    assert partner.country == "PT"
    assert partner.fingerprint == agency.fingerprint(cert, AGE_RECIPIENT)
    assert partner.expires == cert.not_valid_after_utc
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ADDED
    # An agency with the app added by hand: the same fingerprint its card would show.
    identity_a = agency.agency_identity(session_a)
    by_hand = partners.add_partner(session_b, "Politie", "NL", identity_a.age_recipient,
                                   certs.cert_pem(identity_a.certificate).encode())
    assert by_hand.fingerprint == identity_a.fingerprint


def test_investigator_cannot_manage_partners(vault: VaultInfo, session_a: Session) -> None:
    card = agency.make_card(session_a)
    fp = agency.agency_identity(session_a).fingerprint
    with vault.session(Role.INVESTIGATOR) as inv:
        with pytest.raises(PermissionDenied):
            partners.import_card(inv, card, fp)
        assert partners.list_partners(inv) == []


# ---- through the CLI (in-process; exit 4 for refused input) ------------------------------------------------
def test_bad_cards_exit_4_in_cli(cli_b: Cli) -> None:
    seen = set()
    for name, message in sorted(BAD_CARDS.items()):
        result = cli_b("partner", "import", CARDS / f"{name}.icspa-card", "--confirm-fingerprint", "0000")
        assert result.code == ExitCode.REFUSED_INPUT == 4, (name, result.err)
        assert message in result.error_line, (name, result.err)
        seen.add(result.error_line)
    assert len(seen) == len(BAD_CARDS) - 2  # the three "signature does not match" cards share one message
    assert cli_b("--json", "partner", "list").json() == []


def test_cli_import_of_committed_cards_and_shown_status(cli_b: Cli) -> None:
    fp = _expected_fingerprint(_card("valid"))
    wrong = cli_b("partner", "import", CARDS / "valid.icspa-card", "--confirm-fingerprint", "1111 2222")
    assert wrong.code == 4
    assert "does not match this card" in wrong.error_line
    inspected = cli_b("--json", "partner", "inspect", CARDS / "valid.icspa-card").json()
    assert (inspected["fingerprint"], inspected["successor_of"]) == (fp, None)
    assert cli_b("--json", "partner", "list").json() == []  # inspecting trusts nothing
    ok = cli_b("--json", "partner", "import", CARDS / "valid.icspa-card", "--confirm-fingerprint", fp.lower())
    assert ok.code == 0, ok.err
    rotated = cli_b("partner", "import", CARDS / "successor.icspa-card")
    assert rotated.code == 0, rotated.err
    assert "successor" in rotated.out
    listed = cli_b("partner", "list")
    assert sorted(line.split()[3] for line in listed.out.splitlines()) == ["active", "superseded"]


def test_cli_shows_an_expired_partner_as_the_desktop_does(agency_b: Path, cli_b: Cli) -> None:
    """Both front ends show the service's ``shown_status``; --json keeps the stored status."""
    with unlock(agency_b, "admin", PASS) as s:
        partner = partners.import_card(s, _card("expired-card"), _expected_fingerprint(_card("expired-card")),
                                       clock=_fixed(IN_FORCE))
    listed = cli_b("partner", "list")
    assert listed.out.split()[3] == "expired", listed.out
    assert "status: expired" in cli_b("partner", "show", partner.id).out
    assert cli_b("--json", "partner", "show", partner.id).json()["status"] == "active"


def test_cli_exchange_between_two_agencies(agency_a: Path, cli_b: Cli, run: Cli, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "nl.icspa-card"
    with monkeypatch.context() as as_a:
        for name, value in _env(agency_a).items():
            as_a.setenv(name, value)
        assert run("agency", "card", "--out", card).code == 0
        fp = run("agency", "fingerprint").out.strip()
    text = card.read_text()
    assert "PRIVATE KEY" not in text
    assert "AGE-SECRET-KEY" not in text
    wrong = cli_b("partner", "import", card, "--confirm-fingerprint", fp[:-1] + "X")
    assert wrong.code == 4
    assert "does not match" in wrong.error_line
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe not a card")
    assert cli_b("partner", "import", garbage, "--confirm-fingerprint", fp).code == 4
    ok = cli_b("--json", "partner", "import", card, "--confirm-fingerprint", fp.replace(" ", ""))
    assert ok.code == 0, ok.err
    pid = ok.json()["id"]
    shown = cli_b("--json", "partner", "show", pid).json()
    assert shown["fingerprint"] == fp
    assert shown["status"] == "active"
    assert [p["id"] for p in cli_b("--json", "partner", "list").json()] == [pid]
    revoked = cli_b("partner", "revoke", pid, "--reason", "key compromised, letter of 2026-11-20")
    assert revoked.code == 0, revoked.err
    listed = cli_b("--json", "partner", "list").json()
    assert [(p["id"], p["status"]) for p in listed] == [(pid, "revoked")]
    assert cli_b("--json", "partner", "list", "--active").json() == []
    assert cli_b("--json", "partner", "show", pid).json()["status"] == "revoked"


def test_manual_partner_cli(cli_b: Cli, tmp_path: Path) -> None:
    (tmp_path / "pj.pem").write_text(certs.cert_pem(certs.self_signed(certs.generate_key(), "PJ", "PT")))
    bad = cli_b("partner", "add", "--name", "PJ", "--country", "PT", "--age-recipient", "age1xyz",
                "--cert", tmp_path / "pj.pem")
    assert bad.code == 4
    assert "not an age X25519 recipient" in bad.error_line
    ok = cli_b("--json", "partner", "add", "--name", "PJ", "--country", "PT", "--age-recipient", AGE_RECIPIENT,
               "--cert", tmp_path / "pj.pem")
    assert ok.code == 0, ok.err
    assert ok.json()["source"] == "manual"


def test_cli_rotation_inspect_and_renewal_keeps_details(agency_a: Path, agency_b: Path, tmp_path: Path) -> None:
    env_a, env_b = _env(agency_a), _env(agency_b)
    first, second = tmp_path / "1.icspa-card", tmp_path / "2.icspa-card"
    assert run_cli("agency", "card", "--out", str(first), env=env_a).returncode == 0
    fp = run_cli("agency", "fingerprint", env=env_a).stdout.strip()
    inspected = json.loads(run_cli("--json", "partner", "inspect", str(first), env=env_b).stdout)
    assert (inspected["fingerprint"], inspected["successor_of"]) == (fp, None)
    assert run_cli("partner", "import", str(first), "--confirm-fingerprint", fp, env=env_b).returncode == 0
    # A new key with no option given keeps name, country, unit and contact.
    renewed = run_cli("--json", "agency", "init", env=env_a)
    assert renewed.returncode == 0, renewed.stderr
    shown = json.loads(renewed.stdout)
    assert (shown["name"], shown["country"], shown["unit"], shown["contact"]) == (
        "Politie Landelijke Eenheid", "NL", "Cyber Unit", "desk@example.org")
    assert shown["fingerprint"] != fp
    assert run_cli("agency", "card", "--out", str(second), "--days", "0", env=env_a).returncode == ExitCode.USAGE
    assert run_cli("agency", "card", "--out", str(second), env=env_a).returncode == 0
    assert json.loads(run_cli("--json", "partner", "inspect", str(second), env=env_b).stdout)["successor_of"]
    rotated = run_cli("partner", "import", str(second), env=env_b)
    assert rotated.returncode == 0, rotated.stderr
    assert "successor" in rotated.stdout
    statuses = sorted(p["status"] for p in json.loads(run_cli("--json", "partner", "list", env=env_b).stdout))
    assert statuses == ["active", "superseded"]


@needs("openssl")  # fails, never skips, when missing
def test_openssl_verifies_agency_signature_with_exported_cert(agency_a: Path, session_a: Session,
                                                              tmp_path: Path) -> None:
    session_a.lock()
    assert run_cli("agency", "cert", "--out", str(tmp_path / "agency.pem"), env=_env(agency_a)).returncode == 0
    with unlock(agency_a, "admin", PASS) as s:
        (tmp_path / "s.p7s").write_bytes(agency.agency_signer(s).sign_detached(b"bundle manifest\n"))
    (tmp_path / "data").write_bytes(b"bundle manifest\n")
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "s.p7s", "-content",
                             "data", "-CAfile", "agency.pem", "-purpose", "any", "-out", "/dev/null"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
