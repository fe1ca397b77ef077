"""CASE/UCO JSON-LD export of a case: the investigation, its items as observables with hashes, their
provenance records, and the custody events as investigative actions with performers and instruments.

Checked in the tests with ``case_validate`` (case-utils). Every node has an IRI under the vault's own
namespace, derived from our stable ids, so a re-export of the same case names the same things.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.custody.events import StoredEvent

CONTEXT: dict[str, str] = {
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

_NAMESPACE = uuid.UUID("6f1d1b5e-3c0a-4c55-9a55-1c2f0e6f8a01")  # ICSPA's UUIDv5 namespace for CASE/UCO IRIs
# Our hash names → UCO HashNameVocab members.
_HASH_NAMES = {"sha256": "SHA256", "sha1": "SHA1", "md5": "MD5", "sha512": "SHA512"}
# Custody actions grouped as CASE investigative actions.
ACQUISITION = {"acquired"}
TRANSFER = {"checked_out", "checked_in", "transferred", "bundled", "imported", "released"}
EXPORT = {"exported", "bundled"}


def _dt(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


class _Graph:
    def __init__(self, base: str) -> None:
        self.base = base
        self.nodes: dict[str, dict[str, Any]] = {}

    def iri(self, kind: str, key: str) -> str:
        # UCO suggests IRIs ending in a UUID; a name-based one keeps re-exports stable.
        return f"{self.base}{kind}-{uuid.uuid5(_NAMESPACE, f'{self.base}{kind}/{key}')}"

    def add(self, node: dict[str, Any]) -> str:
        self.nodes.setdefault(node["@id"], node)
        return str(node["@id"])


def build(
    *,
    vault_id: str,
    agency_name: str,
    case: Any,  # domain.models.Case
    items: Sequence[Any],  # domain.evidence.Item
    events: Sequence[StoredEvent],
) -> dict[str, Any]:
    """The JSON-LD document (a dict ready for ``json.dumps``)."""
    g = _Graph(f"urn:icspa:{vault_id}:")
    f = case.fields
    agency = g.add({"@id": g.iri("organization", agency_name or "agency"), "@type": "uco-identity:Organization",
                    "uco-core:name": agency_name or "Agency"})
    our_tool = g.add({"@id": g.iri("tool", f"icspa-{__version__}"), "@type": "uco-tool:Tool",
                      "uco-core:name": TOOL_NAME, "uco-tool:version": __version__, "uco-tool:toolType": "custody",
                      "uco-tool:creator": _ref(agency)})
    investigation_objects: list[dict[str, str]] = []
    if f.legal_authority:
        investigation_objects.append(_ref(g.add({
            "@id": g.iri("authorization", case.id), "@type": "case-investigation:Authorization",
            "uco-core:name": f.legal_authority, "case-investigation:authorizationType": "legal authority",
            "case-investigation:authorizationIdentifier": [f.legal_authority]})))

    item_iri: dict[str, str] = {}
    provenance: dict[str, str] = {}
    for item in items:
        facets: list[dict[str, Any]] = []
        iri = g.iri("item", item.id)
        if str(item.kind) == "digital":
            node_type = "uco-observable:File"
            facets.append({"@id": g.iri("file-facet", item.id), "@type": "uco-observable:FileFacet",
                           "uco-observable:fileName": item.original_name,
                           **({"uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(item.size)}}
                              if item.size is not None else {})})
            hashes = [{"@id": g.iri(f"hash-{name}", item.id), "@type": "uco-types:Hash",
                       # A plain string since UCO 1.4 (members of uco-vocabulary:HashNameVocab).
                       "uco-types:hashMethod": _HASH_NAMES.get(name, name.upper()),
                       "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value.lower()}}
                      for name, value in sorted(item.hashes.items())]
            facets.append({"@id": g.iri("content-facet", item.id), "@type": "uco-observable:ContentDataFacet",
                           "uco-observable:hash": hashes,
                           **({"uco-observable:mimeType": item.mime_type} if item.mime_type else {})})
        else:
            node_type = "uco-observable:Device"
        label = item.original_name or item.exhibit_number
        node: dict[str, Any] = {"@id": iri, "@type": node_type, "uco-core:name": label,
                                "uco-core:description": item.description or label}
        if facets:
            node["uco-core:hasFacet"] = facets
        item_iri[item.id] = g.add(node)
        provenance[item.id] = g.add({
            "@id": g.iri("provenance", item.id), "@type": "case-investigation:ProvenanceRecord",
            "case-investigation:exhibitNumber": item.exhibit_number,
            "uco-core:description": f"Exhibit {item.exhibit_number} of case {f.number}",
            "uco-core:object": [_ref(iri)]})
        investigation_objects.append(_ref(provenance[item.id]))

    for event in events:
        body = event.body
        action = str(body.get("action", ""))
        ids = [i for i in body.get("item_ids") or [] if i in item_iri]
        if not ids and action not in ACQUISITION | TRANSFER | EXPORT:
            continue
        actor = body.get("actor") or {}
        person = g.add({"@id": g.iri("person", str(actor.get("id", "unknown"))), "@type": "uco-identity:Person",
                        "uco-core:name": str(actor.get("display_name") or actor.get("name") or "unknown")})
        instruments = [_ref(our_tool)]
        event_hashes = body.get("hashes") or {}
        details = body.get("details") or {}
        acquisition = details.get("acquisition") if isinstance(details, dict) else None
        if isinstance(acquisition, dict) and acquisition.get("tool"):
            instruments.append(_ref(g.add({
                "@id": g.iri("tool", f"{acquisition['tool']}-{acquisition.get('tool_version', '')}"),
                "@type": "uco-tool:Tool", "uco-core:name": str(acquisition["tool"]),
                **({"uco-tool:version": str(acquisition["tool_version"])} if acquisition.get("tool_version") else {}),
                "uco-tool:toolType": "acquisition"})))
        kind = ("acquisition" if action in ACQUISITION else "export" if action in EXPORT
                else "transfer" if action in TRANSFER else action.replace("_", " "))
        node = {
            "@id": g.iri("action", event.id), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": kind, "uco-core:description": _describe(body, action, event_hashes),
            "uco-action:startTime": _dt(str(body.get("at"))), "uco-action:endTime": _dt(str(body.get("at"))),
            "uco-action:performer": _ref(person), "uco-action:instrument": instruments,
            "uco-action:object": [_ref(item_iri[i]) for i in ids],
        }
        if body.get("location"):
            node["uco-action:location"] = [_ref(g.add({"@id": g.iri("location", str(body["location"])),
                                                       "@type": "uco-location:Location",
                                                       "uco-core:description": str(body["location"])}))]
        if body.get("counterparty"):
            node["uco-action:participant"] = [_ref(g.add({
                "@id": g.iri("party", str(body["counterparty"])), "@type": "uco-identity:Identity",
                "uco-core:name": str(body["counterparty"])}))]
        if action in ACQUISITION:
            node["uco-action:result"] = [_ref(provenance[i]) for i in ids]
        investigation_objects.append(_ref(g.add(node)))

    g.add({
        "@id": g.iri("investigation", case.id), "@type": "case-investigation:Investigation",
        "uco-core:name": f.number, "uco-core:description": f.title,
        "case-investigation:investigationForm": "case",
        "case-investigation:investigationStatus": str(case.status),
        "case-investigation:focus": [f.title],
        "uco-core:object": investigation_objects,
    })
    return {"@context": dict(CONTEXT), "@graph": list(g.nodes.values())}


def _describe(body: dict[str, Any], action: str, hashes: dict[str, str]) -> str:
    parts = [f"Custody event {body.get('id')}: {action.replace('_', ' ')}"]
    for key in ("purpose", "authority", "result", "notes"):
        if body.get(key):
            parts.append(f"{key}: {body[key]}")
    for name, value in sorted(hashes.items()):
        parts.append(f"{name} {value}")
    return "; ".join(parts)
