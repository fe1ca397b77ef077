"""Copying a hash or a fingerprint to the clipboard, and taking it back (issue 13 item 6).

A SHA-256 in the clipboard names evidence to anyone who can match it against a hash set, and every other program of
the session can read the clipboard. So what we copy is cleared after ``CLEAR_AFTER_MS``, at lock and at quit — but
only while the clipboard still holds *our* copy: once the user has copied something else, that is theirs and stays.
Our copy is recognised by a random token in a private MIME format, not by its text (the user may copy the same hash
from elsewhere, and that copy is theirs too).

The state lives in one object per application, a Qt child of the ``QGuiApplication`` (``SensitiveClipboard.of``), so
it lives exactly as long as the application and its clipboard, and there is nothing module-global to reset. (Not a
child of the ``QClipboard``: PySide hands out a short-lived wrapper for it, and the Python side of a child of that
wrapper was dropped with it — the guard came back without its state.)
"""

from __future__ import annotations

import secrets

from PySide6.QtCore import QCoreApplication, QMimeData, QObject, QTimer, Signal
from PySide6.QtGui import QClipboard, QGuiApplication

CLEAR_AFTER_MS = 60_000
_OBJECT_NAME = "icspaSensitiveClipboard"
_MARK_FORMAT = "application/x-icspa-copy-token"
# Clipboard managers (Klipper, GPaste, KeePassXC's convention) keep no history of data marked this way.
_HISTORY_HINT_FORMAT = "x-kde-passwordManagerHint"


class SensitiveClipboard(QObject):
    """What this app put in one clipboard; ``forget()`` clears it if it is still there."""

    expired = Signal(bool)  # the clear timer ran out; True when it cleared our copy, False when the user's stayed

    @classmethod
    def of(cls) -> SensitiveClipboard:
        """The application's guard, made on first use."""
        app = QGuiApplication.instance()
        if app is None:
            raise RuntimeError("the clipboard needs a running QGuiApplication")
        found = app.findChild(cls, _OBJECT_NAME)
        return found if found is not None else cls(app)

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.setObjectName(_OBJECT_NAME)
        self._clipboard = QGuiApplication.clipboard()
        self._token: bytes | None = None
        self.clear_after_ms = CLEAR_AFTER_MS
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expire)
        app.aboutToQuit.connect(self.forget)  # Qt may hand the clipboard to a clipboard manager at exit: clear first

    def copy(self, text: str) -> None:
        """Put ``text`` in the clipboard; it is cleared after ``clear_after_ms`` unless the user replaced it."""
        token = secrets.token_hex(16).encode("ascii")
        data = QMimeData()
        data.setText(text)
        data.setData(_MARK_FORMAT, token)
        data.setData(_HISTORY_HINT_FORMAT, b"secret")
        self._clipboard.setMimeData(data, QClipboard.Mode.Clipboard)  # the clipboard owns ``data`` now
        self._token = token
        self._timer.start(self.clear_after_ms)

    @property
    def holds_our_copy(self) -> bool:
        """The clipboard still holds the latest text this app copied."""
        if self._token is None:
            return False
        data = self._clipboard.mimeData(QClipboard.Mode.Clipboard)
        return (data is not None and data.hasFormat(_MARK_FORMAT)
                and bytes(data.data(_MARK_FORMAT).data()) == self._token)

    @property
    def pending(self) -> bool:
        """A copy of ours is waiting for its clear timer."""
        return self._timer.isActive()

    def forget(self) -> bool:
        """Clear the clipboard if it still holds our copy (lock, quit, the timer); True when it did."""
        self._timer.stop()
        ours = self.holds_our_copy
        if ours:
            self._clipboard.clear(QClipboard.Mode.Clipboard)
        self._token = None
        return ours

    def _expire(self) -> None:
        self.expired.emit(self.forget())


def copy_text(text: str) -> None:
    """Copy a hash or fingerprint: the one call of every copy site."""
    SensitiveClipboard.of().copy(text)


def forget_copied() -> bool:
    """At lock: clear what we copied, if the clipboard still holds it."""
    return SensitiveClipboard.of().forget()
