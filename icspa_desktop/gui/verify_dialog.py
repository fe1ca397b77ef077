"""The result of "Verify custody": a green summary, or every damage explained in plain language."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from icspa_desktop.custody.verify import Damage, DamageKind
from icspa_desktop.i18n import N_, _, ngettext
from icspa_desktop.services.custody_verify import DAMAGE, NOTES, VerifyReport

# What each kind of damage means for an investigator (the report's message says precisely where).
EXPLANATIONS: dict[DamageKind, str] = {
    DamageKind.BAD_SIGNATURE: N_("The event's content no longer matches its actor's signature: the event was edited "
                                 "after it was recorded, or its signature was altered."),
    DamageKind.UNKNOWN_KEY: N_("The event is signed with a key that belongs to no user of this vault: it was not "
                               "recorded by this application."),
    DamageKind.WRONG_ACTOR_KEY: N_("The event is signed with another user's key than the actor it names: someone "
                                   "recorded it in another person's name."),
    DamageKind.KEY_NOT_VALID: N_("The event is signed with a key that was not valid at the event's time (before it was "
                                 "issued or after it was retired)."),
    DamageKind.LEAF_MISMATCH: N_("The stored hash of the event in the Merkle log does not match the event: the event, "
                                 "its signature or its log entry was altered."),
    DamageKind.INDEX_MISMATCH: N_("The event's position in the log was changed: events were reordered, inserted or "
                                  "renumbered."),
    DamageKind.MALFORMED: N_("The stored event cannot be read as a custody event: it was damaged or written by "
                             "something other than this application."),
    DamageKind.GAP: N_("Events are missing from the log: some were deleted."),
    DamageKind.CHECKPOINT_SIGNATURE: N_("A stored checkpoint's agency signature is not valid: the checkpoint was "
                                        "altered or signed by another key."),
    DamageKind.CHECKPOINT_MALFORMED: N_("A stored checkpoint is damaged or its recorded size/root was edited."),
    DamageKind.TRUNCATED: N_("The log is shorter than it was when a checkpoint was signed: events at its end were "
                             "removed, or an older copy of the vault was restored."),
    DamageKind.INCONSISTENT: N_("The log is no longer an extension of a signed checkpoint: history that was already "
                                "signed has been rewritten (events altered, inserted, deleted or reordered)."),
    DamageKind.ROLLBACK: N_("The vault is older than the external witness checkpoint: an older copy of the vault was "
                            "restored (rollback)."),
    DamageKind.FORK: N_("The vault's log and the external witness disagree about the same history: the history was "
                        "forked."),
    DamageKind.WITNESS_INVALID: N_("The external witness checkpoint file is damaged or its signature is not valid."),
    DamageKind.STATE_MISMATCH: N_("The record of the last successful verification does not fit the log: the log "
                                  "changed behind the application's back."),
}

_WITNESS = {"ok": N_("The external witness checkpoint matches the log"),
            "absent": N_("No external witness checkpoint was found"),
            "damaged": N_("The external witness checkpoint does NOT match")}
# Each kind of damage in words (the report's code names it, e.g. ``history_rewritten``).
KIND_NAMES: dict[DamageKind, str] = {
    DamageKind.BAD_SIGNATURE: N_("bad signature"), DamageKind.UNKNOWN_KEY: N_("unknown key"),
    DamageKind.WRONG_ACTOR_KEY: N_("wrong actor key"), DamageKind.KEY_NOT_VALID: N_("key not valid at time"),
    DamageKind.LEAF_MISMATCH: N_("leaf hash mismatch"), DamageKind.INDEX_MISMATCH: N_("index mismatch"),
    DamageKind.MALFORMED: N_("malformed event"), DamageKind.GAP: N_("missing events"),
    DamageKind.CHECKPOINT_SIGNATURE: N_("checkpoint signature"),
    DamageKind.CHECKPOINT_MALFORMED: N_("checkpoint malformed"), DamageKind.TRUNCATED: N_("log truncated"),
    DamageKind.INCONSISTENT: N_("history rewritten"), DamageKind.ROLLBACK: N_("vault rolled back"),
    DamageKind.FORK: N_("history forked"), DamageKind.WITNESS_INVALID: N_("witness invalid"),
    DamageKind.STATE_MISMATCH: N_("verification record mismatch"), DamageKind.CHAIN_BROKEN: N_("chain broken"),
    DamageKind.USER_STATE: N_("user state forged"), DamageKind.USERS_TABLE: N_("users table mismatch"),
    DamageKind.WITNESS_MISSING: N_("witness missing"),
}
_MODES = {"full": N_("full verification"), "incremental": N_("incremental verification")}


def explain(kind: DamageKind) -> str:
    known = EXPLANATIONS.get(kind)
    return _(known) if known is not None else _("The custody log is damaged.")


def kind_name(kind: DamageKind | str) -> str:
    known = KIND_NAMES.get(kind)  # type: ignore[arg-type]  # a str equal to a member finds it
    return _(known) if known is not None else str(kind).replace("_", " ")


def damage_location(damage: Damage, event_ids: Mapping[int, str]) -> str:
    """"Event #12 (id …)", "Checkpoint 3", or "The log" — where the damage is."""
    parts = []
    if damage.checkpoint_id is not None:  # its event index is where the mismatch may begin, not one event
        parts.append(_("Checkpoint {id}", id=damage.checkpoint_id))
        if damage.event_index is not None:
            parts.append(_("events from #{index} on", index=damage.event_index))
    elif damage.event_index is not None:
        event_id = damage.event_id or event_ids.get(damage.event_index, "")
        parts.append(_("Event #{index} (id {id})", index=damage.event_index, id=event_id) if event_id
                     else _("Event #{index}", index=damage.event_index))
    elif damage.event_id:
        parts.append(_("Event {id}", id=damage.event_id))
    return " · ".join(parts) or _("The log as a whole")


def _facts_html(report: VerifyReport) -> str:
    e = html.escape
    known = _WITNESS.get(report.witness_status)
    witness = _(known) if known is not None else report.witness_status[:1].upper() + report.witness_status[1:]
    if report.witness_size is not None and report.witness_status == "ok":
        witness = ngettext("{witness} (it covers the first {n} event)", "{witness} (it covers the first {n} events)",
                           report.witness_size, witness=witness)
    mode = _MODES.get(report.mode)
    rows = [
        (_("Events"), _("{total} in the log; {checked} checked ({mode})", total=report.tree_size,
                        checked=report.events_checked, mode=_(mode) if mode is not None else report.mode)),
        (_("Signed checkpoints"), _("{n} checked against the log", n=report.checkpoints_checked)),
        (_("External witness"), witness),
        (_("Witness file"), report.witness_path or "—"),
        (_("Duration"), _("{seconds} s", seconds=f"{report.seconds:.2f}")),
    ]
    return ("<table cellspacing='0' cellpadding='3'>"
            + "".join(f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in rows) + "</table>")


def report_html(report: VerifyReport, event_ids: Mapping[int, str] | None = None) -> str:
    """The report for the dialog: damages grouped by where they are, each kind explained, then the facts."""
    e = html.escape
    ids = event_ids or {}
    parts = []
    if not report.ok:
        parts.append("<p><b>" + e(ngettext("{n} problem found.", "{n} problems found.", len(report.damages)))
                     + "</b> " + e(_("Do not rely on the affected records before the damage is explained; keep this "
                                     "vault as it is for examination.")) + "</p>")
        groups: dict[str, list[Damage]] = {}
        for damage in report.damages:
            groups.setdefault(damage_location(damage, ids), []).append(damage)
        for location, damages in groups.items():
            parts.append(f"<h4 style='color:#a4161a'>{e(location)}</h4><ul>")
            for damage in damages:
                parts.append(f"<li><p><b>{e(kind_name(damage.kind))}</b>: {e(explain(damage.kind))}"
                             f"<br><span style='color:#5a6470'>{e(DAMAGE.shown(damage.message))}</span></p></li>")
            parts.append("</ul>")
        parts.append(f"<h4>{e(_('What was checked'))}</h4>")
    parts.append(_facts_html(report))
    if report.notes:
        notes = "".join(f"<li>{e(NOTES.shown(note))}</li>" for note in report.notes)
        parts.append(f"<h4>{e(_('Notes'))}</h4><ul>{notes}</ul>")
    return "".join(parts)


class VerifyResultDialog(QDialog):
    """Shows one VerifyReport; ``summary`` is green when the log is intact, red otherwise."""

    def __init__(self, report: VerifyReport, event_ids: Mapping[int, str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verifyResultDialog")
        self.report = report
        self.setWindowTitle(_("Custody verification"))
        self.resize(740, 380 if report.ok else 660)
        if report.ok:
            headline = ngettext("The chain of custody is intact: {n} event verified.",
                                "The chain of custody is intact: all {n} events verified.", report.tree_size)
        else:
            headline = ngettext("The chain of custody is damaged: {n} problem found.",
                                "The chain of custody is damaged: {n} problems found.", len(report.damages))
        self.summary = QLabel(headline)
        self.summary.setObjectName("verifySummary")
        self.summary.setProperty("intact", "true" if report.ok else "false")
        self.summary.setWordWrap(True)
        self.details = QTextBrowser()
        self.details.setObjectName("verifyDetails")
        self.details.setOpenLinks(False)
        self.details.setHtml(report_html(report, event_ids))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self.finished.connect(self._clear)

    def _clear(self, _result: int = 0) -> None:
        self.details.clear()  # closed, or the vault locked: keep no copy of what it showed

    def text(self) -> str:
        return f"{self.summary.text()}\n{self.details.toPlainText()}"
