"""The result of "Verify custody": a green summary, or every damage explained in plain language."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from icspa_desktop.custody.verify import Damage, DamageKind
from icspa_desktop.services.custody_verify import VerifyReport

# What each kind of damage means for an investigator (the report's message says precisely where).
EXPLANATIONS: dict[DamageKind, str] = {
    DamageKind.BAD_SIGNATURE: "The event's content no longer matches its actor's signature: the event was edited "
                              "after it was recorded, or its signature was altered.",
    DamageKind.UNKNOWN_KEY: "The event is signed with a key that belongs to no user of this vault: it was not "
                            "recorded by this application.",
    DamageKind.WRONG_ACTOR_KEY: "The event is signed with another user's key than the actor it names: someone "
                                "recorded it in another person's name.",
    DamageKind.KEY_NOT_VALID: "The event is signed with a key that was not valid at the event's time (before it was "
                              "issued or after it was retired).",
    DamageKind.LEAF_MISMATCH: "The stored hash of the event in the Merkle log does not match the event: the event, "
                              "its signature or its log entry was altered.",
    DamageKind.INDEX_MISMATCH: "The event's position in the log was changed: events were reordered, inserted or "
                               "renumbered.",
    DamageKind.MALFORMED: "The stored event cannot be read as a custody event: it was damaged or written by "
                          "something other than this application.",
    DamageKind.GAP: "Events are missing from the log: some were deleted.",
    DamageKind.CHECKPOINT_SIGNATURE: "A stored checkpoint's agency signature is not valid: the checkpoint was "
                                     "altered or signed by another key.",
    DamageKind.CHECKPOINT_MALFORMED: "A stored checkpoint is damaged or its recorded size/root was edited.",
    DamageKind.TRUNCATED: "The log is shorter than it was when a checkpoint was signed: events at its end were "
                          "removed, or an older copy of the vault was restored.",
    DamageKind.INCONSISTENT: "The log is no longer an extension of a signed checkpoint: history that was already "
                             "signed has been rewritten (events altered, inserted, deleted or reordered).",
    DamageKind.ROLLBACK: "The vault is older than the external witness checkpoint: an older copy of the vault was "
                         "restored (rollback).",
    DamageKind.FORK: "The vault's log and the external witness disagree about the same history: the history was "
                     "forked.",
    DamageKind.WITNESS_INVALID: "The external witness checkpoint file is damaged or its signature is not valid.",
    DamageKind.STATE_MISMATCH: "The record of the last successful verification does not fit the log: the log "
                               "changed behind the application's back.",
}

_WITNESS = {"ok": "the external witness checkpoint matches the log",
            "absent": "no external witness checkpoint was found",
            "damaged": "the external witness checkpoint does NOT match"}


def explain(kind: DamageKind) -> str:
    return EXPLANATIONS.get(kind, "The custody log is damaged.")


def damage_location(damage: Damage, event_ids: Mapping[int, str]) -> str:
    """"Event #12 (id …)", "Checkpoint 3", or "The log" — where the damage is."""
    parts = []
    if damage.checkpoint_id is not None:  # its event index is where the mismatch may begin, not one event
        parts.append(f"Checkpoint {damage.checkpoint_id}")
        if damage.event_index is not None:
            parts.append(f"events from #{damage.event_index} on")
    elif damage.event_index is not None:
        event_id = damage.event_id or event_ids.get(damage.event_index, "")
        parts.append(f"Event #{damage.event_index}" + (f" (id {event_id})" if event_id else ""))
    elif damage.event_id:
        parts.append(f"Event {damage.event_id}")
    return " · ".join(parts) or "The log as a whole"


def _facts_html(report: VerifyReport) -> str:
    e = html.escape
    witness = _WITNESS.get(report.witness_status, report.witness_status)
    if report.witness_size is not None and report.witness_status == "ok":
        witness += f" (it covers the first {report.witness_size} events)"
    rows = [
        ("Events", f"{report.tree_size} in the log; {report.events_checked} checked ({report.mode} verification)"),
        ("Signed checkpoints", f"{report.checkpoints_checked} checked against the log"),
        ("External witness", witness[:1].upper() + witness[1:]),
        ("Witness file", report.witness_path or "—"),
        ("Duration", f"{report.seconds:.2f} s"),
    ]
    return ("<table cellspacing='0' cellpadding='3'>"
            + "".join(f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in rows) + "</table>")


def report_html(report: VerifyReport, event_ids: Mapping[int, str] | None = None) -> str:
    """The report for the dialog: damages grouped by where they are, each kind explained, then the facts."""
    e = html.escape
    ids = event_ids or {}
    parts = []
    if not report.ok:
        parts.append(f"<p><b>{len(report.damages)} problem(s) found.</b> Do not rely on the affected records "
                     "before the damage is explained; keep this vault as it is for examination.</p>")
        groups: dict[str, list[Damage]] = {}
        for damage in report.damages:
            groups.setdefault(damage_location(damage, ids), []).append(damage)
        for location, damages in groups.items():
            parts.append(f"<h4 style='color:#a4161a'>{e(location)}</h4><ul>")
            for damage in damages:
                parts.append(f"<li><p><b>{e(str(damage.kind).replace('_', ' '))}</b>: {e(explain(damage.kind))}"
                             f"<br><span style='color:#5a6470'>{e(damage.message)}</span></p></li>")
            parts.append("</ul>")
        parts.append("<h4>What was checked</h4>")
    parts.append(_facts_html(report))
    if report.notes:
        parts.append("<h4>Notes</h4><ul>" + "".join(f"<li>{e(note)}</li>" for note in report.notes) + "</ul>")
    return "".join(parts)


class VerifyResultDialog(QDialog):
    """Shows one VerifyReport; ``summary`` is green when the log is intact, red otherwise."""

    def __init__(self, report: VerifyReport, event_ids: Mapping[int, str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verifyResultDialog")
        self.report = report
        self.setWindowTitle("Custody verification")
        self.resize(740, 380 if report.ok else 660)
        if report.ok:
            headline = f"The chain of custody is intact: all {report.tree_size} events verified."
        else:
            headline = f"The chain of custody is damaged: {len(report.damages)} problem(s) found."
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
