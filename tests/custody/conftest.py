"""Custody fixtures: an agency checkpoint signer and verifier, populated vaults, raw SQL access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.custody.checkpoints import SignatureVerifier
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session


@dataclass
class Agency:
    signer: Any
    verifier: SignatureVerifier
    witness_dir: Path


@pytest.fixture
def agency(admin: Session, tmp_path: Path) -> Agency:
    """The vault's own agency key (made at init) and its verifier, with a per-test witness directory."""
    return Agency(custody_service.agency_signer(admin), custody_service.agency_verifier(admin), tmp_path / "witness")


def add_cases(session: Session, count: int, prefix: str = "C") -> list[str]:
    numbers = []
    for i in range(count):
        number = f"{prefix}-{i:03d}"
        cases.create_case(session, CaseFields(number=number, title=f"Case {i}", legal_authority=f"W-{i}"))
        numbers.append(number)
    return numbers


Verify = Callable[..., custody_verify.VerifyReport]


@pytest.fixture
def verify(admin: Session, agency: Agency) -> Iterator[Verify]:
    def run(session: Session | None = None, **kwargs: Any) -> custody_verify.VerifyReport:
        return custody_verify.verify(session or admin, verifier=agency.verifier, witness_dir=agency.witness_dir,
                                     **kwargs)

    return run


@pytest.fixture
def checkpoint(admin: Session, agency: Agency) -> Callable[..., custody_service.StoredCheckpoint]:
    def make(session: Session | None = None, **kwargs: Any) -> custody_service.StoredCheckpoint:
        return custody_service.make_checkpoint(session or admin, signer=agency.signer, witness_dir=agency.witness_dir,
                                               **kwargs)

    return make
