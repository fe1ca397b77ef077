"""Custody proof files made from scratch, genuine or forged one part at a time, for the partner verifier.

A forger needs no ICSPA software to write such a file; these helpers use ours only for convenience
(canonical JSON, leaves, the RFC 9162 tree, CMS). Each document is internally consistent, so only the
part deliberately made wrong can refuse it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from icspa_desktop.crypto import cms, signing
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events as ev
from icspa_desktop.custody.merkle import MerkleTree

ORIGIN = "icspa/NL/0123456789abcdef0123456789abcdef/00000000-0000-4000-8000-000000000000"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Agency:
    key: certs.SigningKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, content: bytes) -> bytes:
        return cms.sign_detached(content, self.cert, self.key)


def new_agency(name: str, country: str = "NL") -> Agency:
    key = certs.generate_key()
    return Agency(key, certs.self_signed(key, name, country, "Cyber"))


@dataclass(frozen=True)
class Event:
    body: bytes
    signature: bytes
    public_key: bytes

    @property
    def id(self) -> str:
        return str(json.loads(self.body)["id"])

    @property
    def leaf_hash(self) -> bytes:
        return ev.leaf_hash(ev.leaf_bytes(self.body, self.signature, self.public_key))


def make_events(count: int, user_key: bytes, event_id: str = "") -> list[Event]:
    out = []
    for index in range(count):
        body = canonical_json({
            "v": 2, "index": index, "id": event_id or f"00000000-0000-4000-8000-{index:012d}", "action": "acquired",
            "at": (T0 + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "actor": {"name": "ivan", "role": "investigator"}, "case_id": "case-1", "item_ids": [],
        })
        out.append(Event(body, signing.sign(user_key, ev.signed_message(body)), signing.public_from_private(user_key)))
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def checkpoint_text(tree: MerkleTree, size: int, minute: int) -> str:
    return cp.format_body(ORIGIN, size, tree.root(size), T0 + timedelta(hours=1, minutes=minute)).decode("ascii")


def proofs(log: list[Event], selected: list[int], agency: Agency, *, previous_size: int | None = None,
           previous_signer: Agency | None = None) -> dict[str, Any]:
    """An ``icspa-custody-proofs/v1`` document: ``selected`` events of ``log`` against a checkpoint of the
    whole log signed by ``agency``; with ``previous_size`` also an earlier checkpoint (signed by
    ``previous_signer``, default ``agency``) and the consistency proof from it."""
    tree = MerkleTree([e.leaf_hash for e in log])
    text = checkpoint_text(tree, tree.size, 30)
    doc: dict[str, Any] = {
        "format": "icspa-custody-proofs/v1",
        "checkpoint": {"text": text, "signature_der_b64": _b64(agency.sign(text.encode()))},
        "events": [{
            "id": log[i].id, "leaf_index": i, "event_b64": _b64(log[i].body), "event": json.loads(log[i].body),
            "signature": _b64(log[i].signature), "public_key": _b64(log[i].public_key),
            "inclusion_proof": [_b64(n) for n in tree.inclusion_proof(i, tree.size)],
        } for i in selected],
    }
    if previous_size is not None:
        old = checkpoint_text(tree, previous_size, 0)
        doc["previous_checkpoint"] = {"text": old,
                                      "signature_der_b64": _b64((previous_signer or agency).sign(old.encode()))}
        doc["consistency_proof"] = [_b64(n) for n in tree.consistency_proof(previous_size, tree.size)]
    return doc
