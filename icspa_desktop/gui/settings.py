"""The desktop app's own preferences (not vault data), in an INI file under the user's config dir."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from PySide6.QtCore import QByteArray, QSettings

DEFAULT_AUTO_LOCK_MINUTES = 10.0
MAX_AUTO_LOCK_MINUTES = 24 * 60.0


def settings_path() -> Path:
    """``$XDG_CONFIG_HOME/icspa/desktop.ini``; read from the environment on every call, so tests isolate it."""
    return Path(platformdirs.user_config_dir("icspa", appauthor=False)) / "desktop.ini"


class AppSettings:
    """Typed access to the few preferences; holds no secrets and no case data.

    Each access opens a short-lived ``QSettings`` (Qt caches the parsed file) rather than keeping one: a
    ``QSettings`` is a QObject with events posted to it, and one owned by a long-lived Python object could
    end up destroyed by Python's cyclic garbage collector in a worker thread (see gui/models.py).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = str(path or settings_path())

    def _open(self) -> QSettings:
        return QSettings(self._path, QSettings.Format.IniFormat)

    def _value(self, key: str, default: object) -> object:
        return self._open().value(key, default)

    def _set(self, key: str, value: object) -> None:
        self.set_many({key: value})

    def set_many(self, values: dict[str, object]) -> None:
        """Write the values that changed, with one sync. A sync writes the file and fsyncs it on the GUI thread:
        ~1 ms, but 250 ms while the disk writes back gigabytes (measured: a lock after a big copy froze the window
        that long for each of its four layout keys). An unchanged value writes nothing."""
        qsettings = self._open()
        changed = {key: value for key, value in values.items() if qsettings.value(key) != value}
        if not changed:
            return
        for key, value in changed.items():
            qsettings.setValue(key, value)
        qsettings.sync()

    @property
    def file(self) -> Path:
        return Path(self._open().fileName())

    @property
    def auto_lock_minutes(self) -> float:
        """Idle minutes before the vault locks itself; 0 turns auto-lock off."""
        raw = self._value("lock/auto_lock_minutes", DEFAULT_AUTO_LOCK_MINUTES)
        if not isinstance(raw, str | int | float):  # QSettings hands back whatever the INI file held
            return DEFAULT_AUTO_LOCK_MINUTES
        try:
            minutes = float(raw)
        except ValueError:
            return DEFAULT_AUTO_LOCK_MINUTES
        return min(max(minutes, 0.0), MAX_AUTO_LOCK_MINUTES)

    @auto_lock_minutes.setter
    def auto_lock_minutes(self, minutes: float) -> None:
        self._set("lock/auto_lock_minutes", float(minutes))

    @property
    def last_user(self) -> str:
        return str(self._value("unlock/last_user", "") or "")

    @last_user.setter
    def last_user(self, name: str) -> None:
        self._set("unlock/last_user", name)

    @property
    def vault_path(self) -> str:
        """Where the wizard last created a vault outside the default location ("" if never)."""
        return str(self._value("vault/path", "") or "")

    @vault_path.setter
    def vault_path(self, path: str) -> None:
        self._set("vault/path", path)

    def layout_state(self, name: str) -> bytes:
        """A saved window geometry or splitter state (``b""`` if none): where the user left things."""
        raw = self._value(f"layout/{name}", b"")
        if isinstance(raw, QByteArray):
            return bytes(raw.data())
        return raw if isinstance(raw, bytes) else b""

    def set_layout_state(self, name: str, state: bytes) -> None:
        self.set_layout_states({name: state})

    def set_layout_states(self, states: dict[str, bytes]) -> None:
        """Several layout states at once (one write, if any changed)."""
        self.set_many({f"layout/{name}": QByteArray(state) for name, state in states.items()})
