"""The JSON-LD side of the CASE/UCO export: the context, a graph of nodes with stable IRIs, the small value
forms (references, ``xsd:dateTime``, hashes) and the encoding of the document as the export writes it.

Every IRI is under the vault's own namespace and derived from our stable ids (UUIDv5), so a re-export of the
same case names the same things; the marking definitions (``reports/uco_markings.py``) use one base in
every vault's export.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from icspa_desktop.domain.progress import CancelToken

CONTEXT: dict[str, str] = {
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-marking": "https://ontology.unifiedcyberontology.org/uco/marking/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-role": "https://ontology.unifiedcyberontology.org/uco/role/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

_NAMESPACE = uuid.UUID("6f1d1b5e-3c0a-4c55-9a55-1c2f0e6f8a01")  # ICSPA's UUIDv5 namespace for CASE/UCO IRIs
# Our hash names → UCO HashNameVocab members.
_HASH_NAMES = {"sha256": "SHA256", "sha1": "SHA1", "md5": "MD5", "sha512": "SHA512"}
# Pieces of JSON text between two checks of the cancel token while encoding (~20 ms of work).
_ENCODE_BATCH = 20_000


class Graph:
    """The document's nodes by IRI, in the order they were first added."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.nodes: dict[str, dict[str, Any]] = {}
        # Each IRI made once: a case's items and events name the same markings, people and tools thousands of
        # times, and uuid5 was half the time of building the graph of a 1,000-item export.
        self._iris: dict[tuple[str, str, str], str] = {}

    def iri(self, kind: str, key: str, base: str | None = None) -> str:
        """The IRI of the ``kind`` node for ``key`` (under ``base``, by default the vault's)."""
        # UCO suggests IRIs ending in a UUID; a name-based one keeps re-exports stable.
        base = base or self.base
        made = self._iris.get((base, kind, key))
        if made is None:
            made = self._iris[(base, kind, key)] = f"{base}{kind}-{name_uuid(f'{base}{kind}/{key}')}"
        return made

    def add(self, node: dict[str, Any]) -> str:
        """Add ``node`` unless a node with its IRI is there already (the first one stays); its IRI."""
        self.nodes.setdefault(node["@id"], node)
        return str(node["@id"])


_NAMESPACE_BYTES = _NAMESPACE.bytes


def name_uuid(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))`` (RFC 9562 §5.5), without building a ``UUID`` object: a 1,000-item
    export names ~11,000 nodes, and the object's checks were two thirds of uuid5's time."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def dt(value: str) -> dict[str, str]:
    """An ``xsd:dateTime`` value."""
    return {"@type": "xsd:dateTime", "@value": value}


def ref(iri: str) -> dict[str, str]:
    """A reference to the node ``iri``."""
    return {"@id": iri}


def refs(iris: Iterable[str]) -> list[dict[str, str]]:
    """References to each of ``iris``, once each, in order."""
    return [ref(i) for i in dict.fromkeys(iris)]


def xsd_datetime(text: str) -> str | None:
    """``text`` as an ``xsd:dateTime`` lexical form, or None when it is not a date with a time of day."""
    text = text.strip()
    if not text or not re.search(r"\d[T ]\d", text):
        return None  # a date alone (or free text) is no dateTime: it stays in the description
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


def hashes(g: Graph, key: str, digests: Mapping[str, object]) -> list[dict[str, Any]]:
    """The ``uco-types:Hash`` nodes of ``digests`` (our names → values; empty values left out) for ``key``."""
    return [{"@id": g.iri(f"hash-{name}", key), "@type": "uco-types:Hash",
             # A plain string since UCO 1.4 (members of uco-vocabulary:HashNameVocab).
             "uco-types:hashMethod": _HASH_NAMES.get(name, name.upper()),
             "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": str(value).lower()}}
            for name, value in sorted(digests.items()) if value]


def encode(doc: dict[str, Any], *, cancel: CancelToken | None = None) -> bytes:
    """The document as the export writes it: UTF-8 JSON, keys sorted, indented by one, a final line feed.

    Encoded piece by piece so that ``cancel`` can stop it (``Cancelled``): the text of a big case takes
    seconds. With an indent, ``json.dumps`` runs the same pure-Python encoder, so this costs no more."""
    cancel = cancel or CancelToken()
    encoder = json.JSONEncoder(indent=1, ensure_ascii=False, sort_keys=True)
    pieces: list[str] = []
    for n, piece in enumerate(encoder.iterencode(doc)):
        if n % _ENCODE_BATCH == 0:
            cancel.check()
        pieces.append(piece)
    pieces.append("\n")
    return "".join(pieces).encode("utf-8")
