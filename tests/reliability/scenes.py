"""The world of the reliability harness: two agency vaults (NL sends, DE receives) and every writing operation.

One template scene is built once (in-process, cheap test KDF); each crash or fault point runs in a fresh copy
of it, so every point starts from the same state. Layout of a scene directory::

    nl/ de/                 the vaults (tests/bundle/exchange.py), NL with users admin and ivan
    witness/                ICSPA_WITNESS_DIR of every run (the users' and the agency's witnesses)
    home/                   HOME and XDG dirs of the child (its crash log lands under home/.local/state)
    tmp/                    TMPDIR of the child: must stay empty
    usb/                    the "media": b1.icspa (item 001, imported by DE), b2.icspa (all three items, not
                            imported yet), r1.txt (DE's receipt for b1, not yet recorded by NL); operations
                            write their outputs here
    out/                    where extraction writes
    new/                    files to ingest
    secrets/                passphrase files; de-cert.pem (to check a receipt written on the media)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from icspa_desktop.domain.enums import Role
from icspa_desktop.services import agency, bundle_import, receipts, users
from tests.agency.conftest import PASS
from tests.bundle.exchange import CASE, make_exchange

ADMIN = "admin"
IVAN_PASS = "ivan-crash-passphrase"
NEW_USER_PASS = "bob-crash-passphrase"
NEW_FILES = {"ledger.bin": 1_100_000, "note.txt": 20_000}  # 2 chunks of 1 MiB, and one
EXTRACTED = "out/image-1.bin"


def child_env(root: Path) -> dict[str, str]:
    """The environment of a child ``icspa`` in scene ``root`` (no pycache writes: they would be fault points)."""
    home = root / "home"
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(root / "tmp"),
        "ICSPA_WITNESS_DIR": str(root / "witness"),
        "ICSPA_USER": ADMIN,
        "ICSPA_PASSPHRASE": PASS,
        "ICSPA_NEW_PASSPHRASE": NEW_USER_PASS,
        "PYTHONDONTWRITEBYTECODE": "1",
        # The code of this checkout, whatever checkout the venv was installed from (an editable install points
        # at one): the children run what the checks run.
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }


_IN_PROCESS = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "TMPDIR",
               "ICSPA_WITNESS_DIR")


@contextlib.contextmanager
def scene_environ(root: Path) -> Iterator[None]:
    """The scene's home, witness and temp dirs for in-process work (template building, checks); restored after."""
    before = {name: os.environ.get(name) for name in _IN_PROCESS}
    env = child_env(root)
    os.environ.update({name: env[name] for name in _IN_PROCESS})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_template(root: Path) -> Path:
    """Make the template scene in ``root`` (about 3 s); returns ``root``."""
    for sub in ("witness", "home", "tmp", "out", "new", "secrets"):
        (root / sub).mkdir(parents=True, mode=0o700)
    with scene_environ(root):
        ex = make_exchange(root, sizes=(15_000, 1_200_000))
        with ex.open_nl() as nl:
            users.add_user(nl, "ivan", Role.INVESTIGATOR, IVAN_PASS)
        first = ex.export("b1", items=[f"{CASE}-001"])  # DE holds one item; b2 brings it again and two new ones
        ex.export("b2")
        with ex.open_de() as de:
            bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
            receipts.write_receipt(de, first.bundle_id, ex.usb / "r1.txt")
            pem = agency.agency_identity(de).certificate.public_bytes(serialization.Encoding.PEM)
        (root / "secrets" / "de-cert.pem").write_bytes(pem)
        # One log head each that every later run starts from, witnessed (locks wrote the user witnesses).
        with ex.open_nl(), ex.open_de():
            pass
    for name, size in NEW_FILES.items():
        (root / "new" / name).write_bytes(os.urandom(size))
    (root / "secrets" / "pass").write_text(PASS)
    return root


def copy_scene(template: Path, target: Path) -> Path:
    shutil.copytree(template, target, symlinks=True)
    return target


# ---- the operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One writing command of ``icspa`` run in a scene: its vault, its argv and the files it publishes."""

    name: str
    vault: str  # "nl" or "de"
    args: tuple[str, ...]  # "{root}" stands for the scene directory
    outputs: tuple[str, ...] = ()  # final names it publishes on the media (relative to the scene)
    media: str = "usb"  # the directory beside its target where temp files would be left
    # Checks a published output (called only when every name of ``outputs`` exists); returns the problem.
    check_output: Callable[[Path], str | None] | None = field(default=None, compare=False)

    def argv(self, root: Path) -> list[str]:
        return ["--vault", str(root / self.vault), *(a.replace("{root}", str(root)) for a in self.args)]


def _bundle_complete(root: Path) -> str | None:
    """A bundle under its final name comes with its seal, and the seal matches the file."""
    bundle = root / "usb" / "crash.icspa"
    seal = bundle.with_name(bundle.name + ".sha256")
    if not seal.exists() or not bundle.with_name(bundle.name + ".sha256.p7s").exists():
        return f"{bundle.name} is under its final name without its seal files"
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    if digest not in seal.read_text():
        return f"{bundle.name} does not match its seal (incomplete content under the final name)"
    return None


def _extract_complete(root: Path) -> str | None:
    copy = root / EXTRACTED
    original = root / "seized" / "image-1.bin"
    if copy.read_bytes() != original.read_bytes():
        return f"{EXTRACTED} is under its final name but differs from the evidence ({copy.stat().st_size} bytes)"
    return None


def _receipt_complete(root: Path) -> str | None:
    from icspa_desktop.crypto import cms

    raw = (root / "usb" / "receipt-new.txt").read_bytes()
    try:
        content, signature = receipts._split(raw)
        cert = x509.load_pem_x509_certificate((root / "secrets" / "de-cert.pem").read_bytes())
        cms.verify_detached_signed_at(signature, content, [cert])
    except Exception as exc:
        return f"usb/receipt-new.txt is under its final name but is not a complete signed receipt ({exc})"
    return None


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("ingest", "nl", ("evidence", "add", CASE, "{root}/new/ledger.bin", "{root}/new/note.txt",
                               "--description", "seized ledger")),
    Operation("case-edit", "nl", ("case", "edit", CASE, "--title", "Operation Nightjar II", "--lead", "Insp. Vos")),
    Operation("annotate", "nl", ("evidence", "annotate", f"{CASE}-002", "--description", "disk image, re-labelled",
                                 "--tag", "reviewed")),
    Operation("checkpoint", "nl", ("custody", "checkpoint", "--reason", "crash test")),
    Operation("user-add", "nl", ("user", "add", "bob", "--role", "investigator")),
    Operation("user-disable", "nl", ("user", "disable", "ivan")),
    Operation("extract", "nl", ("evidence", "extract", f"{CASE}-002", "--out", f"{{root}}/{EXTRACTED}",
                                "--reason", "examination"), outputs=(EXTRACTED,), media="out",
              check_output=_extract_complete),
    Operation("bundle-export", "nl", ("bundle", "export", CASE, "--to", "BKA", "--out", "{root}/usb/crash",
                                      "--reason", "JIT Nightjar"),
              outputs=("usb/crash.icspa",), check_output=_bundle_complete),
    Operation("bundle-import", "de", ("bundle", "import", "{root}/usb/b2.icspa")),
    Operation("receipt", "de", ("bundle", "receipt", "{root}/usb/b1.icspa", "--out", "{root}/usb/receipt-new.txt"),
              outputs=("usb/receipt-new.txt",), check_output=_receipt_complete),
    Operation("receipt-import", "nl", ("bundle", "receipt-import", "{root}/usb/r1.txt")),
    Operation("rekey", "nl", ("vault", "rekey", "--reason", "crash test")),
)}
