"""Shared fixtures: real vaults in temporary directories, real keys, real SQLCipher files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The tests assert English texts: a developer whose desktop is in German still runs them in English (the
# translation tests set ICSPA_LANG themselves).
os.environ.setdefault("ICSPA_LANG", "en")

from icspa_desktop import i18n
from icspa_desktop.crypto import kdf
from icspa_desktop.domain.enums import Role
from icspa_desktop.services import users
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault

# Cheap Argon2id for the whole run; the production parameters are tested explicitly (``production_kdf``).
# An in-process hook, not an environment variable: nothing a user sets reaches it in the installed app.
kdf.use_insecure_test_profile()

# ``icspa`` in a child interpreter with the same cheap profile: the hook is called in the child, before main().
# The child imports this checkout's code, whatever checkout the venv's editable install points at.
REPO_ROOT = Path(__file__).resolve().parents[1]
ICSPA_BOOT = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); "
              "from icspa_desktop.crypto import kdf; kdf.use_insecure_test_profile(); "
              "from icspa_desktop.cli.main import main; sys.exit(main())")


def icspa_command(*args: str) -> list[str]:
    """The argv that runs ``icspa ARGS`` in a subprocess of the tests (cheap test KDF profile)."""
    return [sys.executable, "-c", ICSPA_BOOT, *args]

ADMIN = "alice"
ADMIN_PASS = "alice-passphrase"
PASSPHRASES = {
    Role.ADMINISTRATOR: ADMIN_PASS,
    Role.SUPERVISOR: "sam-passphrase",
    Role.INVESTIGATOR: "ivan-passphrase",
    Role.AUDITOR: "audrey-passphrase",
}
NAMES = {Role.ADMINISTRATOR: ADMIN, Role.SUPERVISOR: "sam", Role.INVESTIGATOR: "ivan", Role.AUDITOR: "audrey"}


@dataclass
class VaultInfo:
    path: Path
    recovery_key: str

    def session(self, role: Role = Role.ADMINISTRATOR) -> Session:
        return unlock(self.path, NAMES[role], PASSPHRASES[role])


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real user's vault or settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in ("ICSPA_VAULT", "ICSPA_USER", "ICSPA_PASSPHRASE", "ICSPA_NEW_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def production_kdf() -> Iterator[None]:
    """The installed app's KDF behaviour: production parameters, test-profile slots refused."""
    kdf.use_insecure_test_profile(False)
    try:
        yield
    finally:
        kdf.use_insecure_test_profile()


@pytest.fixture
def vault(tmp_path: Path) -> VaultInfo:
    """A fresh vault with one user per role."""
    path = tmp_path / "vault"
    recovery = init_vault(path, ADMIN, ADMIN_PASS, display_name="Alice Admin",
                          agency=AgencyInfo("Test Police", "NL", "Digital Forensics", "lab@example.org"))
    with unlock(path, ADMIN, ADMIN_PASS) as session:
        for role in (Role.SUPERVISOR, Role.INVESTIGATOR, Role.AUDITOR):
            users.add_user(session, NAMES[role], role, PASSPHRASES[role])
    return VaultInfo(path, recovery)


@pytest.fixture
def admin(vault: VaultInfo) -> Iterator[Session]:
    with vault.session() as session:
        yield session


def run_cli(*args: str, env: dict[str, str] | None = None, input_text: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``icspa`` in a real subprocess (exit codes, stderr lines)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(icspa_command(*args), capture_output=True, text=True, env=full_env, input=input_text,
                          timeout=timeout, check=False)


@pytest.fixture
def use_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``use_language("de")``: ICSPA_LANG set, as a user would start the program; the next message chooses."""

    def choose(code: str) -> None:
        monkeypatch.setenv(i18n.ENV_VAR, code)
        i18n.reset()

    yield choose
    i18n.reset()  # the next test's first message chooses again, from its own environment
    if "icspa_desktop.gui.language_dialog" in sys.modules:
        from icspa_desktop.gui.language_dialog import install_qt_translations

        install_qt_translations(i18n.SOURCE_LANGUAGE)  # no German Qt buttons in the next test
