"""Idle detection for auto-lock: any key or mouse input anywhere in the app restarts the timer; and the lock key
from any window of the app."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence

_ACTIVITY = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin,
    QEvent.Type.TabletPress, QEvent.Type.Shortcut,
})


class IdleWatcher(QObject):
    """Install on the QApplication; emits ``idle`` once after ``timeout_ms`` without user input while armed, and
    ``lock_key`` when the lock shortcut is pressed in a window where no shortcut took it.

    The main window's Ctrl+L is a window shortcut, and Qt matches none while a window-modal dialog blocks the
    window — a report's progress dialog, a wizard (issue 11: Ctrl+L during an export). A key press reaches
    this filter only when no shortcut consumed it, so the lock never fires twice."""

    idle = Signal()
    lock_key = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        # Coarse timers snap their expiry to a slack grid, so a restart could leave it unchanged.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.idle)
        self._timeout_ms = 0
        self._armed = False
        self._lock_key: QKeySequence | None = None

    @property
    def timeout_ms(self) -> int:
        return self._timeout_ms

    def set_timeout_ms(self, timeout_ms: int) -> None:
        """0 disables auto-lock."""
        self._timeout_ms = max(0, int(timeout_ms))
        self._restart()

    def set_lock_key(self, sequence: QKeySequence) -> None:
        self._lock_key = QKeySequence(sequence)

    def set_timeout_minutes(self, minutes: float) -> None:
        self.set_timeout_ms(round(minutes * 60_000))

    def arm(self) -> None:
        """Start watching (after unlock)."""
        self._armed = True
        self._restart()

    def disarm(self) -> None:
        """Stop watching (while locked)."""
        self._armed = False
        self._timer.stop()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def _restart(self) -> None:
        if self._armed and self._timeout_ms > 0:
            self._timer.start(self._timeout_ms)
        else:
            self._timer.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self._armed and event.type() in _ACTIVITY:
            self._restart()
            if (event.type() == QEvent.Type.KeyPress and self._lock_key is not None and isinstance(event, QKeyEvent)
                    and QKeySequence(event.keyCombination()) == self._lock_key):
                self.lock_key.emit()
                return True
        return False
