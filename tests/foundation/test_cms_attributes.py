"""Signed attributes of a CMS signature (RFC 5652 §5.3, §11.1), refused one rule at a time.

Each signature here is a genuine one whose signed attributes were changed with asn1crypto and then
signed again with the certificate's key, so the ECDSA signature itself is valid and only the rule under
test can refuse it. ``openssl cms -verify`` is run on the same bytes to show where it agrees.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as acms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from icspa_desktop.crypto import cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.errors import RefusedInput

CONTENT = b"icspa/NL/0123/vault\n42\nAAAA\nTimestamp: 2026-03-02T09:20:00Z\n"
Attrs = list[Any]  # asn1crypto CMSAttribute objects


@pytest.fixture(scope="module")
def signer() -> tuple[certs.SigningKey, Any]:
    key = certs.generate_key()
    return key, certs.self_signed(key, "Test Police", "NL", "Cyber")


def _attr(kind: str, values: list[Any]) -> Any:
    return acms.CMSAttribute({"type": kind, "values": values})


def _resigned(signature: bytes, key: certs.SigningKey, change: Callable[[Attrs], Attrs],
              econtent_type: str | None = None) -> bytes:
    """``signature`` with its signed attributes changed by ``change`` and signed again by ``key``."""
    info = acms.ContentInfo.load(signature)
    signed = info["content"]
    signer_info = signed["signer_infos"][0]
    attrs = acms.CMSAttributes(change(list(signer_info["signed_attrs"])))
    signer_info["signed_attrs"] = attrs
    digest = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
    # The signature covers the attributes' DER as a SET OF (asn1crypto sorts a SET OF when it encodes it).
    signer_info["signature"] = key.sign(acms.CMSAttributes(list(attrs)).dump(), ec.ECDSA(digest))
    if econtent_type is not None:
        signed["encap_content_info"] = acms.ContentInfo({"content_type": econtent_type})
    return bytes(info.dump(force=True))


def _openssl_accepts(signature: bytes, cert: Any, tmp_path: Path) -> bool:
    (tmp_path / "s.p7s").write_bytes(signature)
    (tmp_path / "content").write_bytes(CONTENT)
    (tmp_path / "c.pem").write_text(certs.cert_pem(cert))
    done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "s.p7s", "-content",
                           "content", "-CAfile", "c.pem", "-purpose", "any", "-no-CApath", "-out", "/dev/null"],
                          cwd=tmp_path, capture_output=True, check=False)
    return done.returncode == 0


def _drop(kind: str) -> Callable[[Attrs], Attrs]:
    return lambda attrs: [a for a in attrs if a["type"].native != kind]


def _values(attrs: Attrs, kind: str) -> list[Any]:
    return [a["values"][0] for a in attrs if a["type"].native == kind]


def _twice(kind: str) -> Callable[[Attrs], Attrs]:
    def change(attrs: Attrs) -> Attrs:
        return [*attrs, _attr(kind, [_values(attrs, kind)[0].native])]
    return change


def _two_values(kind: str, extra: Any) -> Callable[[Attrs], Attrs]:
    def change(attrs: Attrs) -> Attrs:
        return [*_drop(kind)(attrs), _attr(kind, [_values(attrs, kind)[0].native, extra])]
    return change


def _content_type(value: str) -> Callable[[Attrs], Attrs]:
    return lambda attrs: [*_drop("content_type")(attrs), _attr("content_type", [value])]


# (name, change of the signed attributes, eContentType or None, our message, does openssl 3 refuse it too)
CASES: list[tuple[str, Callable[[Attrs], Attrs], str | None, str, bool]] = [
    ("two content-type attributes", _twice("content_type"), None, "two content-type attributes", True),
    ("a content-type with two values", _two_values("content_type", "signed_data"), None,
     "content-type attribute has 2 values", True),
    ("content-type differs from eContentType", _content_type("signed_data"), None,
     r"content-type attribute \(signed_data\) differs from the type of the signed content \(data\)", False),
    ("eContentType differs from content-type", lambda attrs: attrs, "signed_data",
     r"content-type attribute \(data\) differs from the type of the signed content \(signed_data\)", False),
    ("no content-type", _drop("content_type"), None, "has no content-type attribute", True),
    ("no message-digest", _drop("message_digest"), None, "has no message-digest attribute", True),
    ("two message-digest attributes", _twice("message_digest"), None, "two message-digest attributes", True),
    ("a message-digest with two values", _two_values("message_digest", b"\x00" * 48), None,
     "message-digest attribute has 2 values", True),
]


def test_the_resigning_helper_makes_valid_signatures(signer: tuple[certs.SigningKey, Any], tmp_path: Path) -> None:
    """The refusals below come from the rules, not from a broken re-signature."""
    key, cert = signer
    same = _resigned(cms.sign_detached(CONTENT, cert, key), key, lambda attrs: attrs)
    assert cms.verify_detached(same, CONTENT, [cert]) == cert
    assert _openssl_accepts(same, cert, tmp_path)
    # Dropping signing-time (optional in RFC 5652) keeps the signature valid for both.
    without_time = _resigned(cms.sign_detached(CONTENT, cert, key), key, _drop("signing_time"))
    assert cms.verify_detached(without_time, CONTENT, [cert]) == cert
    assert _openssl_accepts(without_time, cert, tmp_path)


@pytest.mark.parametrize(("name", "change", "econtent_type", "message", "openssl_refuses"), CASES,
                         ids=[c[0] for c in CASES])
def test_attribute_rule_is_enforced(signer: tuple[certs.SigningKey, Any], tmp_path: Path, name: str,
                                    change: Callable[[Attrs], Attrs], econtent_type: str | None, message: str,
                                    openssl_refuses: bool) -> None:
    key, cert = signer
    crafted = _resigned(cms.sign_detached(CONTENT, cert, key), key, change, econtent_type)
    with pytest.raises(RefusedInput, match=message):
        cms.verify_detached(crafted, CONTENT, [cert])
    with pytest.raises(RefusedInput, match=message):
        cms.verify_detached_signed_at(crafted, CONTENT, [cert])
    # Cross-check: where openssl 3 enforces the same rule it refuses the same bytes. Where it does not
    # (it never compares the content-type attribute with the eContentType), we are the stricter one.
    assert _openssl_accepts(crafted, cert, tmp_path) is not openssl_refuses, name
