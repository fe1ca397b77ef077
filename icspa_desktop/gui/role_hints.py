"""Say why an action is off when the user's role is the reason (issue 11: an auditor saw disabled Export and
Print with no reason). The services decide and record refusals; this only words ``permissions.GRANTS``."""

from __future__ import annotations

from PySide6.QtGui import QAction

from icspa_desktop.domain.enums import Role
from icspa_desktop.services.permissions import Permission, allowed

_PLURAL = {Role.ADMINISTRATOR: "administrators", Role.SUPERVISOR: "supervisors",
           Role.INVESTIGATOR: "investigators", Role.AUDITOR: "auditors"}


def who_may(*permissions: Permission) -> str:
    """``administrators and supervisors``: the roles granted every one of ``permissions``."""
    names = [_PLURAL[role] for role in Role if all(allowed(role, p) for p in permissions)]
    if not names:
        return "no role"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def role_denial(role: Role, *permissions: Permission) -> str:
    """The sentence shown on what the role may not do; empty when the role may."""
    missing = [p for p in permissions if not allowed(role, p)]
    if not missing:
        return ""
    return f"Not for your role ({role}): only {who_may(*permissions)} may {missing[0].value}."


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
    action.setStatusTip(f"{tip} — {reason}" if reason else tip)
    action.setToolTip(f"{tooltip} — {reason}" if reason else tooltip)


_TIP, _TOOLTIP = "icspaTip", "icspaToolTip"
