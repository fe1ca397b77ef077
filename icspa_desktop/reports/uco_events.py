"""How the CASE/UCO export reads a custody event: the fields of its body, the partner agencies a counterparty
names, and the English of the action (its name, its UCO status, its description and the state of custody
after it: the provenance record's description). Pure functions of the event body, no graph.
"""

from __future__ import annotations

import re
from typing import Any

_NAMES = {"acquired": "intake", "verified": "verification", "checked_out": "check-out", "checked_in": "check-in",
          "export_started": "extraction", "export_aborted": "extraction", "bundled": "transfer-prepare",
          "transferred": "transfer-send", "imported": "transfer-receive", "released": "release",
          "disposed": "disposal", "access_denied": "access denied"}
# "Name (CC)" as the services write a partner agency in a counterparty (country codes are two letters).
_PARTY = re.compile(r"\s*(.+?\([A-Za-z]{2}\))\s*(?:,|$)")


def body_field(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A JSON object field of an event body (``details``, ``tool``), empty when absent or not an object."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def parties(counterparty: str) -> list[str]:
    """``"BKA (DE), Politie NL (NL)"`` → each agency; anything else stays one party."""
    found = [p.strip() for p in _PARTY.findall(counterparty)]
    return found if found and ", ".join(found) == counterparty.strip() else [counterparty.strip()]


def is_agency(party: str) -> bool:
    """``party`` names an agency as the services write one: "Name (CC)"."""
    return _PARTY.fullmatch(party) is not None


def action_name(action: str) -> str:
    """The action's name in the export (CASE's Forensic Lifecycle words where there is one)."""
    return _NAMES.get(action, action.replace("_", " "))


def status(body: dict[str, Any], action: str) -> str:
    """UCO ActionStatusTypeVocab: a failed check or hand-over is a Fail, a broken one an Error."""
    result = str(body.get("result") or "")
    if action == "verified":
        return "Success" if result == "ok" else "Fail"
    if action == "export_aborted":
        return "Fail" if result == "cancelled" else "Error"
    if action == "access_denied" or (action in {"bundled", "transferred"} and "failed" in result):
        return "Fail"
    return "Success"


def state(body: dict[str, Any], action: str, details: dict[str, Any], item: Any, number: str = "") -> str:
    """The state of custody after an event, in one sentence (the provenance record's description)."""
    exhibit = f"Exhibit {number or item.exhibit_number}"
    counterparty = str(body.get("counterparty") or "")
    bundle = str(details.get("bundle_id") or "")
    event = f" (custody event {body.get('id')})"
    if action == "acquired":
        digests = ", ".join(f"{k} {v}" for k, v in sorted((body.get("hashes") or {}).items()))
        return f"{exhibit} held in the evidence vault" + (f"; digests at intake: {digests}" if digests else "") + event
    if action == "verified" and body.get("result") == "ok":
        return f"{exhibit} verified intact: its content matches the digests recorded at acquisition{event}"
    if action == "verified":
        return f"{exhibit} FAILED verification: {body.get('notes') or 'its content does not match'}{event}"
    if action == "checked_out":
        holder = str(details.get("receiving") or counterparty)
        why = f" for {body['purpose']}" if body.get("purpose") else ""
        return f"{exhibit} checked out to {holder}{why}{event}"
    if action == "checked_in":
        where = str(details.get("storage_location") or body.get("location") or "storage")
        return f"{exhibit} checked in at {where}, handed back by {details.get('releasing') or counterparty}{event}"
    if action == "exported":
        return f"{exhibit} still held in the evidence vault after a copy was extracted{event}"
    if action == "bundled":
        return f"{exhibit}: a copy prepared for {counterparty} in bundle {bundle}{event}"
    if action == "transferred":
        return f"{exhibit}: a copy sent to {counterparty} in bundle {bundle}{event}"
    if action == "imported":
        theirs = details.get("partner_exhibit_number")
        return (f"{exhibit} received from {counterparty} in bundle {bundle}"
                + (f" (their exhibit {theirs})" if theirs else "") + f", verified and stored{event}")
    return f"{exhibit} {action.replace('_', ' ')}{event}"


def describe(body: dict[str, Any], action: str, partner: str = "") -> str:
    """The event in one line: its id and action, then each field of its body that says something."""
    whose = f" of {partner}" if partner else ""
    parts = [f"Custody event{whose} {body.get('id')}: {action.replace('_', ' ')}"]
    for key in ("purpose", "authority", "counterparty", "result", "notes"):
        if body.get(key):
            parts.append(f"{key}: {body[key]}")
    details = body_field(body, "details")
    for key in ("bundle_id", "bundle_sha256", "sender_fingerprint", "signed_at", "partner_exhibit_number",
                "destination", "format", "file_name"):
        if details.get(key):
            parts.append(f"{key.replace('_', ' ')}: {details[key]}")
    expected = details.get("expected")
    for name, value in sorted((body.get("hashes") or {}).items()):
        parts.append(f"{name} {value}")
        if isinstance(expected, dict) and expected.get(name) not in (None, value):
            parts.append(f"expected {name} {expected[name]}")
    return "; ".join(parts)
