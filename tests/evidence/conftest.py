"""Fixtures of the evidence tests: a case in a real vault, files with known content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.services import cases
from icspa_desktop.services.session import Session
from icspa_desktop.vault.layout import VaultLayout
from tests.conftest import VaultInfo

MARKER = b"PLAINTEXT-MARKER-7f3a91"


@pytest.fixture
def case(admin: Session) -> Case:
    return cases.create_case(admin, CaseFields(number="2024-0042", title="Harbour smuggling ring",
                                               description="containers at pier seven", legal_authority="W-881"))


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Path]:
    """A folder with a few files; each contains MARKER so plaintext leaks can be grepped for."""
    root = tmp_path / "seized"
    (root / "docs").mkdir(parents=True)
    (root / "notes.txt").write_bytes(MARKER + b" meeting at the pier\n")
    (root / "docs" / "invoice.pdf").write_bytes(b"%PDF-1.7\n" + MARKER + b"\n" * 3000)
    (root / "docs" / "image.bin").write_bytes(MARKER + bytes(range(256)) * 9000)  # 2.3 MB: three 1 MiB chunks
    return root


def blob_files(layout: VaultLayout) -> set[str]:
    return {p.name for p in layout.blobs.rglob("*") if p.is_file()}


def blob_rows(session: Session) -> set[str]:
    return {str(r[0]) for r in session.conn.execute("SELECT id FROM blobs").fetchall()}


@pytest.fixture
def vault_case(vault: VaultInfo) -> Case:
    """A case in ``vault``, created in a session that is closed again (for tests opening their own)."""
    with vault.session() as session:
        return cases.create_case(session, CaseFields(number="2024-0042", title="Harbour smuggling ring"))
