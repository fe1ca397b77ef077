"""Make the committed agency-card and CMS fixtures of tests/data/cards/ (run once; the files are committed).

    .venv/bin/python -m tests.data.cards.make_cards          # from the repository root

Every run makes new keys, so every file changes: re-run only when the card or CMS format changes on
purpose, and commit the whole folder together. The tests hold the oracle (what each file must be refused
for), not this script. Dates are fixed so that the files mean the same thing in any year: the good
certificates and cards are valid from 2026-01-01 to 2046-01-01, and the tests read them at fixed times
through the services' clock and ``now`` parameters.

Cards (``*.icspa-card``) and what makes each one what it is:

    valid                 Policia Judiciaria (PT), ECDSA P-384, correctly signed
    successor             the same agency's next key, signed by the new key and by valid's key
    forged-successor      claims valid's key as predecessor, but that signature is the impostor's own
    expired-card          a good signature over a card that ended on 2026-03-01
    expired-certificate   a card valid until 2046 whose certificate ended on 2025-06-30
    tampered-name         valid with the name changed after signing
    tampered-contact      valid with the contact changed after signing
    signed-by-other-key   valid's body, signed by a key that is not the certificate's
    rsa-key               an RSA-2048 certificate (refused key type), correctly signed
    signature-not-base64  valid with its signature replaced by text that is not base64
    version-2             a card that says it is version 2
    malformed             the right format and version, fields missing
    other-json            JSON that is not a card
    not-json              binary bytes
    too-large             70,000 bytes (cards are at most 64 KiB)

CMS (``cms/``): ``content.txt`` and ``signer.pem`` with the detached signatures over it:

    good.p7s              the signer's signature (signingTime: when this script ran)
    other-signer.p7s      a correct signature by ``other-signer.pem``, a certificate not trusted by the tests
    flipped-signature.p7s good.p7s with the last byte (in the ECDSA signature) changed
    flipped-attribute.p7s good.p7s with one byte of the signed attributes changed
    truncated.p7s         good.p7s cut in the middle
    expired-signer.p7s    signed by ``expired-signer.pem`` (valid 2025-01-01 to 2025-01-02 only)
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import age_keys, cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.services import agency

HERE = Path(__file__).resolve().parent
FROM = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2046, 1, 1, tzinfo=UTC)
DAYS = (UNTIL - FROM).days
CMS_CONTENT = b"tagmanifest line 1\nline 2 \xe2\x82\xac\n"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(cert: x509.Certificate, recipient: str, name: str = "Policia Judiciaria", country: str = "PT",
          expires: datetime = UNTIL) -> dict[str, str]:
    return {"name": name, "country": country, "unit": "UNC3T", "contact": "unc3t@example.pt",
            "certificate": certs.cert_pem(cert), "age_recipient": recipient, "created": _stamp(FROM),
            "expires": _stamp(expires)}


def _sign(key: Any, message: bytes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA384()))).decode()


def _card(body: dict[str, str], signature: str, **extra: Any) -> dict[str, Any]:
    return {"format": agency.CARD_FORMAT, "version": agency.CARD_VERSION, "body": body, "signature": signature,
            **extra}


def _write_json(name: str, doc: Any) -> None:
    (HERE / f"{name}.icspa-card").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _rsa_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RSA Agency"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "RSA Agency")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(FROM).not_valid_after(UNTIL)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_cards() -> None:
    key = certs.generate_key()
    cert = certs.self_signed(key, "Policia Judiciaria", "PT", "UNC3T", validity_days=DAYS, now=FROM)
    recipient = age_keys.generate_identity()[1]
    body = _body(cert, recipient)
    signature = _sign(key, agency.card_message(body))
    _write_json("valid", _card(body, signature))

    next_key = certs.generate_key()
    next_cert = certs.self_signed(next_key, "Policia Judiciaria", "PT", "UNC3T", validity_days=DAYS, now=FROM)
    next_body = _body(next_cert, age_keys.generate_identity()[1])
    next_message = agency.card_message(next_body)
    _write_json("successor", _card(next_body, _sign(next_key, next_message),
                                   predecessor={"certificate": certs.cert_pem(cert),
                                                "signature": _sign(key, next_message)}))

    impostor = certs.generate_key()
    impostor_cert = certs.self_signed(impostor, "Policia Judiciaria", "PT", validity_days=DAYS, now=FROM)
    impostor_body = _body(impostor_cert, age_keys.generate_identity()[1])
    impostor_message = agency.card_message(impostor_body)
    _write_json("forged-successor", _card(impostor_body, _sign(impostor, impostor_message),
                                          predecessor={"certificate": certs.cert_pem(cert),
                                                       "signature": _sign(impostor, impostor_message)}))

    short = _body(cert, recipient, expires=datetime(2026, 3, 1, tzinfo=UTC))
    _write_json("expired-card", _card(short, _sign(key, agency.card_message(short))))

    old_key = certs.generate_key()
    old_cert = certs.self_signed(old_key, "Old Agency", "FR", validity_days=180,
                                 now=datetime(2025, 1, 1, tzinfo=UTC))
    old_body = _body(old_cert, recipient, name="Old Agency", country="FR")
    _write_json("expired-certificate", _card(old_body, _sign(old_key, agency.card_message(old_body))))

    _write_json("tampered-name", _card(body | {"name": "Policia Judiciaria Lisboa"}, signature))
    _write_json("tampered-contact", _card(body | {"contact": "attacker@example.org"}, signature))
    _write_json("signed-by-other-key", _card(body, _sign(certs.generate_key(), agency.card_message(body))))

    rsa_key, rsa_cert = _rsa_certificate()
    rsa_body = _body(rsa_cert, recipient, name="RSA Agency", country="FR")
    _write_json("rsa-key", _card(rsa_body, _sign(rsa_key, agency.card_message(rsa_body))))

    _write_json("signature-not-base64", _card(body, "this is not base64!"))
    _write_json("version-2", _card(body, signature) | {"version": 2})
    _write_json("malformed", _card({"name": "Policia Judiciaria", "country": "PT"}, signature))
    _write_json("other-json", {"hello": "world"})
    (HERE / "not-json.icspa-card").write_bytes(b"\x00\x01garbage\xff\xfe not a card\n")
    (HERE / "too-large.icspa-card").write_bytes(b"x" * 70_000)


def make_cms() -> None:
    folder = HERE / "cms"
    folder.mkdir(exist_ok=True)
    key = certs.generate_key()
    cert = certs.self_signed(key, "Test Police", "NL", "Cyber", validity_days=DAYS, now=FROM)
    other_key = certs.generate_key()
    other = certs.self_signed(other_key, "Other Police", "FR", validity_days=DAYS, now=FROM)
    expired_key = certs.generate_key()
    expired = certs.self_signed(expired_key, "Old Police", "NL", validity_days=1,
                                now=datetime(2025, 1, 1, tzinfo=UTC))
    (folder / "content.txt").write_bytes(CMS_CONTENT)
    for name, pem in (("signer", cert), ("other-signer", other), ("expired-signer", expired)):
        (folder / f"{name}.pem").write_text(certs.cert_pem(pem))
    good = cms.sign_detached(CMS_CONTENT, cert, key)
    (folder / "good.p7s").write_bytes(good)
    (folder / "other-signer.p7s").write_bytes(cms.sign_detached(CMS_CONTENT, other, other_key))
    (folder / "expired-signer.p7s").write_bytes(cms.sign_detached(CMS_CONTENT, expired, expired_key))
    flipped = bytearray(good)
    flipped[-1] ^= 0x01
    (folder / "flipped-signature.p7s").write_bytes(bytes(flipped))
    signer_info = acms.ContentInfo.load(good)["content"]["signer_infos"][0]
    attributes = signer_info["signed_attrs"].dump()
    at = good.rindex(attributes) + len(attributes) - 5  # inside the last signed attribute's value
    flipped = bytearray(good)
    flipped[at] ^= 0x01
    (folder / "flipped-attribute.p7s").write_bytes(bytes(flipped))
    (folder / "truncated.p7s").write_bytes(good[: len(good) // 2])


if __name__ == "__main__":
    make_cards()
    make_cms()
    print(f"Cards and CMS fixtures written to {HERE} (CMS signing time {_stamp(datetime.now(UTC))}).")
