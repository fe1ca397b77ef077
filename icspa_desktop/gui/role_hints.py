"""Say why an action is off when the user's role is the reason (issue 11: an auditor saw disabled Export and
Print with no reason). The services decide and record refusals; this only words ``permissions.GRANTS``."""

from __future__ import annotations

from PySide6.QtGui import QAction

from icspa_desktop.domain.enums import Role
from icspa_desktop.i18n import N_, _
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.table_texts import role_name

# The roles as the subject of "only … may …" (French needs the article: "seuls les administrateurs").
_PLURAL = {Role.ADMINISTRATOR: N_("administrators"), Role.SUPERVISOR: N_("supervisors"),
           Role.INVESTIGATOR: N_("investigators"), Role.AUDITOR: N_("auditors")}
# What a permission allows, as the end of "only … may …". The enum's own values are English data (errors, logs).
_ACTS = {
    Permission.READ: N_("read cases and evidence"), Permission.MANAGE_USERS: N_("manage users"),
    Permission.CREATE_CASE: N_("create cases"), Permission.EDIT_CASE: N_("edit cases"),
    Permission.CLOSE_CASE: N_("close or reopen cases"), Permission.ADD_EVIDENCE: N_("add evidence"),
    Permission.EDIT_EVIDENCE: N_("edit evidence records"), Permission.EXTRACT_EVIDENCE: N_("extract evidence"),
    Permission.VERIFY: N_("verify evidence and custody"), Permission.CHECK_OUT: N_("check physical items out and in"),
    Permission.MANAGE_AGENCY: N_("manage the agency identity"),
    Permission.SIGN_AS_AGENCY: N_("sign with the agency key"),
    Permission.MANAGE_PARTNERS: N_("manage partner agencies"), Permission.EXPORT_BUNDLE: N_("export sharing bundles"),
    Permission.IMPORT_BUNDLE: N_("import sharing bundles"), Permission.REPORT: N_("produce reports"),
}


def who_may(*permissions: Permission) -> str:
    """``administrators and supervisors``: the roles granted every one of ``permissions``."""
    names = [_(_PLURAL[role]) for role in Role if all(allowed(role, p) for p in permissions)]
    if not names:
        return _("no role")
    if len(names) == 1:
        return names[0]
    return _("{names} and {last}", names=", ".join(names[:-1]), last=names[-1])


def role_denial(role: Role, *permissions: Permission) -> str:
    """The sentence shown on what the role may not do; empty when the role may."""
    missing = [p for p in permissions if not allowed(role, p)]
    if not missing:
        return ""
    act = _(_ACTS[missing[0]]) if missing[0] in _ACTS else missing[0].value
    return _("Not for your role ({role}): only {roles} may {act}.", role=role_name(role), roles=who_may(*permissions),
             act=act)


def gate(action: QAction, enabled: bool, role: Role | None, *permissions: Permission, why_not: str = "") -> None:
    """Enable ``action`` or not. When the role is the reason (or ``why_not``, e.g. a closed case), its tooltip and
    status-bar tip say so after its own tip; otherwise they are its own again."""
    if action.property(_TIP) is None:
        action.setProperty(_TIP, action.statusTip())
        action.setProperty(_TOOLTIP, action.toolTip())
    denial = role_denial(role, *permissions) if role is not None else ""
    reason = denial or (why_not if not enabled else "")
    action.setEnabled(enabled and not denial)
    tip, tooltip = str(action.property(_TIP) or ""), str(action.property(_TOOLTIP) or "")
    action.setStatusTip(_("{tip} — {reason}", tip=tip, reason=reason) if reason else tip)
    action.setToolTip(_("{tip} — {reason}", tip=tooltip, reason=reason) if reason else tooltip)


_TIP, _TOOLTIP = "icspaTip", "icspaToolTip"
