"""Preferences of this workstation's app (not of the vault)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from icspa_desktop.gui.settings import MAX_AUTO_LOCK_MINUTES, AppSettings
from icspa_desktop.i18n import _


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.setObjectName("settingsDialog")
        self.setWindowTitle(_("Settings"))
        self.auto_lock = QSpinBox()
        self.auto_lock.setObjectName("autoLockSpin")
        self.auto_lock.setRange(0, int(MAX_AUTO_LOCK_MINUTES))
        self.auto_lock.setSuffix(_(" min"))
        self.auto_lock.setSpecialValueText(_("never"))
        self.auto_lock.setValue(round(settings.auto_lock_minutes))
        hint = QLabel(_("The vault locks itself after this long without keyboard or mouse input."))
        hint.setObjectName("hintLabel")
        hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow(_("&Lock when idle for"), self.auto_lock)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def accept(self) -> None:
        self._settings.auto_lock_minutes = float(self.auto_lock.value())
        super().accept()
