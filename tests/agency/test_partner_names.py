"""Partner names that cannot be confused: look-alikes among active partners (UTS #39 skeleton after NFKC and
case folding), refused control/bidi/escape characters, renamed successors, the name against the certificate."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import age_keys
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.agency import AgencyIdentity, PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, ExitCode, RefusedInput
from icspa_desktop.services import agency, partner_names, partners
from icspa_desktop.services.session import Session, unlock
from tests.agency.conftest import PASS, make_agency_vault
from tests.conftest import run_cli

CYRILLIC_EUROPOL = "\u0415ur\u043e\u0440\u043el"  # Е, о, р, о are Cyrillic: reads as "Europol"
assert CYRILLIC_EUROPOL != "Europol" and not CYRILLIC_EUROPOL.isascii()


def _state(session: Session) -> tuple[int, list[Any]]:
    rows = session.conn.execute("SELECT * FROM partners ORDER BY id").fetchall()
    return len(events.list_events(session.conn)), rows


def _vault_card(root: Path, name: str, country: str) -> tuple[bytes, str]:
    """The card another installation exports (its own vault, certificate and age identity)."""
    path = make_agency_vault(root / f"vault-{len(list(root.glob('vault-*')))}", name, country)
    with unlock(path, "admin", PASS) as session:
        return agency.make_card(session), agency.agency_identity(session).fingerprint


def _card(name: str, country: str, *, subject: x509.Name | None = None, contact: str = "",
          unit: str = "") -> tuple[bytes, str]:
    """A card signed like ``agency.make_card`` signs one, for a certificate our exporter would not make."""
    key = certs.generate_key()
    now = datetime.now(UTC).replace(microsecond=0)
    if subject is None:
        cert = certs.self_signed(key, name, country)
    else:
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=90)).sign(key, hashes.SHA384()))
    recipient = age_keys.generate_identity()[1]
    fp = agency.fingerprint(cert, recipient)
    identity = AgencyIdentity("key", name, country, unit, contact, cert, recipient, fp, now)
    body = agency.card_body(identity, now, now + timedelta(days=30))
    signature = key.sign(agency.card_message(body), ec.ECDSA(hashes.SHA384()))
    card = {"format": agency.CARD_FORMAT, "version": agency.CARD_VERSION, "body": body,
            "signature": base64.b64encode(signature).decode()}
    return json.dumps(card).encode(), fp


# ---- look-alike names among active partners ---------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [("Europol", CYRILLIC_EUROPOL), (CYRILLIC_EUROPOL, "Europol")])
def test_latin_and_cyrillic_europol_are_one_name(session_b: Session, tmp_path: Path, first: str,
                                                 second: str) -> None:
    card, fp = _vault_card(tmp_path, first, "NL")
    kept = partners.import_card(session_b, card, fp)
    card, fp = _vault_card(tmp_path, second, "NL")
    assert partners.read_card(card).body["name"] == second  # a valid card in itself
    before = _state(session_b)
    with pytest.raises(Conflict, match=rf'"{second}" is the same as, or looks like, the name of active partner '
                                       rf'"{first}" \(NL, fingerprint {kept.fingerprint}\)'):
        partners.import_card(session_b, card, fp)
    assert _state(session_b) == before


@pytest.mark.parametrize("second", ["bka", "\uff22\uff2b\uff21", "  BKA ", "B\u041a\u0410", "\U0001d401KA"])
def test_case_width_spacing_and_script_variants_of_bka_clash(session_b: Session, second: str) -> None:
    """bka (case), ＢＫＡ (fullwidth), spaces, BКА (Cyrillic К and А), 𝐁KA (mathematical bold)."""
    partners.import_card(session_b, *_card("BKA", "DE"))
    card, fp = _card(second, "DE")
    with pytest.raises(Conflict, match="looks like, the name of active partner \"BKA\""):
        partners.import_card(session_b, card, fp)
    assert [p.name for p in partners.list_partners(session_b)] == ["BKA"]


def test_manual_partner_name_is_checked_too(session_b: Session) -> None:
    partners.import_card(session_b, *_card("BKA", "DE"))
    cert = certs.self_signed(certs.generate_key(), "Bundeskriminalamt", "DE")
    pem = certs.cert_pem(cert).encode()
    recipient = age_keys.generate_identity()[1]
    with pytest.raises(Conflict, match="looks like"):
        partners.add_partner(session_b, "\uff42\uff4b\uff41", "DE", recipient, pem)
    assert partners.add_partner(session_b, "BKA Wiesbaden", "DE", recipient, pem).name == "BKA Wiesbaden"


def test_distinct_names_do_not_clash(session_b: Session) -> None:
    for name in ("BKA", "BKK", "Polizei", "Politie", "Policia", "Guardia Civil", "Garda"):
        partners.import_card(session_b, *_card(name, "DE"))
    assert len(partners.list_partners(session_b, include_inactive=False)) == 7


@pytest.mark.parametrize(("a", "b"), [
    ("BIG", "big"),            # the skeleton maps capital I to l, so case folding must come first here ...
    ("\u0412\u041a\u0410", "bka"),  # ... and Cyrillic ВКА only matches once the skeleton ran first
    ("Team", "Tearn"),         # m and rn
    ("Europol", "Europo1"),    # l and 1
    ("Guardia Civil", "Guardia\u00a0 Civil"),
])
def test_lookalike_pairs(a: str, b: str) -> None:
    assert partner_names.looks_alike(a, b)
    assert partner_names.looks_alike(b, a)


@pytest.mark.parametrize(("a", "b"), [("BKA", "BKK"), ("Polizei", "Politie"), ("\u0432\u043a\u0430", "bka"),
                                      ("NCA", "NCB")])
def test_different_names(a: str, b: str) -> None:
    assert not partner_names.looks_alike(a, b)


def test_revoked_partners_name_may_be_reused(session_b: Session) -> None:
    old = partners.import_card(session_b, *_card("Bundeskriminalamt", "DE"))
    card, fp = _card("Bundeskriminalamt", "DE")
    with pytest.raises(Conflict, match="revoke the old entry first"):
        partners.import_card(session_b, card, fp)
    partners.revoke_partner(session_b, old.id, "key lost; the BKA issued a new one without a successor card")
    new = partners.import_card(session_b, card, fp)
    assert new.status is PartnerStatus.ACTIVE
    assert partners.get_partner_for_sending(session_b, "Bundeskriminalamt").id == new.id


# ---- refused characters --------------------------------------------------------------------------------
def test_right_to_left_override_in_name_refused(session_b: Session) -> None:
    card, fp = _card("BKA\u202eED", "DE")
    before = _state(session_b)
    message = ("The agency card's name contains U+202E (RIGHT-TO-LEFT OVERRIDE), a bidirectional-text control, "
               "at position 4; control, bidirectional-override and escape characters are not allowed.")
    with pytest.raises(RefusedInput) as refused:
        partners.read_card(card)
    assert str(refused.value) == message
    with pytest.raises(RefusedInput, match=r"U\+202E"):
        partners.import_card(session_b, card, fp)
    with pytest.raises(RefusedInput, match=r"The partner's name contains U\+202E .* at position 4"):
        partners.add_partner(session_b, "BKA\u202eED", "DE", age_keys.generate_identity()[1],
                             certs.cert_pem(certs.self_signed(certs.generate_key(), "BKA", "DE")).encode())
    assert _state(session_b) == before


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("contact", "desk@bka.de\x1b[2J", "contact contains U+001B, an escape character, at position 12"),
    ("contact", "+49 611\n55-0", "contact contains U+000A, a control character, at position 8"),
    ("unit", "\u2067Cyber\u2069", "unit contains U+2067 (RIGHT-TO-LEFT ISOLATE), a bidirectional-text control, "
                                  "at position 1"),
    ("contact", "desk\u200e@bka.de", "contact contains U+200E (LEFT-TO-RIGHT MARK), a bidirectional-text control"),
    ("contact", "desk\u200b@bka.de", "contact contains U+200B (ZERO WIDTH SPACE), an invisible formatting"),
])
def test_control_bidi_and_escape_refused_in_other_fields(field: str, value: str, expected: str) -> None:
    card, _fp = _card("BKA", "DE", **{field: value})
    with pytest.raises(RefusedInput, match="^" + re.escape(f"The agency card's {expected}")):
        partners.read_card(card)


def test_country_must_be_two_ascii_letters() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "BKA")])
    for country, message in (("D\u202e", "country contains U\\+202E"), ("\u0414\u0415", "not an ISO 3166")):
        card, _fp = _card("BKA", country, subject=subject)
        with pytest.raises(RefusedInput, match=message):
            partners.read_card(card)


def test_joiners_that_scripts_need_are_allowed() -> None:
    partner_names.check_text("\u067e\u0644\u06cc\u0633\u200c\u0647\u0627", "name")  # Persian with ZWNJ
    with pytest.raises(RefusedInput, match=r"U\+FEFF"):
        partner_names.check_text("\ufeffBKA", "name")


def test_cli_refuses_bidi_name_on_one_clean_line(agency_b: Path, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    card, fp = _card("BKA\u202eED", "DE")
    path = tmp_path / "bidi.icspa-card"
    path.write_bytes(card)
    result = run_cli("partner", "import", str(path), "--confirm-fingerprint", fp, env=env)
    assert result.returncode == ExitCode.REFUSED_INPUT
    assert len(result.stderr.strip().splitlines()) == 1 and "U+202E" in result.stderr
    assert "\u202e" not in result.stderr


# ---- successors that rename ----------------------------------------------------------------------------
def test_successor_with_a_new_name_needs_the_fingerprint(session_a: Session, session_b: Session) -> None:
    old = agency.agency_identity(session_a)
    first = partners.import_card(session_b, agency.make_card(session_a), old.fingerprint)
    new = agency.create_identity(session_a, "Nationale Politie", "NL")
    card = agency.make_card(session_a)
    assert partners.successor_of(session_b, partners.read_card(card)) == first
    before = _state(session_b)
    with pytest.raises(RefusedInput, match=r'signed by the trusted key of Politie Landelijke Eenheid but changes '
                                           r'its name "Politie Landelijke Eenheid" to "Nationale Politie": confirm '
                                           rf"its fingerprint .*this card shows {new.fingerprint}\)"):
        partners.import_card(session_b, card, None)
    assert _state(session_b) == before
    second = partners.import_card(session_b, card, new.fingerprint)
    assert (second.name, second.lineage) == ("Nationale Politie", first.lineage)
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.SUPERSEDED
    last = events.list_events(session_b.conn)[-1]
    assert last.action == CustodyAction.PARTNER_ROTATED
    assert last.body["details"]["confirmed"] == "fingerprint"
    assert last.body["details"]["previous_name"] == "Politie Landelijke Eenheid"


def test_successor_with_a_new_country_needs_the_fingerprint(session_a: Session, session_b: Session) -> None:
    old = agency.agency_identity(session_a)
    partners.import_card(session_b, agency.make_card(session_a), old.fingerprint)
    agency.create_identity(session_a, old.name, "BE")
    with pytest.raises(RefusedInput, match="changes its country NL to BE: confirm its fingerprint"):
        partners.import_card(session_b, agency.make_card(session_a), None)


def test_successor_may_not_take_another_partners_name(session_a: Session, session_b: Session) -> None:
    old = agency.agency_identity(session_a)
    partners.import_card(session_b, agency.make_card(session_a), old.fingerprint)
    partners.import_card(session_b, *_card("Bundeskriminalamt", "DE"))
    new = agency.create_identity(session_a, "BUNDESKRIMINALAMT", "NL")
    with pytest.raises(Conflict, match='looks like, the name of active partner "Bundeskriminalamt"'):
        partners.import_card(session_b, agency.make_card(session_a), new.fingerprint)


# ---- the name against the certificate -------------------------------------------------------------------
def test_card_name_must_be_its_certificates_organisation(session_b: Session) -> None:
    other = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Politie"),
                       x509.NameAttribute(NameOID.COMMON_NAME, "Politie signing key 2026")])
    card, fp = _card("Europol", "NL", subject=other)
    before = _state(session_b)
    with pytest.raises(RefusedInput, match=r'names the agency "Europol", but its certificate is issued to '
                                           r'"Politie" / "Politie signing key 2026"'):
        partners.import_card(session_b, card, fp)
    # A look-alike is not the certificate's name either.
    lookalike = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, CYRILLIC_EUROPOL)])
    with pytest.raises(RefusedInput, match="issued to"):
        partners.read_card(_card("Europol", "NL", subject=lookalike)[0])
    assert _state(session_b) == before


def test_ca_issued_certificate_names_organisation_in_o(session_b: Session) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bundeskriminalamt"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "BKA CMS signing 2026")])
    partner = partners.import_card(session_b, *_card("bundeskriminalamt", "de", subject=subject))
    assert (partner.name, partner.country) == ("bundeskriminalamt", "DE")


def test_card_country_must_be_its_certificates(session_b: Session) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bundeskriminalamt")])
    with pytest.raises(RefusedInput, match='gives the country "FR", but its certificate gives "DE"'):
        partners.read_card(_card("Bundeskriminalamt", "FR", subject=subject)[0])


def test_certificate_without_organisation_refused() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")])
    with pytest.raises(RefusedInput, match=r"names no organisation \(no O= or CN="):
        partners.read_card(_card("Bundeskriminalamt", "DE", subject=subject)[0])


def test_certificate_name_shown_without_its_control_characters() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Europol\u202e")])
    with pytest.raises(RefusedInput) as refused:
        partners.read_card(_card("Europol", "NL", subject=subject)[0])
    assert '"Europol<U+202E>"' in str(refused.value)
    assert "\u202e" not in str(refused.value)
