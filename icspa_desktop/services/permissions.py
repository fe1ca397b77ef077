"""Who may do what. Checked in the services, never only hidden in the GUI."""

from __future__ import annotations

from enum import StrEnum

from icspa_desktop.domain.enums import Role


class Permission(StrEnum):
    READ = "read cases and evidence"
    MANAGE_USERS = "manage users"
    CREATE_CASE = "create cases"
    EDIT_CASE = "edit cases"
    CLOSE_CASE = "close or reopen cases"
    ADD_EVIDENCE = "add evidence"
    EDIT_EVIDENCE = "edit evidence records"
    EXTRACT_EVIDENCE = "extract evidence"
    VERIFY = "verify evidence and custody"
    CHECK_OUT = "check physical items out and in"
    MANAGE_AGENCY = "manage the agency identity"
    SIGN_AS_AGENCY = "sign with the agency key"
    MANAGE_PARTNERS = "manage partner agencies"
    EXPORT_BUNDLE = "export sharing bundles"
    IMPORT_BUNDLE = "import sharing bundles"
    REPORT = "produce reports"


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
