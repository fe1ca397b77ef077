"""CASE/UCO JSON-LD export of a case, modelled the way the CASE examples model an investigation.

- Each item is an observable: a digital item a ``File`` (name, size, hashes), a physical item a ``Device``
  (with its serial). A derived item points at its parent with ``case-investigation:wasDerivedFrom``.
- The acquisition recorded on the item (officer, time, place, method, tool, source device and serial, seal)
  is an ``InvestigativeAction`` whose *object* is the source device and whose *result* is the first
  ``ProvenanceRecord`` of the exhibit (CASE "Forensic Lifecycle": ``seized`` / ``imaged``).
- Every custody event of an item is an action too. Those that change the item's state of custody (intake,
  verification, check-out and -in, extraction, transfer, import, release, disposal) take the item's latest
  provenance record as object and yield the next one as result, so the records form a chain from the
  acquisition to today; the other events (viewed, annotated, ...) take the current record as object.
- Performers are persons with a role (``Has_Role``) and an agency (``Member_Of``); the legal authority of
  the case and of each event is a ``case-investigation:Authorization`` (``relevantAuthorization``); failed
  verifications and extractions carry ``uco-action:actionStatus``; the partner of an imported item is the
  participant of the transfer that brought it.
- Every object carries its markings (``uco-core:objectMarking``): UCO 1.x / CASE 1.5 have no TLP class
  (ucoProject/UCO#646 is an open proposal), so the TLP label is a ``StatementMarking`` and the Europol
  handling code a ``TermsOfUseMarking``, each in a ``MarkingDefinition`` with an IRI that is the same in
  every export (like STIX's fixed TLP marking ids), so that partners can match them.

Checked with ``case_validate`` (case-utils) in the tests. Every node has an IRI under the vault's own
namespace, derived from our stable ids, so a re-export of the same case names the same things.

This module builds the graph (who and what, items and their provenance, custody events); beside it:
``uco_graph`` (context, IRIs, value forms, ``encode``), ``uco_markings`` (the marking definitions) and
``uco_events`` (what an event body says, in the export's English). ``build`` and ``encode`` are the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.evidence import ItemKind, Markings
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.i18n import _
from icspa_desktop.reports import uco_events, uco_markings
from icspa_desktop.reports.uco_graph import CONTEXT, Graph, dt, encode, hashes, ref, refs, xsd_datetime
from icspa_desktop.reports.uco_markings import MARKING

__all__ = ["CONTEXT", "TOOL_MAKER", "build", "encode", "xsd_datetime"]

# The maker of this software, the creator of the tool that records every custody event. Not the agency
# that runs an installation: that one is the performer's agency.
TOOL_MAKER = "ICSPA"

# Custody actions after which the item is in a new state of custody: each yields the next provenance record.
_CHAINED = {"acquired", "verified", "checked_out", "checked_in", "exported", "bundled", "transferred", "imported",
            "released", "disposed"}
# Our role names → CASE's own role classes where CASE has one.
_CASE_ROLES = {"investigator": "case-investigation:Investigator",
               "lead investigator": "case-investigation:Investigator"}
_PROVENANCE = "case-investigation:ProvenanceRecord"


@dataclass(frozen=True, slots=True)
class _Step:
    """One custody event, ours or a partner's, as the graph needs it."""

    id: str
    action: str
    at: str
    body: dict[str, Any]
    ids: list[str]  # our ids of the items it concerns, among those exported
    partner: str = ""  # the partner agency that recorded it (our name for them); "" = ours


def build(
    *,
    vault_id: str,
    agency_name: str,
    case: Any,  # domain.models.Case
    items: Sequence[Any],  # domain.evidence.Item
    events: Sequence[StoredEvent],
    partner_events: Sequence[Any] = (),  # services.received.PartnerEventView
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """The JSON-LD document (a dict ready for ``json.dumps``, or ``encode``).

    ``events`` are the case's custody events in log order (those of items not in ``items`` are left out).
    ``partner_events`` are the custody events partners sent with the items we received from them
    (``received.partner_events``): with them, an item's chain runs through the partner's intake, checks and
    transfer to us; without them it goes from the partner's acquisition record to our receipt.
    ``progress`` gets (done, total, message) as items and events are added; ``cancel`` stops the build
    (``Cancelled``) between them."""
    builder = _Builder(vault_id, agency_name, case, items, _Ticks(progress, cancel or CancelToken()))
    return builder.build(events, partner_events)


# Checks of the cancel token and progress reports come every _TICK_BATCH items or events (a few ms of work).
_TICK_BATCH = 50


class _Ticks:
    """Counts the build's units of work (each item three times: observable, derivation, acquisition; each event
    once), reporting progress and checking the cancel token every ``_TICK_BATCH``."""

    def __init__(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        self.progress = progress
        self.cancel = cancel
        self.done = 0
        self.total = 0

    def tick(self) -> None:
        self.done += 1
        if self.done % _TICK_BATCH == 0 or self.done == self.total:
            self.cancel.check()
            self.progress(self.done, self.total, _("Describing the items and custody events…"))


class _Builder:
    def __init__(self, vault_id: str, agency_name: str, case: Any, items: Sequence[Any],
                 ticks: _Ticks | None = None) -> None:
        self.ticks = ticks or _Ticks(no_progress, CancelToken())
        self.g = Graph(f"urn:icspa:{vault_id}:")
        self.case = case
        self.items = {item.id: item for item in items}
        f = case.fields
        self.case_markings = Markings(handling_code=f.handling_code, handling_text=f.handling_text, tlp=f.tlp)
        self.agency = self.organization(agency_name or "Agency")
        self.maker = self.organization(TOOL_MAKER)
        self.observable: dict[str, str] = {}
        self.current: dict[str, str] = {}  # item id → its latest provenance record
        self.root_exhibit: dict[str, str] = {}
        self.extractions: dict[str, dict[str, Any]] = {}  # export_started event id → its action
        self.bundle_parties: dict[str, list[str]] = {}
        self.authorizations: list[str] = []
        self.partner_exhibit: dict[str, str] = {}  # item id → its exhibit number at the partner who sent it
        self.marking_refs: dict[tuple[Markings, ...], list[dict[str, str]]] = {}

    # ---- the document ---------------------------------------------------------------------------------
    def build(self, events: Sequence[StoredEvent], partner_events: Sequence[Any]) -> dict[str, Any]:
        f = self.case.fields
        ours = [_Step(str(e.id), e.action, e.at, e.body, [i for i in e.body.get("item_ids") or [] if i in self.items])
                for e in events]
        ours = [e for e in ours if e.ids or not e.body.get("item_ids")]
        received = {i: e for e in ours if e.action == "imported" for i in e.ids}
        theirs = []
        for view in partner_events:  # only those about the items exported: the partner's own case is theirs
            if ids := [i for i in view.item_ids if i in self.items]:
                sender = str(received[ids[0]].body.get("counterparty") or "") if ids[0] in received else ""
                theirs.append(_Step(str(view.event_id), str(view.action), str(view.at), view.body, ids,
                                    sender or str(view.partner_name)))
        # One time line (UTC times in one format): a later bundle may bring partner events after our receipt.
        steps = sorted(theirs + ours, key=lambda e: e.at)
        tick = self.ticks.tick
        self.ticks.total = 3 * len(self.items) + len(steps)
        for item in self.items.values():
            tick()
            self.observable[item.id] = self._item(item)
        for item in self.items.values():
            tick()
            parent = self.items.get(item.parent_id) if item.parent_id else None
            if parent is not None:
                self.g.nodes[self.observable[item.id]]["case-investigation:wasDerivedFrom"] = [
                    ref(self.observable[parent.id])]
        intake = {i: e for e in steps if e.action == "acquired" for i in e.ids}
        for item in self.items.values():
            tick()
            self._acquisition(item, intake.get(item.id), received.get(item.id))
        for step in steps:
            tick()
            self._event(step)
        if f.legal_authority:
            self.authorization(f.legal_authority)
        if f.lead_investigator:
            self.person(f.lead_investigator, f"lead/{f.lead_investigator}", self.agency, "lead investigator")
        case_marks = self.marks([self.case_markings])
        for node in self.g.nodes.values():
            if node["@type"] != MARKING:
                node.setdefault("uco-core:objectMarking", case_marks)
        investigation = self.g.iri("investigation", self.case.id)
        closed = [e.at for e in ours if e.action == "case_closed"]
        self.g.add({
            "@id": investigation, "@type": "case-investigation:Investigation",
            "uco-core:name": f.number,
            "uco-core:description": [d for d in (f.title, f.description,
                                                 f.jurisdiction and f"Jurisdiction: {f.jurisdiction}") if d],
            "case-investigation:investigationForm": "case",
            "case-investigation:investigationStatus": str(self.case.status),
            "uco-core:startTime": dt(self.case.created_at.isoformat()),
            **({"uco-core:endTime": dt(closed[-1])} if closed and str(self.case.status) == "closed" else {}),
            "case-investigation:relevantAuthorization": refs(self.authorizations),
            "uco-core:objectMarking": case_marks,
            "uco-core:object": refs(i for i, n in self.g.nodes.items() if n["@type"] != MARKING),
        })
        return {"@context": dict(CONTEXT), "@graph": list(self.g.nodes.values())}

    # ---- who and what ---------------------------------------------------------------------------------
    def organization(self, name: str) -> str:
        return self.g.add({"@id": self.g.iri("organization", name), "@type": "uco-identity:Organization",
                           "uco-core:name": name})

    def role(self, name: str) -> str:
        return self.g.add({"@id": self.g.iri("role", name), "@type": _CASE_ROLES.get(name, "uco-role:Role"),
                           "uco-core:name": name})

    def relate(self, source: str, kind: str, target: str) -> None:
        self.g.add({"@id": self.g.iri("relationship", f"{kind}/{source}/{target}"), "@type": "uco-core:Relationship",
                    "uco-core:source": [ref(source)], "uco-core:target": ref(target),
                    "uco-core:kindOfRelationship": kind, "uco-core:isDirectional": True})

    def person(self, name: str, key: str, agency: str | None, role: str = "") -> str:
        iri = self.g.add({"@id": self.g.iri("person", key), "@type": "uco-identity:Person", "uco-core:name": name})
        if agency:
            self.relate(iri, "Member_Of", agency)
        if role:
            self.relate(iri, "Has_Role", self.role(role))
        return iri

    def actor(self, step: _Step) -> str:
        """The user who recorded an event: a person with their role in the vault and their agency."""
        actor = step.body.get("actor") or {}
        name = str(actor.get("display_name") or actor.get("name") or "unknown")
        if step.partner:  # our name for their agency (their events name it as they name themselves)
            return self.person(name, f"partner/{step.partner}/{actor.get('id', name)}",
                               self.organization(step.partner), str(actor.get("role") or ""))
        agency = str(actor.get("agency") or "")
        return self.person(name, f"user/{actor.get('id', 'unknown')}",
                           self.organization(agency) if agency else self.agency, str(actor.get("role") or ""))

    def tool(self, name: str, version: str, kind: str) -> str:
        ours = name == TOOL_NAME
        return self.g.add({
            "@id": self.g.iri("tool", f"{name}-{version}"), "@type": "uco-tool:Tool", "uco-core:name": name,
            **({"uco-tool:version": version} if version else {}),
            "uco-tool:toolType": "evidence management" if ours else kind,
            **({"uco-tool:creator": ref(self.maker)} if ours else {})})

    def event_tool(self, body: dict[str, Any]) -> str:
        tool = uco_events.body_field(body, "tool")
        return self.tool(str(tool.get("name") or TOOL_NAME), str(tool.get("version") or __version__), "custody")

    def location(self, text: str) -> str:
        return self.g.add({"@id": self.g.iri("location", text), "@type": "uco-location:Location",
                           "uco-core:name": text, "uco-core:description": text})

    def authorization(self, text: str) -> str:
        iri = self.g.add({"@id": self.g.iri("authorization", text), "@type": "case-investigation:Authorization",
                          "uco-core:name": text, "case-investigation:authorizationType": "legal authority",
                          "case-investigation:authorizationIdentifier": [text]})
        if iri not in self.authorizations:
            self.authorizations.append(iri)
        return iri

    # ---- markings -------------------------------------------------------------------------------------
    def marks(self, markings: Sequence[Markings]) -> list[dict[str, str]]:
        # The same few markings over and over (every item and event names them): worked out once per set; each
        # node gets references of its own.
        key = tuple(markings)
        found = self.marking_refs.get(key)
        if found is None:
            found = self.marking_refs[key] = uco_markings.marks(self.g, markings)
        return [dict(r) for r in found]

    def item_marks(self, ids: Sequence[str]) -> list[dict[str, str]]:
        return self.marks([self.items[i].markings for i in ids] or [self.case_markings])

    # ---- items and their provenance ---------------------------------------------------------------------
    def _item(self, item: Any) -> str:
        iri = self.g.iri("item", item.id)
        label = item.original_name or item.exhibit_number
        facets: list[dict[str, Any]] = []
        if item.kind is ItemKind.DIGITAL:
            node_type = "uco-observable:File"
            size = ({"uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(item.size)}}
                    if item.size is not None else {})
            facets.append({"@id": self.g.iri("file-facet", item.id), "@type": "uco-observable:FileFacet",
                           "uco-observable:fileName": item.original_name,
                           **({"uco-observable:filePath": item.original_path} if item.original_path else {}),
                           **size})
            facets.append({"@id": self.g.iri("content-facet", item.id), "@type": "uco-observable:ContentDataFacet",
                           "uco-observable:hash": hashes(self.g, item.id, item.hashes), **size,
                           **({"uco-observable:mimeType": item.mime_type} if item.mime_type else {})})
        else:
            node_type = "uco-observable:Device"
            if item.acquisition.source_serial:
                facets.append(self._device_facet(item.id, item.acquisition.source_serial))
        node: dict[str, Any] = {"@id": iri, "@type": node_type, "uco-core:name": label,
                                "uco-core:description": item.description or label,
                                "uco-core:objectMarking": self.item_marks([item.id])}
        if item.tags:
            node["uco-core:tag"] = list(item.tags)
        if facets:
            node["uco-core:hasFacet"] = facets
        return self.g.add(node)

    def _device_facet(self, key: str, serial: str) -> dict[str, Any]:
        return {"@id": self.g.iri("device-facet", key), "@type": "uco-observable:DeviceFacet",
                "uco-observable:serialNumber": serial}

    def _source_device(self, item: Any) -> str | None:
        """What a digital item was acquired from: the physical item it derives from, or the device it names."""
        acq = item.acquisition
        parent = self.items.get(item.parent_id) if item.parent_id else None
        if parent is not None and parent.kind is ItemKind.PHYSICAL and (
                not acq.source_serial or acq.source_serial == parent.acquisition.source_serial):
            return self.observable[parent.id]
        if item.kind is ItemKind.PHYSICAL or not (acq.source_device or acq.source_serial):
            return None
        key = f"serial/{acq.source_serial}" if acq.source_serial else f"item/{item.id}"
        node: dict[str, Any] = {"@id": self.g.iri("device", key), "@type": "uco-observable:Device",
                                "uco-core:name": acq.source_device or f"Device {acq.source_serial}",
                                "uco-core:objectMarking": self.item_marks([item.id])}
        if acq.source_serial:
            node["uco-core:hasFacet"] = [self._device_facet(key, acq.source_serial)]
        return self.g.add(node)

    def record(self, key: str, item: Any, description: str, at: str | None, exhibit: str = "") -> str:
        """The next provenance record of ``item`` (the first one names the root exhibit number)."""
        exhibit = exhibit or item.exhibit_number
        root = self.root_exhibit.setdefault(item.id, exhibit)
        iri = self.g.add({
            "@id": self.g.iri("provenance", key), "@type": _PROVENANCE,
            "case-investigation:exhibitNumber": exhibit,
            **({"case-investigation:rootExhibitNumber": [root]} if item.id in self.current else {}),
            "uco-core:description": description,
            **({"uco-core:objectCreatedTime": dt(at)} if at else {}),
            "uco-core:object": [ref(self.observable[item.id])],
            "uco-core:objectMarking": self.item_marks([item.id])})
        self.current[item.id] = iri
        return iri

    def _acquisition(self, item: Any, intake: _Step | None, received: _Step | None) -> None:
        """The acquisition as the item records it: officer, time, place, method, tool, source, seal."""
        acq = item.acquisition
        physical = item.kind is ItemKind.PHYSICAL
        # A received item's acquisition is the partner's: its officer is of their agency, its exhibit theirs.
        details = uco_events.body_field(received.body, "details") if received else {}
        partner = str(received.body.get("counterparty") or "") if received else ""
        agency = self.organization(partner) if partner else self.agency
        performer = None
        if acq.acquired_by:
            if intake is not None and intake.partner == partner and \
                    (intake.body.get("actor") or {}).get("display_name") == acq.acquired_by:
                performer = self.actor(intake)  # the officer is the user who recorded the intake
                self.relate(performer, "Has_Role", self.role("acquiring officer"))
            else:
                performer = self.person(acq.acquired_by, f"officer/{agency}/{acq.acquired_by}", agency,
                                        "acquiring officer")
        when = xsd_datetime(acq.acquired_at)
        source = self._source_device(item)
        objects = [source] if source else []
        parent = self.items.get(item.parent_id) if item.parent_id else None
        if parent is not None and parent.kind is ItemKind.DIGITAL:
            objects.append(self.observable[parent.id])
        arguments = [(name, value) for name, value in (("method", acq.method), ("seal number", acq.seal_number),
                                                       ("source device", acq.source_device),
                                                       ("source serial number", acq.source_serial)) if value]
        exhibit = str(details.get("partner_exhibit_number") or "") if received else ""
        if exhibit:
            self.partner_exhibit[item.id] = exhibit
        whose = f"exhibit {exhibit} of {partner}" if exhibit else f"exhibit {item.exhibit_number}"
        parts = [f"{'Seizure' if physical else 'Acquisition'} of {whose}"]
        if acq.acquired_by:
            parts.append(f"by {acq.acquired_by}")
        if acq.acquired_at and not when:
            parts.append(f"at {acq.acquired_at}")  # not a dateTime: kept as the officer wrote it
        parts += [f"{name}: {value}" for name, value in arguments]
        if acq.tool:
            parts.append(f"tool: {acq.tool} {acq.tool_version}".rstrip())
        result = self.record(f"acquisition/{item.id}", item, f"{whose[0].upper()}{whose[1:]} as acquired"
                             + (f", sealed under seal {acq.seal_number}" if acq.seal_number else ""),
                             when, exhibit)
        node: dict[str, Any] = {
            "@id": self.g.iri("acquisition", item.id), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "seizure" if physical else "acquisition", "uco-core:description": "; ".join(parts),
            **({"uco-action:startTime": dt(when), "uco-action:endTime": dt(when)} if when else {}),
            **({"uco-action:performer": ref(performer)} if performer else {}),
            **({"uco-action:instrument": [ref(self.tool(acq.tool, acq.tool_version, "acquisition"))]}
               if acq.tool else {}),
            **({"uco-action:object": refs(objects)} if objects else {}),
            # The file is what an acquisition produces (UCO: a result may be any object); its first provenance
            # record puts it in the chain, as CASE's "imaged" action does. A seizure produces only the record.
            "uco-action:result": refs(([] if physical else [self.observable[item.id]]) + [result]),
            **({"uco-action:location": [ref(self.location(acq.location))]} if acq.location else {}),
            "uco-action:actionStatus": "Success",
            "uco-core:objectMarking": self.item_marks([item.id]),
        }
        if arguments:
            node["uco-core:hasFacet"] = [
                {"@id": self.g.iri("argument", f"{item.id}/{name}"), "@type": "uco-action:ActionArgumentFacet",
                 "uco-action:argumentName": name, "uco-action:value": value} for name, value in arguments]
        self.g.add(node)

    # ---- custody events ---------------------------------------------------------------------------------
    def _event(self, event: _Step) -> None:
        body = event.body
        action = event.action
        ids = event.ids
        details = uco_events.body_field(body, "details")
        started = str(details.get("started_event") or "")
        if action in {"exported", "export_aborted"} and ids and started in self.extractions:
            self._finish_extraction(self.extractions[started], event, ids, details)
            return
        performer = self.actor(event)
        participants = self._participants(body, action, details)
        objects = [self.current[i] for i in ids if i in self.current]
        status = uco_events.status(body, action)
        results: list[str] = []
        # A failed verification changes what is known of the item (a record says so); a failed bundle, nothing.
        if action in _CHAINED and ids and not (status == "Fail" and action in {"bundled", "transferred"}):
            results = [self._next_record(event, i, action, details) for i in ids]
        if action == "exported" and ids:
            results += [self._copy(event, i, details) for i in ids]
        node: dict[str, Any] = {
            "@id": self.g.iri("action", event.id), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": uco_events.action_name(action),
            "uco-core:description": uco_events.describe(body, action, event.partner),
            "uco-action:startTime": dt(event.at), "uco-action:endTime": dt(event.at),
            "uco-action:performer": ref(performer), "uco-action:instrument": [ref(self.event_tool(body))],
            "uco-action:actionStatus": status,
            "uco-core:objectMarking": self.item_marks(ids),
        }
        if objects:
            node["uco-action:object"] = refs(objects)
        if results:
            node["uco-action:result"] = refs(results)
        if participants:
            node["uco-action:participant"] = refs(participants)
        if body.get("location"):
            node["uco-action:location"] = [ref(self.location(str(body["location"])))]
        if body.get("authority"):
            node["case-investigation:relevantAuthorization"] = [ref(self.authorization(str(body["authority"])))]
        if action == "export_started" and ids:
            del node["uco-action:endTime"]
            node["uco-action:actionStatus"] = "Ongoing"  # until its exported / export_aborted event
            self.extractions[event.id] = node
        self.g.add(node)

    def _next_record(self, event: _Step, item_id: str, action: str, details: dict[str, Any]) -> str:
        item = self.items[item_id]
        # Until we receive it, an item a partner sent is in their custody under their exhibit number.
        exhibit = self.partner_exhibit.get(item_id, "") if event.partner else ""
        return self.record(f"{event.id}/{item_id}", item, uco_events.state(event.body, action, details, item, exhibit),
                           event.at, exhibit)

    def _finish_extraction(self, node: dict[str, Any], event: _Step, ids: list[str],
                           details: dict[str, Any]) -> None:
        """The end of an extraction makes one action with its start: the end time, status and copy."""
        body = event.body
        node["uco-action:endTime"] = dt(event.at)
        node["uco-action:actionStatus"] = uco_events.status(body, event.action)
        node["uco-core:description"] += f". {uco_events.describe(body, event.action, event.partner)}"
        if event.action == "exported":
            results = [self._next_record(event, i, "exported", details) for i in ids]
            node["uco-action:result"] = refs(results + [self._copy(event, i, details) for i in ids])

    def _copy(self, event: _Step, item_id: str, details: dict[str, Any]) -> str:
        """The file an extraction wrote outside the vault: a new observable derived from the item."""
        item = self.items[item_id]
        destination = str(details.get("destination") or "")
        digests = event.body.get("hashes") or {}
        facets: list[dict[str, Any]] = [{
            "@id": self.g.iri("file-facet", f"{event.id}/{item_id}"), "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": destination.rsplit("/", 1)[-1] or item.original_name,
            **({"uco-observable:filePath": destination} if destination else {})}]
        if digests:
            facets.append({"@id": self.g.iri("content-facet", f"{event.id}/{item_id}"),
                           "@type": "uco-observable:ContentDataFacet",
                           "uco-observable:hash": hashes(self.g, f"{event.id}/{item_id}", digests)})
        marks = self.item_marks([item_id])
        copy = self.g.add({"@id": self.g.iri("copy", f"{event.id}/{item_id}"), "@type": "uco-observable:File",
                           "uco-core:name": f"Extracted copy of exhibit {item.exhibit_number}",
                           "uco-core:hasFacet": facets, "uco-core:objectMarking": marks,
                           "case-investigation:wasDerivedFrom": [ref(self.observable[item_id])]})
        return self.g.add({"@id": self.g.iri("provenance", f"copy/{event.id}/{item_id}"), "@type": _PROVENANCE,
                           "case-investigation:exhibitNumber": item.exhibit_number,
                           "case-investigation:rootExhibitNumber": [self.root_exhibit.get(item_id,
                                                                                          item.exhibit_number)],
                           "uco-core:description": f"Copy of exhibit {item.exhibit_number} written to "
                                                   f"{destination or 'a file'} outside the vault",
                           "uco-core:objectCreatedTime": dt(event.at),
                           "uco-core:object": [ref(copy)], "uco-core:objectMarking": marks})

    def _participants(self, body: dict[str, Any], action: str, details: dict[str, Any]) -> list[str]:
        """Who else took part: the persons of a hand-over, the partner agencies of a transfer."""
        counterparty = str(body.get("counterparty") or "")
        if action in {"checked_out", "checked_in"}:
            # The releasing and the receiving person; the recording user is the performer already.
            names = [str(details.get("releasing") or ""), str(details.get("receiving") or ""), counterparty]
            actor = body.get("actor") or {}
            return [self.person(n, f"name/{n}", None) for n in dict.fromkeys(names)
                    if n and n != actor.get("display_name")]
        if not counterparty:
            return []
        bundle = str(details.get("bundle_id") or "")
        if action == "transferred" and bundle in self.bundle_parties:
            return self.bundle_parties[bundle]  # the agencies its "bundled" events name
        parties = uco_events.parties(counterparty)
        if len(parties) == 1 and not uco_events.is_agency(parties[0]):
            # Not an agency as the services name one ("Name (CC)"): a person or body we know only by name.
            return [self.g.add({"@id": self.g.iri("identity", counterparty), "@type": "uco-identity:Identity",
                                "uco-core:name": counterparty})]
        found = [self.organization(p) for p in parties]
        if bundle and action == "bundled":
            self.bundle_parties.setdefault(bundle, found)
        return found
