"""``icspa-desktop [FILE]``: first-run wizard or unlock dialog, then the main window; locks on demand and when idle.

FILE (what a double-click in the file manager passes, resources/icspa-desktop.desktop) is opened once the vault is
unlocked: a partner bundle in the import wizard, an agency card in the card import. ``--self-test`` builds the first
windows over a throw-away folder and exits: the installation check of docs/admin-guide.md.
"""

from __future__ import annotations

import argparse
import enum
import gc
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSize, Qt, QThreadPool, QTimer, Signal, qVersion
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.files import VAULT_ENV, default_vault_path
from icspa_desktop.gui.feedback import result_box
from icspa_desktop.gui.idle import IdleWatcher
from icspa_desktop.gui.main_window import MainWindow
from icspa_desktop.gui.ops import BackgroundOp, show_error, show_notice
from icspa_desktop.gui.resources import apply_stylesheet, resource_dir
from icspa_desktop.gui.restore_dialog import Restored, restored_text
from icspa_desktop.gui.settings import MAX_AUTO_LOCK_MINUTES, AppSettings
from icspa_desktop.gui.settings_dialog import SettingsDialog
from icspa_desktop.gui.stop_signals import QuitOnSignals
from icspa_desktop.gui.unlock_dialog import UnlockDialog
from icspa_desktop.gui.vault_wizard import CreateVaultWizard
from icspa_desktop.i18n import _
from icspa_desktop.services import fixity, vault_service
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.vault.process import disable_core_dumps
from icspa_desktop.vault.store import vault_exists

# Long operations check their cancel token between chunks, so they stop well within this.
_STOP_WORK_TIMEOUT_MS = 30_000
_LOCK_POLL_MS = 25  # how often a lock waiting for a worker looks again (the GUI stays live meanwhile)
_SWITCH_INTERVAL_S = 0.00005  # tune_interpreter says why
_GEOMETRY_KEY = "mainWindow"
_SPLITTER_KEYS = ("caseBrowser", "evidenceSplitter", "custodyTimeline")
APP_ID = "icspa-desktop"  # the desktop entry (share/applications/icspa-desktop.desktop) and the icon's name
_ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
_VOLUME = re.compile(r"\.icspa\.\d{3}$")


class FileKind(enum.Enum):
    """What ``icspa-desktop FILE`` can open (the MIME types of resources/icspa-desktop-mime.xml)."""

    BUNDLE = "partner bundle"  # application/x-icspa-bundle: NAME.icspa, or the first volume NAME.icspa.001
    CARD = "agency card"  # application/x-icspa-card: NAME.icspa-card


def file_kind(path: Path) -> FileKind | None:
    """By its name, as the file manager chose this program for it."""
    if path.name.endswith(".icspa-card"):
        return FileKind.CARD
    if path.name.endswith(".icspa") or _VOLUME.search(path.name):
        return FileKind.BUNDLE
    return None


def open_problem(path: Path) -> str:
    """Why ``path`` cannot be opened ('' when it can): the message shown at start, before the unlock."""
    if file_kind(path) is None:
        return _("{path} is not a file this program opens: a partner bundle is NAME.icspa (or its first volume "
                 "NAME.icspa.001), an agency card NAME.icspa-card.", path=path)
    if path.is_dir():
        return _("{path} is a folder, not a file.", path=path)
    if not path.is_file():
        return _("{path} does not exist (was the removable medium taken out?).", path=path)
    return ""


def icon_theme_dirs() -> list[Path]:
    """Where the icon set is: resources/icons in a checkout, <prefix>/share/icons/hicolor once installed."""
    try:
        base = resource_dir()
    except FileNotFoundError:
        return []
    return [base / "icons", base.parent / "icons" / "hicolor"]


def app_icon() -> QIcon:
    """The application's icon in every size of the icon set; the desktop theme's, if the set is missing."""
    icon = QIcon()
    for root in icon_theme_dirs():
        svg = root / "scalable" / "apps" / f"{APP_ID}.svg"
        pngs = [(size, root / f"{size}x{size}" / "apps" / f"{APP_ID}.png") for size in _ICON_SIZES]
        found = [(size, png) for size, png in pngs if png.is_file()]
        for size, png in found:
            icon.addFile(str(png), QSize(size, size))
        if svg.is_file():
            icon.addFile(str(svg))
        if found or svg.is_file():
            return icon
    return QIcon.fromTheme(APP_ID)


class DesktopApp(QObject):
    """The session's life cycle: create or unlock, show, lock, quit. Holds the only ``Session``."""

    unlocked = Signal(object)
    locked = Signal()
    finished = Signal()  # the user quit; main() ends the event loop

    def __init__(self, app: QApplication, vault_path: Path, settings: AppSettings,
                 auto_lock_minutes: float | None = None) -> None:
        super().__init__()
        self.vault_path = vault_path
        self.settings = settings
        self.session: Session | None = None
        self.unlock_dialog: UnlockDialog | None = None
        self.wizard: CreateVaultWizard | None = None
        self._done = False
        self._locking: Session | None = None  # locked on screen, closing once no worker uses it
        self._pending_file: tuple[FileKind, Path] | None = None  # icspa-desktop FILE, opened after the unlock
        self._notice: tuple[str, list[str]] | None = None  # shown over the next unlock dialog (switch_vault)
        self.notice_box: QMessageBox | None = None

        self.window = MainWindow(vault_path)
        self.window.setWindowIcon(app_icon())
        self.window.lock_requested.connect(self.lock)
        self.window.settings_requested.connect(self.open_settings)
        self.window.closing.connect(self.quit)
        self.window.restore.restored.connect(self._restored)

        self.idle = IdleWatcher(self)
        self.idle.set_timeout_minutes(settings.auto_lock_minutes if auto_lock_minutes is None else auto_lock_minutes)
        self.idle.idle.connect(self.lock)
        self.idle.set_lock_key(self.window.lock_action.shortcut())
        self.idle.lock_key.connect(self.lock)
        self._app = app
        app.installEventFilter(self.idle)
        self._restore_layout()

    # ---- where the user left the window --------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.settings.layout_state(_GEOMETRY_KEY)
        if geometry:
            self.window.restoreGeometry(QByteArray(geometry))
        states = {name: self.settings.layout_state(name) for name in _SPLITTER_KEYS}
        self.window.browser.restore_layout_states({name: state for name, state in states.items() if state})

    def save_layout(self) -> None:
        """The window's geometry and splitters, for the next start (no vault data: sizes only)."""
        states = {_GEOMETRY_KEY: bytes(self.window.saveGeometry().data())}
        states |= {name: state for name, state in self.window.browser.layout_states().items() if name in _SPLITTER_KEYS}
        self.settings.set_layout_states(states)

    def start(self) -> None:
        if vault_exists(self.vault_path):
            self.show_unlock()
        else:
            self.show_wizard()

    # ---- create ---------------------------------------------------------------------
    def show_wizard(self) -> CreateVaultWizard:
        # Parented to the (still hidden) main window: Qt owns it, so Python's collector never frees it early.
        wizard = CreateVaultWizard(self.vault_path, parent=self.window)
        wizard.vault_created.connect(self._vault_created)
        wizard.rejected.connect(self.quit)
        self.wizard = wizard
        wizard.show()
        return wizard

    def _vault_created(self, path: Path, admin_name: str) -> None:
        if self.wizard is not None:
            self.wizard.deleteLater()
        self.wizard = None
        if path != self.vault_path:
            self.vault_path = path
            self.window.set_vault_path(path)
            self.settings.vault_path = str(path)  # the next start without --vault finds it
        self.settings.last_user = admin_name
        self.show_unlock()

    def _restored(self, done: Restored) -> None:
        """A backup restored into another folder is the vault from now on (the witnesses follow it): work there."""
        if done.result.path != self.vault_path:
            self.switch_vault(done.result.path, (_("Backup restored"), restored_text(done, replaced=False)))

    def switch_vault(self, path: Path, notice: tuple[str, list[str]] | None = None) -> None:
        """Work in the vault at ``path``: this one is locked (as Ctrl+L does, which closes every other box), then
        the other one's unlock is asked, with ``notice`` (title, paragraphs) shown over it."""
        self.vault_path = path
        self.window.set_vault_path(path)
        self.settings.vault_path = str(path)  # the next start without --vault opens it too
        self._notice = notice
        if self.session is not None:
            self.lock()  # its unlock dialog, once the session is closed, is for ``path``

    # ---- unlock / lock ---------------------------------------------------------------
    def show_unlock(self) -> UnlockDialog:
        path = self.vault_path
        # Always a child of the window (even while it is hidden): Qt owns and deletes it.
        dialog = UnlockDialog(path, lambda user, passphrase: unlock(path, user, passphrase),
                              self.settings.last_user, self.window,
                              recover=lambda user, key, new: vault_service.recover(path, key, user, new))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.unlocked.connect(self._unlocked)
        dialog.rejected.connect(self.quit)
        self.unlock_dialog = dialog
        dialog.open()  # window-modal over the locked window
        if self._notice is not None:
            title, paragraphs = self._notice
            self._notice = None
            self.notice_box = result_box(dialog, QMessageBox.Icon.Information, title, paragraphs, "switchNotice")
        return dialog

    def _unlocked(self, session: Session) -> None:
        self.unlock_dialog = None
        if self._done:  # quit while the KDF ran
            session.lock()
            return
        self.session = session
        self.settings.last_user = session.user.name
        try:
            self.window.show_session(session)
        except Exception as exc:
            self.lock()
            show_error(self.unlock_dialog, exc)
            return
        self.window.show()
        try:  # partial plaintext a crashed extraction left outside the vault: removed, recorded, told
            session.warnings.extend(_("Warning: {warning}", warning=x.message)
                                    for x in fixity.interrupted_extractions(session))
        except IcspaError as exc:
            session.warnings.append(_("Warning: interrupted extractions could not be checked: {error}", error=exc))
        if session.warnings:  # a rollback seen by a witness, stray files moved, forged user events…
            show_notice(self.window, _("The vault needs attention"), session.warnings, "unlockWarnings")
        self.idle.arm()
        pending, self._pending_file = self._pending_file, None
        if pending is not None:
            self._open_file(*pending)
        # "Unlocked" means ready to use: once the case list (read in a worker) is shown and the daily checkpoint
        # (signed in a worker) is settled.
        browser, reports = self.window.browser, self.window.custody
        waiting = [True]

        def ready() -> None:
            if not waiting[0]:
                return
            if self.session is session and (not browser.cases_are_loaded or reports.daily_pending):
                return
            waiting[0] = False
            browser.cases_loaded.disconnect(ready)
            reports.daily_settled.disconnect(ready)
            if self.session is session:
                self.unlocked.emit(session)

        browser.cases_loaded.connect(ready)
        reports.daily_settled.connect(ready)
        ready()

    # ---- a file passed on the command line (a double-click in the file manager) -------------
    def open_when_unlocked(self, path: Path) -> QMessageBox | None:
        """Open ``path`` as soon as the vault is unlocked (now, if it is). A path that cannot be opened is told
        at once, over the unlock dialog or wizard (the returned message), and forgotten."""
        kind, problem = file_kind(path), open_problem(path)
        if problem or kind is None:
            front: QWidget = self.unlock_dialog or self.wizard or self.window
            return show_notice(front, _("Cannot open the file"), [problem], "openFileProblem")
        self._pending_file = (kind, path)
        if self.session is not None:
            self._pending_file = None
            self._open_file(kind, path)
        return None

    def _open_file(self, kind: FileKind, path: Path) -> None:
        if kind is FileKind.BUNDLE:
            self.window.open_bundle_file(path)
        else:
            self.window.open_card_file(path)

    def lock(self) -> None:
        """Ctrl+L and idle: forget every view of the data at once, close the database and drop the keys as
        soon as no worker uses them, then ask again.

        Running work is abandoned: told to stop, and nothing it returns is shown. The GUI never waits for
        it (issue 11: Ctrl+L during a report froze the window 5.6 s): the window shows the lock screen
        now; the session closes when the last worker has ended (``locked``), then the unlock dialog opens.
        """
        if self.session is None:
            return
        session, self.session = self.session, None
        self.idle.disarm()
        self.save_layout()
        for op in self.window.findChildren(BackgroundOp):
            if op.running:
                op.abandon()
        self.window.show_locked()
        self._locking = session
        if self._done:  # quitting: the window is gone, so waiting freezes nothing, and main() ends after this
            QThreadPool.globalInstance().waitForDone(_STOP_WORK_TIMEOUT_MS)
        self._close_when_idle()

    @property
    def locking(self) -> bool:
        """Locked on screen, the session still waiting for a worker to end before it closes."""
        return self._locking is not None

    def _close_when_idle(self) -> None:
        session = self._locking
        if session is None:
            return
        if not QThreadPool.globalInstance().waitForDone(0):  # a worker still uses the session
            self.window.statusBar().showMessage(_("Locking: waiting for the running operation to stop…"))
            QTimer.singleShot(_LOCK_POLL_MS, self._close_when_idle)
            return
        self._locking = None
        session.lock()
        self.window.statusBar().clearMessage()
        self.locked.emit()
        if not self._done:
            self.show_unlock()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.idle.set_timeout_minutes(self.settings.auto_lock_minutes))
        dialog.open()
        return dialog

    def quit(self) -> None:
        """Lock and close everything (Ctrl+Q, window closed, Quit in the unlock dialog or wizard)."""
        if self._done:
            return
        self._done = True
        self.save_layout()
        self.lock()
        if self._locking is not None:  # locked on screen earlier, still waiting for a worker: finish it now
            QThreadPool.globalInstance().waitForDone(_STOP_WORK_TIMEOUT_MS)
            self._close_when_idle()
        self.idle.disarm()
        self._app.removeEventFilter(self.idle)
        if self.unlock_dialog is not None and not self.unlock_dialog.busy:
            self.unlock_dialog.done(0)
        self.unlock_dialog = None
        self.window.close()
        self.finished.emit()


def _auto_lock_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text} is not a number of minutes", text=repr(text))) from None
    if not 0 <= minutes <= MAX_AUTO_LOCK_MINUTES:
        raise argparse.ArgumentTypeError(_("use 0 (never) to {max} minutes", max=f"{MAX_AUTO_LOCK_MINUTES:.0f}"))
    return minutes


def build_parser() -> argparse.ArgumentParser:
    # FILE is not an argparse positional: Qt's own options (-style fusion, -platform offscreen) are taken out by
    # QApplication first, and what is left is FILE (main()).
    parser = argparse.ArgumentParser(
        prog="icspa-desktop", description=_("{program} — desktop app", program=TOOL_NAME),
        usage="%(prog)s [-h] [--version] [--vault PATH] [--auto-lock-minutes MIN] [--self-test] [FILE]",
        epilog=_("FILE: a partner bundle (NAME.icspa, or NAME.icspa.001 of a bundle in volumes), opened in the "
                 "import wizard, or an agency card (NAME.icspa-card), opened in the card import, once the vault is "
                 "unlocked."))
    parser.add_argument("--version", action="version", version=f"icspa-desktop {__version__}")
    parser.add_argument("--vault", metavar="PATH", help=_("vault directory (env {variable}; default: the platform "
                                                          "data dir, or the vault the wizard created last)",
                                                          variable=VAULT_ENV))
    parser.add_argument("--auto-lock-minutes", metavar="MIN", type=_auto_lock_minutes,
                        help=_("lock after this many idle minutes (0 = never; default: the Settings value, 10)"))
    parser.add_argument("--self-test", action="store_true",
                        help=_("open the first-run wizard and the unlock dialog over a temporary folder, check the "
                               "icon and stylesheet, close them and exit (0: the installation works; reads no "
                               "vault)"))
    return parser


def resolve_vault_path(option: str | None, settings: AppSettings) -> Path:
    """``--vault``, else ``ICSPA_VAULT``, else the wizard's last location, else the platform default."""
    if option:
        return Path(option).expanduser().absolute()
    if not os.environ.get(VAULT_ENV) and settings.vault_path and vault_exists(Path(settings.vault_path)):
        return Path(settings.vault_path)
    return default_vault_path().absolute()


def tune_interpreter() -> None:
    """Make the GUI thread's turns of the GIL short, and take start-up objects out of the collector's walk.

    The GIL's switch interval is how long a thread that wants the GIL waits before the holder is asked to let
    go: 5 ms by default. Every event that reaches Python (slots, data(), the idle filter) waits that long while
    a worker runs pure-Python code (a report's layout, an event list's decoding), and showing one dialog takes
    ~200 events: measured 250-350 ms per dialog beside a busy worker, 2-15 ms at 1 ms (issue 11). Selecting a
    case while a 1,000-page report lays out still stalled 136-265 ms at 1 ms, 47-104 ms at 0.2 ms, 35-52 ms at
    0.05 ms (bench gui, 2,000 items; the report took as long at each): 0.05 ms. The interval only matters while two
    threads want the GIL; the long jobs' own threads spend their time in C code that lets it go."""
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    freeze_startup_objects()


def freeze_startup_objects() -> None:
    """Take what start-up made (modules, classes, Qt wrappers: ~57,000 objects) out of the cyclic collector's
    walk. A full collection visits every tracked object holding the GIL, so the GUI thread waits for it
    whichever thread triggered it; reading a big case in a worker triggers a few (issue 11: 40–110 ms
    stalls, ~20 ms once these are frozen). Garbage is collected first, so nothing freed is kept."""
    gc.collect()
    gc.freeze()


def self_test(app: QApplication) -> int:
    """``--self-test``: the windows a user meets first, built over a throw-away folder; 0 when all is there."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="icspa-self-test-") as folder:
        controller = DesktopApp(app, Path(folder) / "vault", AppSettings(Path(folder) / "desktop.ini"), 0)
        controller.start()  # no vault there: the first-run wizard
        app.processEvents()
        if controller.wizard is None or not controller.wizard.isVisible():
            problems.append("the first-run wizard did not open")
        unlock_dialog = controller.show_unlock()
        app.processEvents()
        if not unlock_dialog.isVisible():
            problems.append("the unlock dialog did not open")
        if app.windowIcon().isNull() or controller.window.windowIcon().isNull():
            problems.append("the application icon was not found (share/icons/hicolor)")
        if not app.styleSheet():
            problems.append("the stylesheet was not found (share/icspa-desktop/style.qss)")
        controller.quit()
        app.processEvents()
    verdict = "FAILED" if problems else "OK"
    print(f"icspa-desktop {__version__} self-test: {verdict} (Qt {qVersion()}, platform {app.platformName()})")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    disable_core_dumps()  # before any key, passphrase or evidence byte is in memory
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    os.umask(0o077)  # nothing this process writes is readable by other users
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app, left = existing, list(rest)
    else:
        app = QApplication([sys.argv[0], *rest])
        left = app.arguments()[1:]  # Qt took its own options out
    unknown = [arg for arg in left if arg.startswith("-")]
    if unknown:
        parser.error(_("unrecognized arguments: {arguments}", arguments=" ".join(unknown)))
    if len(left) > 1:
        parser.error(_("give one FILE at most"))
    app.setApplicationName(TOOL_NAME)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(APP_ID)  # Wayland's app id: the menu entry's icon and name
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # the wizard → unlock → window hand-overs close windows on purpose
    apply_stylesheet(app)
    if args.self_test:
        return self_test(app)
    settings = AppSettings()
    controller = DesktopApp(app, resolve_vault_path(args.vault, settings), settings, args.auto_lock_minutes)
    controller.finished.connect(app.quit)
    stop = QuitOnSignals(controller.quit)  # SIGTERM, SIGHUP, Ctrl+C: as Quit (gui/stop_signals.py)
    controller.start()
    if left:
        controller.open_when_unlocked(Path(left[0]).expanduser().absolute())
    tune_interpreter()
    try:
        code = app.exec()
        QThreadPool.globalInstance().waitForDone()
    finally:
        stop.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
