"""Two agencies with their own vaults, for card exchange tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from tests.cli.conftest import run  # noqa: F401  (the in-process CLI fixture, for the partner CLI tests)

PASS = "agency-admin-pass"


def make_agency_vault(path: Path, name: str, country: str) -> Path:
    init_vault(path, "admin", PASS, agency=AgencyInfo(name, country, "Cyber Unit", "desk@example.org"))
    return path


@pytest.fixture
def agency_a(tmp_path: Path) -> Path:
    return make_agency_vault(tmp_path / "a", "Politie Landelijke Eenheid", "NL")


@pytest.fixture
def agency_b(tmp_path: Path) -> Path:
    return make_agency_vault(tmp_path / "b", "Bundeskriminalamt", "DE")


@pytest.fixture
def session_a(agency_a: Path) -> Iterator[Session]:
    with unlock(agency_a, "admin", PASS) as s:
        yield s


@pytest.fixture
def session_b(agency_b: Path) -> Iterator[Session]:
    with unlock(agency_b, "admin", PASS) as s:
        yield s
