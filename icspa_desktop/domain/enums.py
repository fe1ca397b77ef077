"""Closed sets shared by core, CLI and GUI."""

from __future__ import annotations

from enum import StrEnum

from icspa_desktop.i18n import N_


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SUPERVISOR = "supervisor"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


# A case's status as a word inside a sentence or a value ("Case 2024-0042 is already closed."): recorded and in
# --json as the token, shown in the reader's language with ``_(CASE_STATUS_WORDS[status])``.
CASE_STATUS_WORDS: dict[str, str] = {CaseStatus.OPEN: N_("open"), CaseStatus.CLOSED: N_("closed")}


class HandlingCode(StrEnum):
    """Europol handling codes."""

    H0 = "H0"  # use for crime prevention/combating only
    H1 = "H1"  # no use in judicial proceedings without the provider's permission
    H2 = "H2"  # no dissemination without the provider's permission
    H3 = "H3"  # other restrictions, stated in text


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 labels."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class SourceEvaluation(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    X = "X"


class InformationEvaluation(StrEnum):
    ONE = "1"
    TWO = "2"
    THREE = "3"
    FOUR = "4"


class CustodyAction(StrEnum):
    """Every kind of event the chain of custody records (DESIGN §3, plus administrative ones)."""

    VAULT_CREATED = "vault_created"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    PASSPHRASE_CHANGED = "passphrase_changed"
    KEY_ROTATED = "key_rotated"
    CASE_CREATED = "case_created"
    CASE_EDITED = "case_edited"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    ACQUIRED = "acquired"
    VIEWED = "viewed"
    EXPORTED = "exported"
    EXPORT_STARTED = "export_started"  # before the first plaintext byte of an extraction is written
    EXPORT_ABORTED = "export_aborted"  # an extraction failed, was cancelled, or was found interrupted by a crash
    VERIFIED = "verified"
    ANNOTATED = "annotated"
    MARKING_CHANGED = "marking_changed"
    CHECKED_OUT = "checked_out"
    CHECKED_IN = "checked_in"
    TRANSFERRED = "transferred"
    BUNDLED = "bundled"
    IMPORTED = "imported"
    RELEASED = "released"
    DISPOSED = "disposed"
    ACCESS_DENIED = "access_denied"
    AGENCY_CHANGED = "agency_changed"
    PARTNER_ADDED = "partner_added"
    PARTNER_REVOKED = "partner_revoked"
    PARTNER_ROTATED = "partner_rotated"
    AGENCY_CARD_EXPORTED = "agency_card_exported"
    CHECKPOINT_SIGNED = "checkpoint_signed"
    VAULT_REPAIRED = "vault_repaired"  # quarantined files removed for good (vault check --repair)
    # The chained log (event format 2) starts here in a vault upgraded from format 1.
    CHAIN_STARTED = "chain_started"
    # A user's own age X25519 recipient, to which the agency key is wrapped for roles that may use it.
    USER_BOX_KEY_SET = "user_box_key_set"
    WITNESS_RESET = "witness_reset"
    VAULT_KEY_ROTATED = "vault_key_rotated"
    RECEIPT_ISSUED = "receipt_issued"  # we signed a receipt for a bundle we imported
    RECEIPT_RECEIVED = "receipt_received"  # a partner's receipt for a bundle we sent: the transfer is complete
    WITNESS_COPY_SET = "witness_copy_set"
    VAULT_BACKED_UP = "vault_backed_up"  # a verified backup copy was made (services/backup.py)
    VAULT_RESTORED = "vault_restored"  # recorded at the first unlock after a restore, with the reason


# Each recorded action in words (the event keeps its English code; the custody timeline shows an unknown one, e.g.
# from a partner's newer version, as recorded with spaces; a recorded text that quotes the code, e.g. a custody
# damage's event label, shows it through this table — ``Phrasebook`` fields — and an unknown one as it is).
CUSTODY_ACTION_WORDS: dict[str, str] = {
    CustodyAction.VAULT_CREATED: N_("vault created"), CustodyAction.USER_ADDED: N_("user added"),
    CustodyAction.USER_CHANGED: N_("user changed"), CustodyAction.PASSPHRASE_CHANGED: N_("passphrase changed"),
    CustodyAction.KEY_ROTATED: N_("key rotated"), CustodyAction.CASE_CREATED: N_("case created"),
    CustodyAction.CASE_EDITED: N_("case edited"), CustodyAction.CASE_CLOSED: N_("case closed"),
    CustodyAction.CASE_REOPENED: N_("case reopened"), CustodyAction.ACQUIRED: N_("acquired"),
    CustodyAction.VIEWED: N_("viewed"), CustodyAction.EXPORTED: N_("exported"),
    CustodyAction.EXPORT_STARTED: N_("export started"), CustodyAction.EXPORT_ABORTED: N_("export aborted"),
    CustodyAction.VERIFIED: N_("verified"), CustodyAction.ANNOTATED: N_("annotated"),
    CustodyAction.MARKING_CHANGED: N_("marking changed"), CustodyAction.CHECKED_OUT: N_("checked out"),
    CustodyAction.CHECKED_IN: N_("checked in"), CustodyAction.TRANSFERRED: N_("transferred"),
    CustodyAction.BUNDLED: N_("bundled"), CustodyAction.IMPORTED: N_("imported"),
    CustodyAction.RELEASED: N_("released"), CustodyAction.DISPOSED: N_("disposed"),
    CustodyAction.ACCESS_DENIED: N_("access denied"), CustodyAction.AGENCY_CHANGED: N_("agency changed"),
    CustodyAction.PARTNER_ADDED: N_("partner added"), CustodyAction.PARTNER_REVOKED: N_("partner revoked"),
    CustodyAction.PARTNER_ROTATED: N_("partner rotated"),
    CustodyAction.AGENCY_CARD_EXPORTED: N_("agency card exported"),
    CustodyAction.CHECKPOINT_SIGNED: N_("checkpoint signed"), CustodyAction.VAULT_REPAIRED: N_("vault repaired"),
    CustodyAction.CHAIN_STARTED: N_("chain started"), CustodyAction.USER_BOX_KEY_SET: N_("user box key set"),
    CustodyAction.WITNESS_RESET: N_("witness reset"), CustodyAction.VAULT_KEY_ROTATED: N_("vault key rotated"),
    CustodyAction.RECEIPT_ISSUED: N_("receipt issued"), CustodyAction.RECEIPT_RECEIVED: N_("receipt received"),
    CustodyAction.WITNESS_COPY_SET: N_("witness copy set"), CustodyAction.VAULT_BACKED_UP: N_("vault backed up"),
    CustodyAction.VAULT_RESTORED: N_("vault restored"),
}
