"""docs/SECURITY.md cites a test for each claim of its threat model (issue 13 item 7): every cited test must exist.

Cited tests are written ``tests/path/test_x.py::test_name`` (or ``::Class::test_name``) in backticks. Each is looked
up in the file's syntax tree — a module-level test function, or a method of a module-level class — so a test that
is renamed or removed makes this fail. Every row of the threat-model tables names a test, or says "not tested" or
"by design"; each of the seven threats of the issue has its section.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "SECURITY.md"
THREAT_MODEL = "## Threat model, claim by claim"
THREATS = ("A lost laptop or USB stick", "A malicious partner bundle", "An insider with their own passphrase",
           "An administrator acting alone", "Tampering with a vault copy", "Shoulder surfing",
           "A compromised workstation")
CITATION = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)+)`")
UNPROVED = ("not tested", "by design")


def cited(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every ``file::name[::name]`` cited in ``text``, in order."""
    return [(match[1], tuple(match[2].split("::")[1:])) for match in CITATION.finditer(text)]


def defined(path: Path) -> set[tuple[str, ...]]:
    """The test functions of ``path``: ``(name,)`` at module level, ``(Class, name)`` in a class."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[tuple[str, ...]] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.add((node.name,))
        elif isinstance(node, ast.ClassDef):
            found |= {(node.name, item.name) for item in node.body
                      if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
    return found


def missing(text: str, root: Path) -> list[str]:
    """The citations of ``text`` that name no file, or no test in their file."""
    problems: list[str] = []
    cache: dict[str, set[tuple[str, ...]]] = {}
    for file, names in cited(text):
        path = root / file
        if not path.is_file():
            problems.append(f"{file}: no such file")
            continue
        if file not in cache:
            cache[file] = defined(path)
        if names not in cache[file] or not names[-1].startswith("test"):
            problems.append(f"{file}::{'::'.join(names)}: no such test")
    return problems


def threat_rows(text: str) -> list[list[str]]:
    """The body rows of the tables in the threat-model section, as cells."""
    section = text.split(THREAT_MODEL, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---") and "| Claim |" not in line:
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_every_cited_test_exists() -> None:
    text = SECURITY.read_text(encoding="utf-8")
    assert len(cited(text)) >= 50  # the page cites its proofs; a broken pattern would find none
    assert missing(text, ROOT) == []


def test_every_threat_of_the_issue_has_its_section_with_proved_claims() -> None:
    text = SECURITY.read_text(encoding="utf-8")
    assert THREAT_MODEL in text
    model = text.split(THREAT_MODEL, 1)[1].split("\n## ", 1)[0]
    sections = dict(re.findall(r"\n### ([^\n]+)\n(.*?)(?=\n### |\Z)", model, flags=re.S))
    assert set(THREATS) <= set(sections), set(THREATS) - set(sections)
    for threat in THREATS:
        assert any(row.startswith("| Protects") and CITATION.search(row)
                   for row in sections[threat].splitlines()), f"{threat}: no claim proved by a test"


def test_every_claim_names_its_test_or_says_why_none() -> None:
    rows = threat_rows(SECURITY.read_text(encoding="utf-8"))
    assert len(rows) >= 40
    for row in rows:
        assert len(row) == 3, row
        kind, claim, proof = row
        assert kind in ("Protects", "Cannot", "Narrows") and claim, row
        assert CITATION.search(proof) or proof.startswith(UNPROVED), row


def test_the_checker_catches_a_test_that_does_not_exist() -> None:
    """The check can fail: a made-up name, a missing file and a helper that is not a test are all reported."""
    this = "tests/concurrency/test_security_claims.py"
    text = (f"`{this}::test_every_cited_test_exists` `{this}::test_that_was_renamed` "
            f"`tests/concurrency/test_nowhere.py::test_x` `{this}::cited`")
    assert missing(text, ROOT) == [f"{this}::test_that_was_renamed: no such test",
                                   "tests/concurrency/test_nowhere.py: no such file",
                                   f"{this}::cited: no such test"]
