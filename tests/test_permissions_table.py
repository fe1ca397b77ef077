"""Who may do what, written out from DESIGN — an oracle independent of ``services/permissions.GRANTS``.

Every cell of the permission × role table is checked twice: against ``GRANTS``, and by calling one real
service per permission as a user of each role (allowed: it works; denied: PermissionDenied, and an
``access_denied`` custody event signed by that user naming the permission).

Where the table comes from (DESIGN §1–§3, docs/bundle-format.md, docs/vault-format.md "Roles"):
- every role reads, verifies and reports: an auditor's work is reading and checking (§1, §3 "custody verify");
- investigators work cases: create and edit them, add, annotate, extract and check out evidence (§1, §3);
- closing a case is a supervisor's decision (case supervisors, §1);
- the agency key signs checkpoints, cards, bundles and receipts, and "is wrapped per user whose role may use
  it" (§3): administrators and supervisors; so exporting a bundle, which the agency key signs (§5.4), and
  trusting partners, whose cards decide who receives evidence (§4), are theirs too;
- importing a partner's bundle stores evidence into a case: evidence work, as adding it;
- users and the agency identity are the administrator's (§2 "roles", §4).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CaseStatus, CustodyAction, Role
from icspa_desktop.domain.errors import PermissionDenied
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import (
    agency,
    bundle_import,
    bundles,
    cases,
    custody,
    custody_reports,
    evidence,
    fixity,
    partners,
    physical,
    users,
)
from icspa_desktop.services.permissions import GRANTS, Permission
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES

ADM, SUP, INV, AUD = Role.ADMINISTRATOR, Role.SUPERVISOR, Role.INVESTIGATOR, Role.AUDITOR

# The table, written out from DESIGN (see the module docstring), not from GRANTS.
TABLE: dict[str, set[Role]] = {
    "read":             {ADM, SUP, INV, AUD},
    "verify":           {ADM, SUP, INV, AUD},
    "report":           {ADM, SUP, INV, AUD},
    "create_case":      {ADM, SUP, INV},
    "edit_case":        {ADM, SUP, INV},
    "add_evidence":     {ADM, SUP, INV},
    "edit_evidence":    {ADM, SUP, INV},
    "extract_evidence": {ADM, SUP, INV},
    "check_out":        {ADM, SUP, INV},
    "import_bundle":    {ADM, SUP, INV},
    "close_case":       {ADM, SUP},
    "sign_as_agency":   {ADM, SUP},
    "manage_partners":  {ADM, SUP},
    "export_bundle":    {ADM, SUP},
    "manage_users":     {ADM},
    "manage_agency":    {ADM},
}


@dataclass
class Scene:
    """One vault with a user of each role, a case with a digital and a physical item, a partner (BKA) whose
    vault sent us a bundle."""

    vault: Path
    files: Path
    bundle: Path
    partner_pem: bytes
    partner_age: str

    def admin(self) -> Session:
        return unlock(self.vault, ADMIN, ADMIN_PASS)

    def as_role(self, role: Role) -> Session:
        return unlock(self.vault, NAMES[role], PASSPHRASES[role])


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("permissions")
    ours, theirs = root / "ours", root / "bka"
    init_vault(ours, ADMIN, ADMIN_PASS, agency=AgencyInfo("Test Police", "NL", "", ""))
    init_vault(theirs, "bka", "bka-passphrase", agency=AgencyInfo("BKA", "DE", "", ""))
    files = root / "files"
    files.mkdir()
    (files / "chat.txt").write_text("meeting at the harbour\n")
    with unlock(ours, ADMIN, ADMIN_PASS) as s_ours, unlock(theirs, "bka", "bka-passphrase") as s_bka:
        for role in (SUP, INV, AUD):
            users.add_user(s_ours, NAMES[role], role, PASSPHRASES[role])
        own, bka = agency.agency_identity(s_ours), agency.agency_identity(s_bka)
        pem = bka.certificate.public_bytes(serialization.Encoding.PEM)
        partners.add_partner(s_ours, "BKA", "DE", bka.age_recipient, pem)
        partners.add_partner(s_bka, "Test Police", "NL", own.age_recipient,
                             own.certificate.public_bytes(serialization.Encoding.PEM))
        case = cases.create_case(s_bka, CaseFields("BKA-1", "Sent to us"))
        evidence.add_files(s_bka, case.id, [files / "chat.txt"])
        plan = bundles.plan_export(s_bka, case.id, ["Test Police"], purpose="permissions test")
        sent = bundles.export(s_bka, plan, root / "from-bka")
    return Scene(ours, files, sent.path, pem, bka.age_recipient)


@pytest.fixture(autouse=True)
def _one_witness_dir(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scene outlives a test's isolated HOME: keep its witnesses in one place for the whole module."""
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(scene.vault.parent / "witness"))


@dataclass
class Subject:
    case: str
    item: str
    physical: str


def _fresh_subject(scene: Scene) -> Subject:
    """A new open case with a digital and a physical item, made by the administrator."""
    with scene.admin() as s:
        case = cases.create_case(s, CaseFields(f"P-{uuid.uuid4().hex[:8]}", "Permissions"))
        item = evidence.add_files(s, case.id, [scene.files / "chat.txt"]).items[0]
        exhibit = physical.add_physical(s, case.id, "phone")
    return Subject(case.id, item.id, exhibit.id)


Action = Callable[[Session, Scene, Subject, Path], object]


def _fields(s: Session, subject: Subject) -> CaseFields:
    return cases.get_case(s, subject.case).fields


# One real service call per permission.
ACTIONS: dict[str, Action] = {
    "read": lambda s, sc, sub, out: cases.list_cases(s),
    "verify": lambda s, sc, sub, out: fixity.verify_case(s, sub.case),
    "report": lambda s, sc, sub, out: custody_reports.case_uco_export(s, sub.case, out / "case.jsonld"),
    "create_case": lambda s, sc, sub, out: cases.create_case(s, CaseFields(f"N-{uuid.uuid4().hex[:8]}", "new")),
    "edit_case": lambda s, sc, sub, out: cases.edit_case(
        s, sub.case, CaseFields(_fields(s, sub).number, "renamed"), "test"),
    "add_evidence": lambda s, sc, sub, out: evidence.add_files(s, sub.case, [sc.files / "chat.txt"]),
    "edit_evidence": lambda s, sc, sub, out: evidence.annotate(s, sub.item, notes="seen", reason="test"),
    "extract_evidence": lambda s, sc, sub, out: fixity.extract(s, sub.item, out / "copy.txt", "examination"),
    "check_out": lambda s, sc, sub, out: physical.check_out(s, sub.physical, "Lab tech", "examination"),
    "import_bundle": lambda s, sc, sub, out: bundle_import.prepare_import(s, sc.bundle).discard(),
    "close_case": lambda s, sc, sub, out: cases.set_status(s, sub.case, CaseStatus.CLOSED, "done"),
    "sign_as_agency": lambda s, sc, sub, out: custody.make_checkpoint(s, "test", signer=agency.agency_signer(s)),
    "manage_partners": lambda s, sc, sub, out: partners.add_partner(
        s, f"NCA-{uuid.uuid4().hex[:6]}", "GB", sc.partner_age,
        certs.cert_pem(certs.self_signed(certs.generate_key(), "NCA", "GB")).encode()),
    "export_bundle": lambda s, sc, sub, out: bundles.export(
        s, bundles.plan_export(s, sub.case, ["BKA"], purpose="test"), out / "to-bka"),
    "manage_users": lambda s, sc, sub, out: users.add_user(
        s, f"u{uuid.uuid4().hex[:8]}", Role.AUDITOR, "a-new-passphrase"),
    "manage_agency": lambda s, sc, sub, out: agency.create_identity(s, "Test Police", "NL"),
}


def test_the_table_covers_every_permission_and_role() -> None:
    assert set(TABLE) == {p.name.lower() for p in Permission} == set(ACTIONS)
    assert set().union(*TABLE.values()) == set(Role)


CELLS = [(permission, role) for permission in TABLE for role in (ADM, SUP, INV, AUD)]

# Cells where GRANTS says otherwise than DESIGN: strict, so the day GRANTS is fixed the marker must go.
GRANTS_DISAGREES: dict[tuple[str, object], str] = {}  # cells where the product disagreed with DESIGN (none now)


@pytest.mark.parametrize(("permission", "role"), CELLS, ids=[f"{p}-{r}" for p, r in CELLS])
def test_grants_agree_with_the_table(permission: str, role: Role) -> None:
    if (permission, role) in GRANTS_DISAGREES:
        pytest.xfail(GRANTS_DISAGREES[permission, role])
    assert (role in GRANTS[Permission[permission.upper()]]) == (role in TABLE[permission])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(("permission", "role"), CELLS, ids=[f"{p}-{r}" for p, r in CELLS])
def test_the_service_enforces_the_table(scene: Scene, permission: str, role: Role, out: Path) -> None:
    subject = _fresh_subject(scene)
    with scene.as_role(role) as session:
        before = events.count(session.conn)
        if role in TABLE[permission]:
            ACTIONS[permission](session, scene, subject, out)
            return
        with pytest.raises(PermissionDenied):
            ACTIONS[permission](session, scene, subject, out)
        recorded = events.list_events(session.conn)[before:]
    denied = [e for e in recorded if e.action == CustodyAction.ACCESS_DENIED]
    assert len(denied) == 1 and len(recorded) == 1, [e.action for e in recorded]  # nothing else happened
    body = denied[0].body
    assert body["actor"]["name"] == NAMES[role] and body["actor"]["role"] == str(role)
    assert body["details"]["permission"] == permission  # the denial names this permission
