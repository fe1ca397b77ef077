"""Who may do what. Checked in the services, never only hidden in the GUI."""

from __future__ import annotations

from enum import StrEnum

from icspa_desktop.domain.enums import Role
from icspa_desktop.i18n import N_


class Permission(StrEnum):
    """What a role may do; the value is also how a refusal names it (translated there, English in the log)."""

    READ = N_("read cases and evidence")
    MANAGE_USERS = N_("manage users")
    CREATE_CASE = N_("create cases")
    EDIT_CASE = N_("edit cases")
    CLOSE_CASE = N_("close or reopen cases")
    ADD_EVIDENCE = N_("add evidence")
    EDIT_EVIDENCE = N_("edit evidence records")
    EXTRACT_EVIDENCE = N_("extract evidence")
    VERIFY = N_("verify evidence and custody")
    CHECK_OUT = N_("check physical items out and in")
    MANAGE_AGENCY = N_("manage the agency identity")
    SIGN_AS_AGENCY = N_("sign with the agency key")
    MANAGE_PARTNERS = N_("manage partner agencies")
    EXPORT_BUNDLE = N_("export sharing bundles")
    IMPORT_BUNDLE = N_("import sharing bundles")
    REPORT = N_("produce reports")


_A, _S, _I, _U = Role.ADMINISTRATOR, Role.SUPERVISOR, Role.INVESTIGATOR, Role.AUDITOR

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset({_A, _S, _I, _U}),
    Permission.MANAGE_USERS: frozenset({_A}),
    Permission.CREATE_CASE: frozenset({_A, _S, _I}),
    Permission.EDIT_CASE: frozenset({_A, _S, _I}),
    Permission.CLOSE_CASE: frozenset({_A, _S}),
    Permission.ADD_EVIDENCE: frozenset({_A, _S, _I}),
    Permission.EDIT_EVIDENCE: frozenset({_A, _S, _I}),
    Permission.EXTRACT_EVIDENCE: frozenset({_A, _S, _I}),
    Permission.VERIFY: frozenset({_A, _S, _I, _U}),
    Permission.CHECK_OUT: frozenset({_A, _S, _I}),
    Permission.MANAGE_AGENCY: frozenset({_A}),
    Permission.SIGN_AS_AGENCY: frozenset({_A, _S}),
    Permission.MANAGE_PARTNERS: frozenset({_A, _S}),
    # A bundle is signed with the agency key (DESIGN §4/§5): exporting is for the roles that may use it.
    Permission.EXPORT_BUNDLE: frozenset({_A, _S}),
    Permission.IMPORT_BUNDLE: frozenset({_A, _S, _I}),
    Permission.REPORT: frozenset({_A, _S, _I, _U}),
}


def allowed(role: Role, permission: Permission) -> bool:
    return role in GRANTS[permission]
