"""Bundle import (DESIGN §5, issue 10): verify everything before anything touches the vault.

``prepare_import`` reads the bundle once: age decrypts as a stream into our own tar walk, payload files go
straight into the blob store's *staging* (encrypted under fresh blob keys, never plaintext on disk), and
every layer is checked — seal, decryption, archive shape, the sender's CMS signature and key status at
signing time, recipients, manifests, metadata records, custody proofs and the consistency of the
partner's log with what we hold, markings. The result is a report the user can read before confirming;
``commit_import`` then publishes the staged blobs and writes everything in one transaction, and
``PreparedImport.discard`` removes the staging when the user declines or anything failed. A refused
bundle leaves the database and the blob store exactly as they were.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop import pipeline
from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.bundle import records
from icspa_desktop.bundle.format import TAGMANIFEST
from icspa_desktop.bundle.tarwalk import DEFAULT_LIMITS, Limits, shown_name
from icspa_desktop.crypto import keys
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.agency import Partner, PartnerStatus
from icspa_desktop.domain.enums import CaseStatus, CustodyAction
from icspa_desktop.domain.errors import Conflict, RefusedInput, Text, UsageError, _, english, ngettext
from icspa_desktop.domain.evidence import Item, ItemFields, ItemKind
from icspa_desktop.domain.ids import ItemId, new_case_id, new_item_id
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, Steps, no_progress
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.services import agency, cases, evidence, import_staging, partner_custody, partners
from icspa_desktop.services.import_staging import Staging
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.blobs import BlobStore

SPACE_MARGIN = 64 << 20
# The checks' names are keys of --json and of the stored row: English there; the import wizard and the CLI's text
# output show them in the reader's language (``CHECK_NAMES.shown(name)``).
CHECK_NAMES = Phrasebook(N_("Outer seal"), N_("Decryption"), N_("Archive"), N_("Signature"), N_("Recipients"),
                         N_("Manifests"), N_("Items"), N_("Markings"), N_("Custody"))


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    detail: str


@dataclass(slots=True)
class PreparedImport:
    """A bundle fully verified and staged; nothing in the database yet."""

    path: Path
    bundle_id: str
    sha256: str
    content_sha256: str
    size: int
    partner: Partner
    signed_at: datetime
    bag_info: list[tuple[str, str]]
    case: records.PartnerCase
    items: list[records.PartnerItem]
    custody: records.PartnerCustody
    verdict: partner_custody.CustodyVerdict
    checks: list[Check]
    target_case: Case | None  # the local case it goes into; None: a new case is created
    new_case_number: str
    known_items: dict[str, str]  # partner item id -> local item id, for items imported before
    already_imported: str  # "": new; else when and into which case it was imported before
    staging: Staging = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    def discard(self) -> None:
        """Throw the staged payload away (the user declined, or the import failed)."""
        self.staging.discard()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.bundle_id, "path": str(self.path), "sha256": self.sha256, "size": self.size,
            "sender": {"name": self.partner.name, "country": self.partner.country,
                       "fingerprint": self.partner.fingerprint},
            "signed_at": self.signed_at.isoformat(), "case": {"number": self.case.number, "title": self.case.title},
            "target_case": self.target_case.number if self.target_case else self.new_case_number,
            "items": [{"id": i.id, "exhibit_number": i.exhibit_number, "name": i.name, "size": i.size,
                       "sha256": i.sha256, "handling": str(i.markings.handling_code), "tlp": str(i.markings.tlp),
                       "new": i.id not in self.known_items} for i in self.items],
            "custody": {"events": self.verdict.events, "checkpoint_size": self.verdict.size,
                        "linked_to": self.verdict.linked_to},
            "checks": [{"name": c.name, "result": "pass", "detail": english(c.detail)} for c in self.checks],
            "already_imported": self.already_imported,
            "warnings": [english(w) for w in self.warnings],  # JSON output stays English
        }


def _summary(problems: list[str]) -> str:
    if len(problems) > 1:
        return ngettext("The bundle is refused: {first} ({n} more problem(s): 'icspa bundle verify' lists them)",
                        "The bundle is refused: {first} ({n} more problem(s): 'icspa bundle verify' lists them)",
                        len(problems) - 1, first=problems[0])
    return _("The bundle is refused: {first}", first=problems[0])


def _check_space(session: Session, volumes: list[Path]) -> None:
    need = sum(v.stat().st_size for v in volumes) + SPACE_MARGIN
    free = shutil.disk_usage(session.vault.layout.root).free
    if free < need:
        raise RefusedInput(_("The vault's disk has {free:,} bytes free; importing this bundle needs about {need:,}. "
                             "Nothing was imported.", free=free, need=need))


def prepare_import(session: Session, path: Path, case_ref: str | None = None, *, limits: Limits = DEFAULT_LIMITS,
                   progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> PreparedImport:
    """Verify ``path`` completely and stage its payload; RefusedInput (nothing kept) if anything is wrong.

    ``limits``: bounds on members, sizes and tag files held in memory, checked before anything is read."""
    session.require(Permission.IMPORT_BUNDLE, attempted=f"import the bundle {path.name}")
    target = cases.get_case(session, case_ref) if case_ref else None
    if target is not None and target.status is not CaseStatus.OPEN:
        raise UsageError(_("Case {number} is closed; reopen it or import into a new case.", number=target.number))
    ours = agency.own_fingerprints(session)
    secrets = agency.age_identities(session)
    own = agency.agency_certificates(session)
    known = partners.list_partners(session)
    path, volumes = bundle_reader.bundle_volumes(path)  # NAME, also when its first volume NAME.001 is given
    _check_space(session, volumes)
    staging = Staging(BlobStore(session.vault.layout))
    try:
        check = bundle_reader.check_bundle(path, secrets, [*own, *(p.certificate for p in known)],
                                           limits=limits, at_signing_time=True, payload_sink=staging.open,
                                           sink_holds=import_staging.HELD_BLOCKS,
                                           keep_tag=records.READ_ON_IMPORT.__contains__,
                                           progress=progress, cancel=cancel)
        staging.finish()  # every staged file written and closed (or why not) before anything is judged
        # The records and the partner's custody proofs are read once the stream is authenticated: half a second for
        # 1,000 items, several for 10,000; the bar says so instead of standing at 100 % under the stream's label.
        progress(check.size, check.size, _("Checking the records and the partner's custody proofs"))
        prepared = _verify(session, path, check, ours, own, known, target, staging,
                           cancel or CancelToken())
    except BaseException:
        staging.discard()
        raise
    return prepared


def _signer(check: bundle_reader.BundleCheck, own: list[Any], known: list[Partner]) -> Partner:
    if any(check.signer == cert for cert in own):
        raise RefusedInput(_("This bundle was signed by this agency itself (our own copy of a bundle we sent); only "
                             "bundles from partner agencies are imported. 'icspa bundle verify' checks it."))
    partner = next((p for p in known if p.certificate == check.signer), None)
    if partner is None:  # cannot happen: the reader trusts only these certificates
        raise RefusedInput(_("The bundle's signer is not a known partner agency."))
    signed_at = check.signed_at or datetime.now(UTC)
    who = f"{partner.name} ({partner.country}, {partner.fingerprint})"
    if partner.status is PartnerStatus.REVOKED:
        raise RefusedInput(_("The bundle is signed with the key of {who}, which was revoked{on}: {reason}. "
                             "Bundles signed with a revoked key are refused whatever their date.",
                             who=who, on=_on(partner.status_changed), reason=partner.status_reason))
    if partner.status is PartnerStatus.SUPERSEDED and (partner.status_changed is None
                                                       or signed_at >= partner.status_changed):
        raise RefusedInput(_("The bundle is signed with a key of {who} that had been replaced by a newer one{on} "
                             "before it signed ({signed_at:%Y-%m-%d %H:%M} UTC).",
                             who=who, on=_on(partner.status_changed), signed_at=signed_at))
    if partner.card_expires is not None and signed_at > partner.card_expires:
        raise RefusedInput(_("The bundle was signed on {signed_at:%Y-%m-%d} with the key of {who}, whose card "
                             "expired on {card_expires:%Y-%m-%d}; ask the partner for their new card.",
                             signed_at=signed_at, who=who, card_expires=partner.card_expires))
    return partner


def _on(moment: datetime | None) -> str:
    # A clause inside the refusals below, its leading space included: " on 2026-03-14".
    return _(" on {date:%Y-%m-%d}", date=moment) if moment else ""


def _field(info: list[tuple[str, str]], label: str) -> str:
    """A bag-info.txt field; labels compared without case, as the bundle reader does."""
    return next((value for key, value in info if key.casefold() == label.casefold()), "")


def _verify(session: Session, path: Path, check: bundle_reader.BundleCheck, ours: list[str], own: list[Any],
            known: list[Partner], target: Case | None, staging: Staging, cancel: CancelToken) -> PreparedImport:
    cancel.check()
    if not check.ok:
        raise RefusedInput(_summary(check.problems))
    assert check.bundle_id is not None
    assert check.signed_at is not None
    partner = _signer(check, own, known)
    # The details are shown translated; the record of the import and --json keep their English (``english``).
    seal = {state: Text(bundle_reader.shown_seal(state), text) for state, text in bundle_reader.SEAL_STATES.items()}
    checks = [Check("Outer seal", seal.get(check.seal, check.seal)),
              Check("Decryption", _("opened with this agency's key; every age chunk authenticated")),
              Check("Archive", _("{n} files, no links, devices, climbing or colliding names",
                                 n=len(check.payload) + len(check.tag_digests) + 1)),
              Check("Signature", _("signed by {name} ({country}), key {fingerprint}, on {signed_at:%Y-%m-%d %H:%M} "
                                   "UTC; key valid then", name=partner.name, country=partner.country,
                                   fingerprint=partner.fingerprint, signed_at=check.signed_at))]
    if not partners.fingerprints_match(_field(check.bag_info, "ICSPA-Sender-Agency"), partner.fingerprint):
        raise RefusedInput(_("bag-info.txt names the sender {sender}, but the bag is signed by {name} "
                             "({fingerprint}).",
                             sender=shown_name(_field(check.bag_info, 'ICSPA-Sender-Agency')), name=partner.name,
                             fingerprint=partner.fingerprint))
    # Any key we have had: a bundle sent to the one we replaced since was in transit meanwhile.
    if not any(partners.fingerprints_match(named, fp) for named in check.recipients for fp in ours):
        raise RefusedInput(_("The bundle is not addressed to this agency: the recipients named in its signed "
                             "bag-info.txt are {names}; ours is {fingerprint}.",
                             names=', '.join(check.recipients), fingerprint=ours[0]))
    recipients = ngettext("this agency is among the {n} named recipient(s)",
                          "this agency is among the {n} named recipient(s)", len(check.recipients))
    to_replaced_key = not any(partners.fingerprints_match(named, ours[0]) for named in check.recipients)
    if to_replaced_key:
        recipients = _("{recipients}, under a key we have since replaced", recipients=recipients)
    checks.append(Check("Recipients", recipients))
    checks.append(Check("Manifests", _("{payload} payload and {tags} tag files match their SHA-256 manifests",
                                       payload=len(check.payload), tags=len(check.tag_digests))))
    for name in (records.CASE_JSON, records.ITEMS_JSON, records.CUSTODY_JSON):
        if name not in check.tag_files:
            raise RefusedInput(_("The bundle has no {name}; it is not an ICSPA evidence bundle.", name=name))
    case = records.parse_case(check.tag_files[records.CASE_JSON])
    items = records.parse_items(check.tag_files[records.ITEMS_JSON])
    cancel.check()
    custody = records.parse_custody(check.tag_files[records.CUSTODY_JSON])
    cancel.check()
    if _field(check.bag_info, "ICSPA-Case-Number") != case.number:
        raise RefusedInput(_("bag-info.txt and metadata/case.json name different case numbers."))
    payload = {name: (size, digest) for name, size, digest in check.payload}
    if set(payload) != {i.id for i in items}:
        raise RefusedInput(_("The payload files under data/ and the item records of metadata/items.json do not match "
                             "one to one."))
    for item in items:
        if payload[item.id] != (item.size, item.sha256):
            raise RefusedInput(_("Item {exhibit}: its record states another size or SHA-256 than its payload file "
                                 "has.", exhibit=shown_name(item.exhibit_number)))
    checks.append(Check("Items", ngettext("{n} item record(s); every size and SHA-256 matches its payload",
                                          "{n} item record(s); every size and SHA-256 matches its payload",
                                          len(items))))
    handling = " ".join(sorted({str(i.markings.handling_code) for i in items}))
    tlp = " ".join(sorted({str(i.markings.tlp) for i in items}))
    if (_field(check.bag_info, "ICSPA-Handling-Codes"), _field(check.bag_info, "ICSPA-TLP")) != (handling, tlp):
        raise RefusedInput(_("The markings in bag-info.txt (handling codes, TLP) differ from those of the items."))
    checks.append(Check("Markings", _("handling {handling}, TLP {tlp}; the same in bag-info.txt and the records",
                                      handling=handling, tlp=tlp)))
    verdict = partner_custody.verify(session.conn, custody, partner, case.id, {i.id for i in items}, cancel)
    cancel.check()
    checks.append(Check("Custody", ngettext(
        "{n} partner event(s) signed and included in their checkpoint of {size} events; first bundle from this log",
        "{n} partner event(s) signed and included in their checkpoint of {size} events; first bundle from this log",
        verdict.events, size=verdict.size) if verdict.linked_to is None else ngettext(
        "{n} partner event(s) signed and included in their checkpoint of {size} events; extends the checkpoint of "
        "{held} events we hold",
        "{n} partner event(s) signed and included in their checkpoint of {size} events; extends the checkpoint of "
        "{held} events we hold", verdict.events, size=verdict.size, held=verdict.linked_to)))
    prepared = _place(session, path, check, partner, case, items, custody, verdict, checks, target, staging)
    if to_replaced_key:
        prepared.warnings.insert(0, _("{sender} sent this bundle to a key of ours that we have replaced since: it "
                                      "opens, but they should take our current card ({fingerprint}) for their next "
                                      "bundle.", sender=partner.name, fingerprint=ours[0]))
    return prepared


def _place(session: Session, path: Path, check: bundle_reader.BundleCheck, partner: Partner,
           case: records.PartnerCase, items: list[records.PartnerItem], custody: records.PartnerCustody,
           verdict: partner_custody.CustodyVerdict, checks: list[Check], target: Case | None,
           staging: Staging) -> PreparedImport:
    """Where the bundle goes: the case that already holds the partner's case, or ``target``, or a new case."""
    conn = session.conn
    assert check.bundle_id is not None
    assert check.signed_at is not None
    content = content_sha256(check)
    before = conn.execute("SELECT imported_at, c.number, b.content_sha256 FROM bundles_received b LEFT JOIN cases c"
                          " ON c.id = b.case_id WHERE b.id = ?", (check.bundle_id,)).fetchone()
    if before is not None and before[2] and str(before[2]) != content:  # '': recorded before schema 11 kept it
        raise RefusedInput(_("A bundle with the id {bundle_id} but other content was imported on {date}: the same "
                             "id with different content is refused (a bundle id names one bag for good).",
                             bundle_id=check.bundle_id, date=str(before[0])[:10]))
    already = f"imported on {str(before[0])[:16].replace('T', ' ')} UTC into case {before[1]}" if before else ""
    row = conn.execute("SELECT case_id FROM partner_cases WHERE partner_lineage = ? AND partner_case_id = ?",
                       (partner.lineage, case.id)).fetchone()
    if row is not None:
        holding = cases.get_case(session, str(row[0]))
        if target is not None and target.id != holding.id:
            raise UsageError(_("Bundles of this partner case went into case {number} before; import it there (leave "
                               "out --case).", number=holding.number))
        target = holding
    known_items: dict[str, str] = {}
    for item in items:
        found = conn.execute("SELECT i.item_id, it.sha256 FROM imported_items i JOIN items it ON it.id = i.item_id"
                             " WHERE i.partner_lineage = ? AND i.partner_item_id = ?",
                             (partner.lineage, item.id)).fetchone()
        if found is not None:
            if str(found[1]) != item.sha256:
                raise RefusedInput(_("The partner's item {exhibit} arrived before with other content (another "
                                     "SHA-256); the bundle is refused.", exhibit=shown_name(item.exhibit_number)))
            known_items[item.id] = str(found[0])
    new_case_number = ""
    if target is None:
        new_case_number = _free_case_number(session, case.number, partner)
        _new_case_fields(case, new_case_number)
    warnings: list[str] = []
    if known_items and not already:
        warnings.append(ngettext("{n} item(s) arrived in an earlier bundle and are not stored twice.",
                                 "{n} item(s) arrived in an earlier bundle and are not stored twice.",
                                 len(known_items)))
    return PreparedImport(
        path=path, bundle_id=check.bundle_id, sha256=check.sha256, content_sha256=content, size=check.size,
        partner=partner,
        signed_at=check.signed_at, bag_info=check.bag_info, case=case, items=items, custody=custody, verdict=verdict,
        checks=checks, target_case=target, new_case_number=new_case_number,
        known_items=known_items, already_imported=already, staging=staging, warnings=warnings)


def _new_case_fields(pcase: records.PartnerCase, number: str) -> CaseFields:
    """The case an import creates for the partner's case (validated: checked when the bundle is, so a record that
    cannot be one of our cases is refused then, not when the import commits)."""
    try:
        return cases.validate(CaseFields(
            number=number, title=pcase.title, description=pcase.description,
            lead_investigator=pcase.lead_investigator, jurisdiction=pcase.jurisdiction,
            legal_authority=pcase.legal_authority, handling_code=pcase.markings.handling_code,
            handling_text=pcase.markings.handling_text, tlp=pcase.markings.tlp))
    except UsageError as exc:
        raise RefusedInput(_("The partner's case {number} cannot be a case in this vault: {error}",
                             number=shown_name(pcase.number), error=exc)) from None


def content_sha256(check: bundle_reader.BundleCheck) -> str:
    """What identifies a bag's content: the SHA-256 of its signed tag manifest, which covers every file of it
    (the file's own hash changes when the same bag is encrypted again)."""
    return hashlib.sha256(check.tag_files.get(TAGMANIFEST, b"")).hexdigest()


def _free_case_number(session: Session, number: str, partner: Partner) -> str:
    """The partner's case number (as our cases keep it: stripped), or with the partner's country and a count when
    ours is taken, shortened to fit the limit (a 64-character number once got " (NL)" and then failed to commit)."""
    number = number.strip()

    def fitted(suffix: str) -> str:
        return number[:cases.MAX_NUMBER_LEN - len(suffix)].rstrip() + suffix

    suffixed = f" ({partner.country})"
    candidates = [number, fitted(suffixed), *(fitted(f"{suffixed} #{n}") for n in range(2, 100))]
    for candidate in candidates:
        if session.conn.execute("SELECT 1 FROM cases WHERE number = ?", (candidate,)).fetchone() is None:
            return candidate
    raise Conflict(_("No free case number for the partner's case {number}.", number=number))


# ---- commit ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImportResult:
    bundle_id: str
    case: Case
    added: list[Item]
    already_present: int  # items that came in an earlier bundle
    partner_events_added: int
    already_imported: str  # "": this import changed the vault; else why nothing changed

    def to_json(self) -> dict[str, Any]:
        return {"id": self.bundle_id, "case": self.case.number, "case_id": self.case.id,
                "items": [evidence.item_to_json(i) for i in self.added], "already_present": self.already_present,
                "partner_events_added": self.partner_events_added, "already_imported": self.already_imported,
                "changed": not self.already_imported}


def commit_import(session: Session, prepared: PreparedImport, *,
                  progress: ProgressCallback = no_progress) -> ImportResult:
    """Publish the staged payload and write the case, items, partner custody and our events in one
    transaction; on any failure nothing stays (published blobs are removed again). ``progress`` counts steps
    (``Steps``): one per item written, then the partner's events, our signed events and the commit — a
    10,000-item import takes several seconds here. The transaction cannot be cancelled halfway."""
    session.require(Permission.IMPORT_BUNDLE, attempted=f"import the bundle {prepared.bundle_id}")
    staging = prepared.staging
    if prepared.already_imported:
        prepared.discard()
        row = session.conn.execute("SELECT case_id FROM bundles_received WHERE id = ?",
                                   (prepared.bundle_id,)).fetchone()
        return ImportResult(prepared.bundle_id, cases.get_case(session, str(row[0])), [], len(prepared.items), 0,
                            f"This bundle was {prepared.already_imported}; nothing was changed.")
    fresh = [i for i in prepared.items if i.id not in prepared.known_items]
    for item in prepared.items:
        if item.id in prepared.known_items:
            with contextlib.suppress(OSError):
                staging.payloads.pop(item.id).discard()
    blob_ids = [staging.payloads[i.id].blob_id for i in fresh]

    made: list[str] = []  # fan-out folders of the store the publish creates: removed again on failure

    def publish() -> None:
        staging.store.sync_staging(blob_ids)
        staging.store.publish_many(blob_ids, made)

    # The blobs are made durable and moved into the store while the rows are written; the transaction
    # commits only once they are in place (``_write`` waits before its end), so no row names a missing blob.
    publishing = pipeline.Pending(publish, "import-publish")
    try:
        case, item_ids, events_added = _write(session, prepared, fresh, publishing.wait, progress)
    except BaseException:
        publishing.join()  # nothing is removed while it may still be moving blobs
        for blob_id in blob_ids:
            with contextlib.suppress(OSError):
                staging.store.remove(blob_id)
        with contextlib.suppress(OSError):
            staging.store.remove_folders(made)  # the import holds the vault's writes: nobody else publishes now
        raise
    finally:
        staging.payloads.clear()
    return ImportResult(prepared.bundle_id, case, evidence.items_by_ids(session, item_ids),
                        len(prepared.known_items), events_added, "")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _write(session: Session, p: PreparedImport, fresh: list[records.PartnerItem],
           before_commit: Callable[[], None], progress: ProgressCallback) -> tuple[Case, list[ItemId], int]:
    """Everything of the import in one transaction; ``before_commit`` runs last inside it (raising rolls back)."""
    now = _now()
    wrapping = session.vault.subkey(keys.PURPOSE_BLOB_KEYS)
    partner, pcase = p.partner, p.case
    counterparty = f"{partner.name} ({partner.country})"
    provenance = {"bundle_id": p.bundle_id, "bundle_sha256": p.sha256, "sender_fingerprint": partner.fingerprint,
                  "signed_at": p.signed_at.isoformat(),
                  "checkpoint": {"origin": p.verdict.origin, "size": p.verdict.size,
                                 "root": base64.b64encode(p.verdict.root).decode("ascii")}}
    local_ids = {pid: ItemId(lid) for pid, lid in p.known_items.items()}
    with session.transaction() as conn:
        if p.target_case is None:
            case_id = new_case_id()
            fields = _new_case_fields(pcase, p.new_case_number)
            cases.insert_case_row(conn, case_id, fields, now, session.user.id)
            session.record(EventDraft(CustodyAction.CASE_CREATED, case_id=case_id, counterparty=counterparty,
                                      authority=fields.legal_authority, result="created by bundle import",
                                      details={"fields": cases.fields_json(fields), "imported_from": provenance,
                                               "partner_case": {"id": pcase.id, "number": pcase.number}}))
        else:
            case_id = p.target_case.id
        conn.execute("INSERT OR IGNORE INTO partner_cases (partner_lineage, partner_case_id, case_id,"
                     " created_by_import, partner_case_number, partner_name, partner_country, record)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (partner.lineage, pcase.id, case_id, int(p.target_case is None), pcase.number, partner.name,
                      partner.country, json.dumps(pcase.record, ensure_ascii=False, sort_keys=True)))
        case = cases.get_case(session, case_id)
        taken = {str(r[0]) for r in conn.execute("SELECT exhibit_number FROM items WHERE case_id = ?", (case_id,))}
        for item in fresh:
            local_ids[item.id] = new_item_id()
        received: list[EventDraft] = []
        steps = len(fresh) + 3  # the items, then the partner's events, our events, the commit
        writing = Steps(_("Writing the item records"))
        progress(0, steps, writing)
        for written, item in enumerate(records.parents_first(fresh), 1):
            item_id = local_ids[item.id]
            staged = p.staging.payloads[item.id]
            exhibit = _free_exhibit(item.exhibit_number, partner.country, taken)
            evidence.insert_blob_row(conn, wrapping, staged.blob_id, item_id, staged.key, staged.chunk,
                                     item.size, staged.stored_size, now)
            item_fields = ItemFields(description=item.description, markings=item.markings,
                                     acquisition=item.acquisition,
                                     parent_id=local_ids.get(item.parent_id) if item.parent_id else None)
            evidence.insert_item_row(conn, item_id, case, exhibit, ItemKind.DIGITAL, staged.blob_id, item.name,
                                     item.original_path, item.size, item.hashes, item.mime_type, item_fields,
                                     item.markings, item.acquisition.acquired_by, item.acquisition.acquired_at,
                                     session.user.id, now)
            conn.execute("INSERT INTO imported_items (item_id, partner_lineage, partner_item_id,"
                         " partner_exhibit_number, partner_name, bundle_id, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (item_id, partner.lineage, item.id, item.exhibit_number, partner.name, p.bundle_id,
                          json.dumps(item.record, ensure_ascii=False, sort_keys=True)))
            received.append(EventDraft(
                CustodyAction.IMPORTED, case_id=case_id, item_ids=(item_id,), counterparty=counterparty,
                result="received, verified and stored", hashes=dict(item.hashes),
                details={**provenance, "exhibit_number": exhibit, "partner_exhibit_number": item.exhibit_number,
                         "partner_item_id": item.id, "original_name": item.name, "size": item.size,
                         "markings": evidence.markings_json(item.markings)}))
            if written % 100 == 0:
                progress(written, steps, writing)
        progress(len(fresh), steps, Steps(_("Storing the partner's custody events")))
        # Our signed events name how many of the partner's events this bundle stored, so that ``custody verify``
        # sees them deleted by direct access (each one left is re-proven against the bundle's checkpoint).
        added = _store_partner_events(conn, p, case_id, local_ids)
        for draft in received:
            draft.details["partner_events_added"] = added
        progress(len(fresh) + 1, steps, Steps(_("Signing our custody events")))
        session.record_many(received)  # one "received from P" event per item, in the order the rows were written
        partner_custody.store(conn, p.custody, p.bundle_id, now)
        if not fresh:
            session.record(EventDraft(CustodyAction.IMPORTED, case_id=case_id, counterparty=counterparty,
                                      result="received and verified; every item was already held",
                                      details={**provenance, "partner_events_added": added}))
        conn.execute(
            "INSERT INTO bundles_received (id, sha256, content_sha256, size, file_name, partner_id,"
            " partner_fingerprint, case_id, signed_at, imported_at, imported_by, checkpoint_text,"
            " checkpoint_signature, bag_info, checks, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.bundle_id, p.sha256, p.content_sha256, p.size, p.path.name, partner.id, partner.fingerprint, case_id,
             p.signed_at.isoformat(), now, session.user.id, p.custody.checkpoint.text.decode("utf-8"),
             p.custody.checkpoint.signature, json.dumps(p.bag_info, ensure_ascii=False),
             json.dumps([{"name": c.name, "detail": english(c.detail)} for c in p.checks], ensure_ascii=False),
             json.dumps([{"id": local_ids[i.id], "partner_item_id": i.id, "exhibit_number": i.exhibit_number,
                          "sha256": i.sha256, "status": "already held" if i.id in p.known_items else "added"}
                         for i in p.items])))
        committing = Steps(_("Committing"))
        progress(len(fresh) + 2, steps, committing)
        before_commit()
    progress(steps, steps, committing)
    return case, [local_ids[i.id] for i in fresh], added


def _free_exhibit(exhibit: str, country: str, taken: set[str]) -> str:
    suffixed = f"{exhibit} ({country})"
    candidates = itertools.chain((exhibit, suffixed), (f"{suffixed} #{n}" for n in range(2, 1000)))
    for candidate in candidates:
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise Conflict(_("No free exhibit number for the partner's exhibit {exhibit}.", exhibit=exhibit))


def _store_partner_events(conn: db.Connection, p: PreparedImport, case_id: str, local_ids: dict[str, ItemId]) -> int:
    """The partner's events, verbatim with their proofs; an event we hold already must be the same leaf.

    One query finds which of the bundle's events we hold (a later bundle of the same case carries the earlier
    ones again), and the new ones are written with one statement per table instead of three per event."""
    origin = p.verdict.origin
    names = p.verdict.names  # a log's events we hold may be filed under its name for an earlier key
    indices = [event.leaf_index for event in p.custody.events]
    marks = ", ".join("?" * len(names))
    held = {int(index): str(name) for name, index in conn.execute(
        f"SELECT origin, leaf_index FROM partner_events WHERE origin IN ({marks}) AND leaf_index BETWEEN ? AND ?",
        (*names, min(indices, default=0), max(indices, default=-1)))}
    events_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[str, int, ItemId]] = []
    for event in p.custody.events:
        if event.leaf_index in held:
            row = conn.execute("SELECT body, signature, public_key FROM partner_events WHERE origin = ?"
                               " AND leaf_index = ?", (held[event.leaf_index], event.leaf_index)).fetchone()
            if (bytes(row[0]), bytes(row[1]), bytes(row[2])) != (event.body_bytes, event.signature,
                                                                 event.public_key):
                raise RefusedInput(_("The partner's custody event #{index} differs from the one we hold from an "
                                     "earlier bundle: their log was rewritten.", index=event.leaf_index))
            continue
        proof = json.dumps([base64.b64encode(node).decode("ascii") for node in event.inclusion_proof])
        events_rows.append((origin, event.leaf_index, event.id, case_id, str(event.body["at"]),
                            str(event.body["action"]), event.body_bytes, event.signature, event.public_key, proof,
                            p.bundle_id))
        item_rows.extend((origin, event.leaf_index, local_ids[partner_item])
                         for partner_item in event.body.get("item_ids") or [] if partner_item in local_ids)
    conn.executemany("INSERT INTO partner_events (origin, leaf_index, event_id, case_id, at, action, body, signature,"
                     " public_key, inclusion_proof, bundle_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events_rows)
    conn.executemany("INSERT OR IGNORE INTO partner_event_items (origin, leaf_index, item_id) VALUES (?, ?, ?)",
                     item_rows)
    return len(events_rows)


@dataclass(frozen=True, slots=True)
class ReceivedBundle:
    id: str
    imported_at: str
    partner_name: str
    partner_fingerprint: str
    case_number: str
    items: int
    size: int
    sha256: str
    signed_at: str
    receipt_issued_at: str  # "" until we signed a receipt for it

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "imported_at": self.imported_at, "partner": self.partner_name,
                "partner_fingerprint": self.partner_fingerprint, "case": self.case_number, "items": self.items,
                "size": self.size, "sha256": self.sha256, "signed_at": self.signed_at,
                "receipt_issued_at": self.receipt_issued_at or None}


def list_received(session: Session) -> list[ReceivedBundle]:
    """The bundles imported from partners, oldest first."""
    session.require(Permission.READ)
    rows = session.conn.execute(
        "SELECT b.id, b.imported_at, COALESCE(p.name, b.partner_fingerprint), b.partner_fingerprint,"
        " COALESCE(c.number, b.case_id), b.items, b.size, b.sha256, b.signed_at, COALESCE(b.receipt_issued_at, '')"
        " FROM bundles_received b"
        " LEFT JOIN partners p ON p.id = b.partner_id LEFT JOIN cases c ON c.id = b.case_id"
        " ORDER BY b.imported_at").fetchall()
    return [ReceivedBundle(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), len(json.loads(r[5])), int(r[6]),
                           str(r[7]), str(r[8]), str(r[9])) for r in rows]
