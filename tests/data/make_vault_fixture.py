"""Make tests/data/vault-vN/: a vault made by the program as it was when N was its newest schema version.

    .venv/bin/python -m tests.data.make_vault_fixture 8      # from the repository root; 2 and 2 and 4 to 11 exist

The program of that time is taken from git (``git archive`` of the pinned commit into a temporary folder)
and run in a child interpreter that imports it instead of today's code, with the cheap test KDF profile.
The child fills the vault through that program's own services: two users, an agency identity, two cases,
digital items (known content, so the tests can check fixity), a physical item checked out and back in, an
annotation, a fixity verification and a signed checkpoint whose witness files are kept beside the vault
(``witness/``). ``tests/foundation/test_migrations.py`` opens a copy of each with today's program.

Schema 2's program (CHILD_V2) had no custody verification, checkpoints, witness files or agency key pair
yet (schema 4 brought the first three, schema 3 the last): its vault has the agency's name, country, unit
and contact as settings, and no ``witness/``. There is no schema 3 vault: no program ever had 3 as its
newest version (4be7bad added m0004, so its programs went from 2 straight to 4; 925de33 slotted m0003 in
below it, and its programs run 3 and 4 in one opening). vault-v1 is older still and was made by hand (see
its README). Run it once per schema version and commit the folder; never re-make an existing one (it is the
record of what that version wrote). To add the next version, pin the last commit whose newest migration is it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# Schema version → the last commit whose newest migration it is (git log -- icspa_desktop/vault/migrations).
COMMITS = {
    2: "7b08320ec0007b1a38627c79463696ad9e8fa754",  # the parent of 4be7bad, which added m0004 (m0003 came later)
    4: "07d66e77a034c6f64a9921008188f0ce5c75409a",  # the parent of e0014ad, which added m0005
    5: "dce799927c65a57231b5dec140f4036695ce0d33",  # the parent of 7137294, which added m0006
    6: "ba1ec018c9eac233d969f85ea4a6aad343095632",  # the parent of baa4924, which added m0007
    7: "6be96b87e55f6ef9430f41f193a1a518441410a9",  # the parent of a2a2e7f, which added m0008
    8: "4751aab87b4ff2bf9936842196a9ba1df15bac2a",  # the parent of d886691, which added m0009
    9: "d886691",
    10: "cda2e0e",  # added m0010 (the vault was made by it; 2eccebb was the last before m0011)
    11: "1395fc5",
    12: "87da8e2",  # m0012 as it stays (7a96a09 added a first version, never merged: its fixture was removed)
}
# Schema versions that no program ever had as its newest, so no vault of theirs exists to freeze.
NO_PROGRAM = {
    3: "No program had schema 3 as its newest: 4be7bad added m0004 (its parent 7b08320 is schema 2's program), so "
       "the programs up to 706b241 went from 2 straight to 4; 925de33 slotted m0003 in below m0004, and the "
       "programs since run 3 and 4 in the same opening.",
}

ADMIN, ADMIN_PASS = "admin", "fixture-admin-pass"
IVAN, IVAN_PASS = "ivan", "fixture-ivan-pass"


def content(name: str) -> bytes:
    """The known content of each digital item (the tests compute it the same way)."""
    seed = name.encode()
    return b"".join(seed + i.to_bytes(4, "big") for i in range(6000 if name == "image.bin" else 40))


DIGITAL = ("notes.txt", "image.bin", "chat.log")

# Runs in the child, against the old program (its API of that commit, not today's).
CHILD = r"""
import sys
from pathlib import Path

import icspa_desktop
assert icspa_desktop.__file__.startswith(sys.argv[2]), icspa_desktop.__file__  # the old program, not today's
from icspa_desktop.crypto import kdf
kdf.use_insecure_test_profile()
from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Role, Tlp
from icspa_desktop.domain.evidence import Acquisition, ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody, evidence, fixity, physical, users
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from icspa_desktop.vault.migrations import schema_version

out, files = Path(sys.argv[1]), Path(sys.argv[3])
recovery = init_vault(out / "vault", "admin", "fixture-admin-pass", display_name="Ada Admin",
                      agency=AgencyInfo("Fixture Police", "NL", "Digital Forensics", "lab@example.org"))
(out / "recovery.txt").write_text(recovery + "\n")
with unlock(out / "vault", "admin", "fixture-admin-pass") as s:
    users.add_user(s, "ivan", Role.INVESTIGATOR, "fixture-ivan-pass")
    cases.create_case(s, CaseFields(number="FX-1", title="Fixture case one", legal_authority="W-1",
                                    handling_code=HandlingCode.H3, handling_text="only for the JIT",
                                    tlp=Tlp.AMBER_STRICT))
    acquisition = Acquisition("Ada Admin", "2026-01-02T10:00:00+01:00", "Harbour office", "logical copy",
                              "dd", "9.4", "Laptop", "SN-42", "SEAL-7")
    added = evidence.add_files(s, "FX-1", [files / name for name in sys.argv[4:]],
                               ItemFields(description="seized files", tags=("fixture",), acquisition=acquisition))
    assert len(added.items) == len(sys.argv[4:])
    phone = physical.add_physical(s, "FX-1", "Phone, black", ItemFields(storage_location="Locker 3"))
    physical.check_out(s, phone.id, "Lab technician", "imaging")
    physical.check_in(s, phone.id, "Lab technician", storage_location="Locker 4")
    evidence.annotate(s, added.items[0].id, notes="read in the fixture", reason="fixture")
    assert all(r.ok for r in fixity.verify_case(s, "FX-1"))
    custody.make_checkpoint(s, "fixture")
    print(schema_version(s.conn))
with unlock(out / "vault", "ivan", "fixture-ivan-pass") as s:
    case = cases.create_case(s, CaseFields(number="FX-2", title="Fixture case two"))
with unlock(out / "vault", "admin", "fixture-admin-pass") as s:
    cases.set_status(s, case.id, CaseStatus.CLOSED, "fixture")
    custody.make_checkpoint(s, "fixture, last")
"""


# Schema 2's program: the KDF test profile by environment (ICSPA_INSECURE_FAST_KDF=1), physical items, fixity and
# extraction in services.evidence, the agency as settings; no custody verification, checkpoints or witness files.
CHILD_V2 = r"""
import os
import sys
from pathlib import Path

import icspa_desktop
assert icspa_desktop.__file__.startswith(sys.argv[2]), icspa_desktop.__file__  # the old program, not today's
from icspa_desktop.crypto import kdf
assert kdf.insecure_test_profile(), os.environ.get(kdf.TEST_PROFILE_ENV)
from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Role, Tlp
from icspa_desktop.domain.evidence import Acquisition, ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, users
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from icspa_desktop.vault.migrations import schema_version

out, files = Path(sys.argv[1]), Path(sys.argv[3])
recovery = init_vault(out / "vault", "admin", "fixture-admin-pass", display_name="Ada Admin",
                      agency=AgencyInfo("Fixture Police", "NL", "Digital Forensics", "lab@example.org"))
(out / "recovery.txt").write_text(recovery + "\n")
with unlock(out / "vault", "admin", "fixture-admin-pass") as s:
    users.add_user(s, "ivan", Role.INVESTIGATOR, "fixture-ivan-pass")
    cases.create_case(s, CaseFields(number="FX-1", title="Fixture case one", legal_authority="W-1",
                                    handling_code=HandlingCode.H3, handling_text="only for the JIT",
                                    tlp=Tlp.AMBER_STRICT))
    acquisition = Acquisition("Ada Admin", "2026-01-02T10:00:00+01:00", "Harbour office", "logical copy",
                              "dd", "9.4", "Laptop", "SN-42", "SEAL-7")
    added = evidence.add_files(s, "FX-1", [files / name for name in sys.argv[4:]],
                               ItemFields(description="seized files", tags=("fixture",), acquisition=acquisition))
    assert len(added.items) == len(sys.argv[4:])
    phone = evidence.add_physical(s, "FX-1", "Phone, black", ItemFields(storage_location="Locker 3"))
    evidence.check_out(s, phone.id, "Lab technician", "imaging")
    evidence.check_in(s, phone.id, "Lab technician", storage_location="Locker 4")
    evidence.annotate(s, added.items[0].id, notes="read in the fixture", reason="fixture")
    assert all(r.ok for r in evidence.verify_case(s, "FX-1"))
    print(schema_version(s.conn))
with unlock(out / "vault", "ivan", "fixture-ivan-pass") as s:
    case = cases.create_case(s, CaseFields(number="FX-2", title="Fixture case two"))
with unlock(out / "vault", "admin", "fixture-admin-pass") as s:
    cases.set_status(s, case.id, CaseStatus.CLOSED, "fixture")
"""
CHILDREN = {2: CHILD_V2}  # schema version → its child script; the others run CHILD
WITNESS_FROM = 4  # the first schema whose program wrote witness files (checkpoints)


def make(version: int) -> Path:
    target = HERE / f"vault-v{version}"
    if target.exists():
        raise SystemExit(f"{target} exists: a frozen vault is never re-made (delete it on purpose first).")
    if version not in COMMITS:
        raise SystemExit(NO_PROGRAM.get(version, f"no commit is pinned for schema {version} (see COMMITS)."))
    commit = COMMITS[version]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        program, files, home = work / "program", work / "files", work / "home"
        for folder in (program, files, home):
            folder.mkdir()
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "icspa_desktop"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(program, filter="data")
        for name in DIGITAL:
            (files / name).write_bytes(content(name))
        staging = work / "out"
        staging.mkdir()
        env = {**os.environ, "PYTHONPATH": str(program), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
               "XDG_DATA_HOME": str(home / "data")}
        for name in ("ICSPA_VAULT", "ICSPA_USER", "ICSPA_PASSPHRASE", "ICSPA_WITNESS_DIR", "ICSPA_INSECURE_FAST_KDF"):
            env.pop(name, None)
        if version >= WITNESS_FROM:
            (staging / "witness").mkdir()
            env["ICSPA_WITNESS_DIR"] = str(staging / "witness")
        else:  # the test KDF profile of those programs was switched on by the environment
            env["ICSPA_INSECURE_FAST_KDF"] = "1"
        child = CHILDREN.get(version, CHILD)
        result = subprocess.run([sys.executable, "-c", child, str(staging), str(program), str(files), *DIGITAL],
                                cwd=work, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the program of {commit} failed:\n{result.stderr}")
        made = int(result.stdout.split()[-1])
        if made != version:
            raise SystemExit(f"the program of {commit} made schema {made}, not {version}")
        for stray in (staging / "vault").rglob("*"):
            if stray.name.endswith(("-wal", "-shm", ".lock")):
                stray.unlink()
        shutil.copytree(staging, target)
    (target / "README.md").write_text(READMES.get(version, README).format(version=version, commit=commit))
    return target


README = """# Fixture: a vault made by the program at schema version {version}

Made by `tests/data/make_vault_fixture.py {version}`: the program of commit {commit} (taken with
`git archive`, run in a child interpreter) with the test-only Argon2id profile. `vault/` is the vault,
`witness/` the witness files its checkpoints wrote (the tests point ICSPA_WITNESS_DIR at a copy),
`recovery.txt` its recovery key. Opened by `tests/foundation/test_migrations.py` on a copy, never in place
(opening migrates it).

| user | role | passphrase |
|---|---|---|
| admin | administrator | fixture-admin-pass |
| ivan | investigator | fixture-ivan-pass |

FX-1 (H3 "only for the JIT", TLP AMBER+STRICT): notes.txt, image.bin, chat.log (content: `content()` in the
script), a physical item "Phone, black" checked out and back in (Locker 4), an annotation, a verification,
a checkpoint. FX-2: created by ivan, closed by admin, then a last checkpoint.
"""

README_V2 = """# Fixture: a vault made by the program at schema version {version}

Made by `tests/data/make_vault_fixture.py {version}`: the program of commit {commit} (taken with
`git archive`, run in a child interpreter with the script's CHILD_V2) with the test-only Argon2id profile
(then switched on by `ICSPA_INSECURE_FAST_KDF=1`). `vault/` is the vault, `recovery.txt` its recovery key.
That program had no custody verification, checkpoints or witness files (schema 4) and no agency key pair
(schema 3), so there is no `witness/`; the agency (Fixture Police, NL, Digital Forensics, lab@example.org) is
kept as settings. Opened by `tests/foundation/test_migrations.py` on a copy, never in place (opening migrates
it).

| user | role | passphrase |
|---|---|---|
| admin | administrator | fixture-admin-pass |
| ivan | investigator | fixture-ivan-pass |

FX-1 (H3 "only for the JIT", TLP AMBER+STRICT, legal authority W-1): notes.txt, image.bin, chat.log (content:
`content()` in the script, acquisition by "Ada Admin" with seal SEAL-7), a physical item "Phone, black" checked
out and back in (Locker 3 → Locker 4), an annotation (notes of notes.txt), a fixity verification of the case.
FX-2: created by ivan, closed by admin.
"""
READMES = {2: README_V2}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"made {make(int(arg))}")
