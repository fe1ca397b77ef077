"""Vault → Restore from backup…: the desktop's ``icspa vault restore --from DIR [--to PATH] [--force] --reason``.

The dialog asks for the backup folder and checks it first (``backup.check_backup``: every file read and hashed
against its MANIFEST, in the background, with progress and Stop), then shows what it holds — when and by whom it
was made, the vault, its files and custody events. Then where it goes: a new folder (the default), or in place
of the open vault, which needs an explicit confirmation, locks the app first and moves the old vault aside
(kept). As in the CLI, the restored vault is then opened with the user's passphrase of the backup's time and the
restore recorded with the reason (``restore.record_restore``: a signed event, the witnesses replaced). Over the
open vault, the app is locked while this runs and unlocks the restored vault afterwards.

The dialog collects and checks input and runs the read-only check; the controller (``RestoreAction``) runs the
restore itself, since a restore over the open vault outlives the dialog (the lock closes every dialog).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.evidence_dialogs import SubmitDialog
from icspa_desktop.gui.feedback import error_label, required, required_note, result_box, show_message
from icspa_desktop.gui.ops import BackgroundOp, run_with_progress, run_with_progress_dialog, show_error
from icspa_desktop.gui.role_hints import gate
from icspa_desktop.gui.wizard_parts import ProgressSection, button, choose_path, field_named, plain
from icspa_desktop.i18n import _, format_size
from icspa_desktop.services import backup, backup_files, restore
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session, unlock

_CLOSE_POLL_MS = 25  # how often the replace waits for the locked session to close (the GUI stays live)


@dataclass(frozen=True)
class RestoreRequest:
    """What the dialog hands over: a checked backup, where it goes, and how the restore is recorded."""

    backup_dir: Path
    target: Path
    replace: bool  # in place of the open vault (moved aside, kept)
    reason: str
    user: str
    passphrase: str


@dataclass(frozen=True)
class Restored:
    result: restore.RestoreResult
    record: restore.RestoreRecord


def run_restore(request: RestoreRequest, witness_dir: Path | None, progress: ProgressCallback,
                cancel: CancelToken) -> Restored:
    """Put the backup in place, then open it as the user and record the restore (the CLI's order). Cancel works
    until the copy is in place; the recording that follows is short and is not interrupted."""
    result = restore.restore(request.backup_dir, request.target, force=request.replace, progress=progress,
                            cancel=cancel)
    progress(0, 0, _("Opening the restored vault and recording the restore…"))
    try:
        with unlock(request.target, request.user, request.passphrase) as session:
            record = restore.record_restore(session, request.reason, witness_dir=witness_dir)
    except IcspaError as exc:
        note = _("{error} The backup is in place at {target}, but its restore is not recorded yet: an administrator "
                 "runs 'icspa --vault {target} vault restore --reason TEXT'.", error=exc, target=request.target)
        try:
            noted = type(exc)(note)
        except TypeError:  # an error class that takes more than its message: said as it is
            raise exc from None
        raise noted from exc
    return Restored(result, record)


def restored_text(done: Restored, replaced: bool) -> list[str]:
    """The result, paragraph by paragraph."""
    result, record = done.result, done.record
    lines = [_("Backup {backup} ({files} files, {size}, custody log of {events} events) restored to {path}.",
               backup=result.backup_id, files=result.files, size=format_size(result.total_bytes),
               events=result.tree_size, path=result.path),
             _("Restore recorded as custody event #{index}.", index=record.event_index)]
    if result.set_aside is not None:
        lines.append(_("The vault that was there was moved aside, not deleted: {path}", path=result.set_aside))
    if record.witness_tree_size is not None:
        lines.append(_("The witnesses had seen {seen} events, the restored log holds {restored}: the difference is "
                       "in the event.", seen=record.witness_tree_size, restored=record.tree_size_restored))
    if replaced:
        lines.append(_("Unlock to work in the restored vault."))
    else:
        lines.append(_("From now on {path} is the vault and the witnesses follow it: this window locks the vault it "
                       "had open and opens the restored one — unlock it with your passphrase of the backup's time. "
                       "(The vault you had open is a copy the witnesses no longer fit.)", path=result.path))
    return lines


class RestoreDialog(SubmitDialog):
    """Collects a checked backup, the target, the reason and the passphrase; ``requested(RestoreRequest)``."""

    requested = Signal(object)

    def __init__(self, vault_path: Path, vault_id: str, user: str, parent: QWidget | None = None, *,
                 check: Callable[..., backup.CheckedBackup] = backup.check_backup) -> None:
        super().__init__(parent)
        self.setObjectName("restoreDialog")
        self.setWindowTitle(_("Restore the vault from a backup"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(640)
        self._vault_path, self._vault_id, self._user, self._check = vault_path, vault_id, user, check
        self.error = error_label()
        self.checked: backup.CheckedBackup | None = None
        self.op: BackgroundOp | None = None
        self.submit = self._submit

        self.source = field_named(QLineEdit(), "backupFolderEdit")
        self.source.setPlaceholderText(_("/media/…/icspa-backup-…"))
        self.source.textChanged.connect(lambda _text: self._forget_check())
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(button(_("&Browse…"), "browseBackupButton", self._browse))
        source_label = QLabel(required(_("Backup &folder")))
        source_label.setBuddy(self.source)

        self.progress = ProgressSection("restoreProgress", "restoreStatus", _("&Stop"), "stopRestoreButton",
                                        self.stop)
        self.progress.bar.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the fields keep the focus while it checks
        self.contents = plain(name="backupContents")

        stamp = datetime.now(UTC).strftime("%Y%m%d")
        self.new_place = field_named(QRadioButton(_("A &new vault folder")), "newFolderRadio")
        self.replace = field_named(QRadioButton(_("In place of the open vault ({path}); it is moved aside, kept",
                                                  path=vault_path)), "replaceRadio")
        self.new_place.setChecked(True)
        places = QButtonGroup(self)
        places.addButton(self.new_place)
        places.addButton(self.replace)
        self.target = field_named(QLineEdit(str(vault_path.with_name(f"{vault_path.name}-restored-{stamp}"))),
                                  "targetFolderEdit")
        self.new_place.toggled.connect(self.target.setEnabled)
        self.reason = field_named(QLineEdit(), "restoreReasonEdit")
        self.reason.setPlaceholderText(_("e.g. disk failure of the workstation, ticket 2026-118"))
        self.passphrase = field_named(QLineEdit(), "restorePassphraseEdit")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText(_("{user}'s passphrase when the backup was made", user=user))
        for edit in (self.target, self.reason, self.passphrase):
            edit.textChanged.connect(lambda _text: show_message(self.error, ""))

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(source_label, source_row)
        form.addRow("", self.contents)
        form.addRow(_("Restore to"), self.new_place)
        form.addRow("", self.target)
        form.addRow("", self.replace)
        form.addRow(required(_("Rea&son")), self.reason)  # &R: Restore
        form.addRow(required(_("&Passphrase of {user}", user=user)), self.passphrase)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        # Enter performs the main action, never Cancel: checking the backup first, then restoring it.
        self.ok.setDefault(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel(_("The backup is checked completely before anything is written. The restore is recorded in "
                         "the chain of custody with your reason; an existing vault is never deleted."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        for widget in (self.progress.bar, self.progress.status, self.progress.stop):
            layout.addWidget(widget)
        layout.addWidget(required_note())
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._forget_check()
        self.source.setFocus()

    # ---- the check ------------------------------------------------------------------------
    @property
    def checking(self) -> bool:
        return self.op is not None and self.op.running

    def _browse(self) -> None:
        start = self.source.text().strip() or str(self._vault_path.parent)
        choose_path(self, _("Backup folder (icspa-backup-…)"), start, "backupFolderDialog", self.source.setText,
                    folder=True)

    def _forget_check(self) -> None:
        if self.checking and self.op is not None:
            self.op.cancel()  # a check of another folder: its result is dropped when it comes
        self.checked = None
        self.op = None
        self.contents.hide()
        self._show_progress(False)
        show_message(self.error, "")
        self.ok.setText(_("&Check backup"))

    def _show_progress(self, shown: bool) -> None:
        for widget in (self.progress.bar, self.progress.status, self.progress.stop):
            widget.setVisible(shown)

    def start_check(self) -> BackgroundOp | None:
        """Read every file of the chosen backup against its MANIFEST, in the background."""
        folder = Path(self.source.text().strip()).expanduser()
        if not self.source.text().strip() or not folder.is_absolute():
            show_message(self.error, _("Give the full path of the backup folder (icspa-backup-…)."))
            self.source.setFocus()
            return None
        self._forget_check()
        self._show_progress(True)
        self.progress.stop.setEnabled(True)
        self.progress.show_bytes(0, 0, _("Checking {folder} …", folder=folder))
        self.ok.setEnabled(False)
        check = self._check

        def work(progress: ProgressCallback, cancel: CancelToken) -> backup.CheckedBackup:
            return check(folder, progress, cancel)

        op = run_with_progress(self, work, lambda checked: self._checked(op, checked), self.progress.show_bytes,
                               lambda exc: self._check_failed(op, exc))
        self.op = op
        return op

    def stop(self) -> None:
        if self.checking and self.op is not None:
            self.op.cancel()
            self.progress.stopping(_("Stopping…"))

    def _checked(self, op: BackgroundOp, checked: backup.CheckedBackup) -> None:
        if op is not self.op:
            return
        self.ok.setEnabled(True)
        self._show_progress(False)
        self.checked = checked
        m = checked.manifest
        whose = (_("a backup of this vault") if m.vault_id == self._vault_id
                 else _("a backup of ANOTHER vault (id {id}; this one is {this})", id=m.vault_id, this=self._vault_id))
        self.contents.setText(_(
            "✔ Every file matches the backup's MANIFEST — {whose}.\nMade {created} by {creator}; backup id "
            "{backup}.\n{files} files, {size}, {blobs} evidence file(s); custody log of {events} events (schema "
            "version {schema}).\nMANIFEST SHA-256 {sha256}", whose=whose, created=m.created_at,
            creator=m.created_by, backup=m.backup_id, files=len(m.files), size=format_size(m.total_bytes),
            blobs=m.blobs, events=m.tree_size, schema=m.schema_version, sha256=checked.manifest_sha256))
        self.contents.show()
        self.adjustSize()  # room for the lines just shown (a dialog does not grow by itself)
        self.ok.setText(_("&Restore"))
        self.reason.setFocus()

    def _check_failed(self, op: BackgroundOp, exc: BaseException) -> None:
        if op is not self.op:
            return
        self.ok.setEnabled(True)
        self._show_progress(False)
        self.op = None
        show_message(self.error, _("The check was stopped; nothing was written.") if isinstance(exc, Cancelled)
                     else _("The backup cannot be restored: {error}", error=exc) if isinstance(exc, IcspaError)
                     else _("The check failed: {error}", error=exc))
        self.source.setFocus()

    # ---- the restore ----------------------------------------------------------------------
    def request(self) -> RestoreRequest | None:
        """The restore as the form states it, or None (and the problem shown) when something is missing."""
        problem, field = "", None
        target = Path(self.target.text().strip()).expanduser()
        if self.checked is None:
            problem, field = _("Check the backup first."), self.source
        elif self.new_place.isChecked() and (not self.target.text().strip() or not target.is_absolute()):
            problem, field = _("Give the full path of the new vault folder."), self.target
        elif self.new_place.isChecked() and target.exists() and (not target.is_dir() or any(target.iterdir())):
            problem, field = _("{path} already exists; choose a new folder.", path=target), self.target
        elif not self.reason.text().strip():
            problem, field = _("Say why the backup is restored; it is recorded in the chain of custody."), self.reason
        elif not self.passphrase.text():
            problem, field = _("Type {user}'s passphrase: the restored vault is opened with it to record the "
                               "restore.", user=self._user), self.passphrase
        if problem or self.checked is None:
            show_message(self.error, problem)
            if field is not None:
                field.setFocus()
            return None
        replace = self.replace.isChecked()
        return RestoreRequest(self.checked.path, self._vault_path if replace else target, replace,
                              self.reason.text().strip(), self._user, self.passphrase.text())

    def _submit(self) -> bool:
        if self.checking:
            return False
        if self.checked is None:
            self.start_check()
            return False
        request = self.request()
        if request is None:
            return False
        if request.replace:
            self._confirm_replace(request)
            return False
        self._hand_over(request)
        return True

    def _confirm_replace(self, request: RestoreRequest) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Warning, _("Replace the open vault?"),
                          _("The vault is locked now, the vault at {path} is moved aside (kept, {aside}<time>) and "
                            "the backup is put in its place. Everything recorded since the backup was made is not "
                            "in the restored vault.", path=request.target,
                            aside=f"{request.target.name}{backup_files.ASIDE_MARK}"),
                          QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("replaceVaultQuestion")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        go = box.addButton(_("&Lock and replace"), QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton(_("&Keep the open vault"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)  # replacing is never what Enter does by accident
        box.setEscapeButton(keep)
        go.clicked.connect(lambda: self._replace_confirmed(request))
        box.open()
        return box

    def _replace_confirmed(self, request: RestoreRequest) -> None:
        self._hand_over(request)
        super().accept()

    def _hand_over(self, request: RestoreRequest) -> None:
        self.passphrase.clear()
        self.requested.emit(request)

    def reject(self) -> None:
        if self.checking and self.op is not None:
            self.op.cancel()  # Escape and Cancel stop the check too; nothing was written
        super().reject()


class RestoreAction(QObject):
    """Vault → Restore from backup… (administrators: recording a restore replaces the custody witnesses)."""

    restored = Signal(object)  # Restored
    failed = Signal(object)

    def __init__(self, window: QWidget, menu: QMenu, session: Callable[[], Session | None],
                 lock: Callable[[], object], witness_dir: Callable[[], Path | None]) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self._lock = lock
        self._witness_dir = witness_dir
        self.op: BackgroundOp | None = None
        self.dialog: RestoreDialog | None = None
        self.result_box: QMessageBox | None = None
        self.action = QAction(_("&Restore from backup…"), window)
        self.action.setObjectName("restoreAction")
        self.action.setStatusTip(_("Check a backup folder and put it in place, as a new vault or instead of this "
                                   "one"))
        self.action.triggered.connect(lambda _checked=False: self.open())
        menu.addAction(self.action)
        menu.aboutToShow.connect(self.update)
        self.update()

    @property
    def busy(self) -> bool:
        return self.op is not None and self.op.running

    def update(self) -> None:
        session = self._session()
        gate(self.action, session is not None and not self.busy, session.user.role if session is not None else None,
             Permission.MANAGE_USERS)

    def open(self) -> RestoreDialog | None:
        session = self._session()
        self.update()
        if session is None or not self.action.isEnabled():
            return None
        dialog = RestoreDialog(session.vault_path, session.vault.header.vault_id, session.user.name, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.requested.connect(self.start)
        self.dialog = dialog
        dialog.open()
        return dialog

    def start(self, request: RestoreRequest) -> None:
        if not request.replace:
            self._run(request)
            return
        # Over the open vault: lock first (the lock screen at once; the session closes when no worker uses it),
        # and start only once it is closed — the restore needs the vault's lock, and a running worker would keep
        # the session open.
        session = self._session()
        self._lock()
        self._when_closed(session, lambda: self._run(request))

    def _when_closed(self, session: Session | None, then: Callable[[], None]) -> None:
        if session is not None and session.is_open:
            QTimer.singleShot(_CLOSE_POLL_MS, lambda: self._when_closed(session, then))
            return
        then()

    def _run(self, request: RestoreRequest) -> None:
        witness_dir = self._witness_dir()

        def work(progress: ProgressCallback, cancel: CancelToken) -> Restored:
            return run_restore(request, witness_dir, progress, cancel)

        self.op = run_with_progress_dialog(self._window, _("Restoring the vault"), work,
                                           lambda done: self._done(done, request.replace), self._failed,
                                           stopping=_("Stopping: nothing is put in place."))
        self.update()

    def _done(self, done: Restored, replaced: bool) -> None:
        self.update()
        self._show(QMessageBox.Icon.Information, _("Backup restored"), restored_text(done, replaced))
        self.restored.emit(done)

    def _failed(self, exc: BaseException) -> None:
        self.update()
        self.failed.emit(exc)
        if isinstance(exc, Cancelled):
            self._show(QMessageBox.Icon.Information, _("Restore cancelled"),
                       [_("The restore was stopped; nothing was put in place.")])
            return
        show_error(self._window, exc)

    def _show(self, icon: QMessageBox.Icon, title: str, paragraphs: list[str]) -> None:
        self.result_box = result_box(self._window, icon, title, paragraphs, "restoreResultDialog", self.result_box)
