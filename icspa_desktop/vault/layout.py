"""Names of the files inside a vault directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

VAULT_ENV = "ICSPA_VAULT"


def default_vault_path() -> Path:
    """``ICSPA_VAULT`` if set, else the platform data dir (``~/.local/share/icspa/vault`` on Linux)."""
    env = os.environ.get(VAULT_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("icspa", appauthor=False)) / "vault"


@dataclass(frozen=True, slots=True)
class VaultLayout:
    root: Path

    @property
    def header(self) -> Path:
        return self.root / "vault.json"

    @property
    def keyslots(self) -> Path:
        return self.root / "keyslots.json"

    @property
    def database(self) -> Path:
        return self.root / "metadata.db"

    @property
    def lock(self) -> Path:
        return self.root / "vault.lock"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def staging(self) -> Path:
        """Encrypted partial writes (ingest in progress); emptied at every open."""
        return self.root / "staging"
