"""A sender's vault put back to an older copy after a bundle left it (an insider hiding an export, or an
unrecorded restore): its log forks from the one the partner holds. The partner's import must refuse the next
bundle; with the sender's witness intact, the export is refused before anything leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from icspa_desktop.domain.errors import RefusedInput, VerificationFailed
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.services import bundle_import, cases, evidence
from tests.bundle.exchange import CASE, Exchange, make_exchange, tree_digest


@pytest.fixture
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    return make_exchange(tmp_path)


def _roll_back(ex: Exchange, copy: Path) -> None:
    shutil.rmtree(ex.nl)
    shutil.copytree(copy, ex.nl)


def _new_evidence(ex: Exchange, name: str) -> None:
    path = ex.files.parent / name
    path.write_text(f"{name}: found later\n")
    with ex.open_nl() as nl:
        evidence.add_files(nl, cases.get_case(nl, CASE).id, [path], fields=ItemFields(description=name))


def test_a_rolled_back_sender_cannot_pass_its_forked_log_to_the_partner(ex: Exchange, tmp_path: Path) -> None:
    copy = tmp_path / "nl-before-export"
    shutil.copytree(ex.nl, copy)
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
    _roll_back(ex, copy)
    shutil.rmtree(tmp_path / "witness")  # the insider removes the witness that saw the newer log, too
    _new_evidence(ex, "other.txt")  # the log goes on from the older copy: same sizes, other events
    second = ex.export("second")
    before = tree_digest(ex.de)
    with ex.open_de() as de, pytest.raises(RefusedInput, match=r"cannot be shown to extend the last one we hold"):
        bundle_import.prepare_import(de, second.path)
    assert tree_digest(ex.de) == before


def test_with_its_witness_intact_the_rolled_back_sender_cannot_export(ex: Exchange, tmp_path: Path) -> None:
    copy = tmp_path / "nl-before-export"
    shutil.copytree(ex.nl, copy)
    ex.export(items=[f"{CASE}-001"])
    _roll_back(ex, copy)
    with pytest.raises(VerificationFailed, match="the history was rewritten"):
        ex.export("second")
    assert not (ex.usb / "second").exists()
