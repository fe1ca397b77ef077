"""Vault → Back up…: choose a folder, copy the vault in the background with progress and Cancel, show the result.

The work is ``services.backup.backup`` (the same as ``icspa vault backup``); this module only asks for the folder,
runs it through ``run_with_progress_dialog`` and says what came of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from icspa_desktop.domain.errors import Cancelled
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.feedback import result_box
from icspa_desktop.gui.ops import BackgroundOp, run_with_progress_dialog, show_error
from icspa_desktop.i18n import _
from icspa_desktop.services import backup
from icspa_desktop.services.session import Session


class BackupAction(QObject):
    """The Back up… entry of the Vault menu; enabled while a vault is unlocked and no backup is running."""

    def __init__(self, window: QWidget, menu: QMenu, session: Callable[[], Session | None]) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self.op: BackgroundOp | None = None
        self.result_box: QMessageBox | None = None  # the last result shown (tests read it)
        self.action = QAction(_("&Back up…"), window)
        self.action.setObjectName("backupAction")
        self.action.setStatusTip(_("Copy the whole vault, still encrypted, into a folder (e.g. on removable media) "
                                   "and check the copy"))
        self.action.triggered.connect(lambda _checked=False: self.choose_folder())
        menu.addAction(self.action)
        menu.aboutToShow.connect(self.update)
        self.update()

    @property
    def busy(self) -> bool:
        return self.op is not None and self.op.running

    def update(self) -> None:
        self.action.setEnabled(self._session() is not None and not self.busy)

    def choose_folder(self) -> QFileDialog | None:
        """Ask where to write the backup (a folder; the backup is a new folder inside it)."""
        if self._session() is None or self.busy:
            return None
        dialog = QFileDialog(self._window, _("Back up the vault into…"), str(Path.home()))
        dialog.setObjectName("backupFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.back_up_to(Path(name)) if name else None)
        dialog.open()
        return dialog

    def back_up_to(self, folder: Path) -> BackgroundOp | None:
        session = self._session()
        if session is None or self.busy:
            return None

        def work(progress: ProgressCallback, cancel: CancelToken) -> backup.BackupResult:
            return backup.backup(session, folder, progress, cancel)

        self.op = run_with_progress_dialog(self._window, _("Backing up the vault"), work, self._done, self._failed)
        self.update()
        return self.op

    def _done(self, result: backup.BackupResult) -> None:
        self.update()
        mib = result.total_bytes / 2**20
        self._show(QMessageBox.Icon.Information, _("Backup complete"), [
            _("The vault was copied and the copy checked:\n{path}", path=result.path),
            _("{files} files, {mib} MiB ({blobs} evidence file(s)), custody log of {events} events, in {seconds} s.",
              files=result.files, mib=f"{mib:,.1f}", blobs=result.blobs, events=result.tree_size,
              seconds=f"{result.seconds:.1f}"),
            _("MANIFEST SHA-256: {sha256}\nRecorded as custody event #{index}.", sha256=result.manifest_sha256,
              index=result.event_index),
            _("The copy is as encrypted as the vault: keep it as carefully (it opens with the passphrases and the "
              "recovery key of today)."),
        ])

    def _failed(self, exc: BaseException) -> None:
        self.update()
        if isinstance(exc, Cancelled):
            self._show(QMessageBox.Icon.Information, _("Backup cancelled"),
                       [_("The backup was cancelled; nothing was left in the folder.")])
            return
        show_error(self._window, exc)

    def _show(self, icon: QMessageBox.Icon, title: str, paragraphs: list[str]) -> None:
        self.result_box = result_box(self._window, icon, title, paragraphs, "backupResultDialog", self.result_box)
