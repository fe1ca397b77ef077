"""Every user-visible text of the covered GUI modules goes through ``_()``: a literal handed to a Qt text
setter there fails this test. Add a module to COVERED once it is translated, so coverage can only grow."""

from __future__ import annotations

import ast
from pathlib import Path

from icspa_desktop import i18n

GUI = i18n.PACKAGE_DIR / "gui"
COVERED = ["main_window.py", "unlock_dialog.py", "vault_wizard.py", "help_dialog.py", "language_dialog.py",
           "bundle_wizard.py", "export_pages.py", "import_wizard.py", "import_check.py", "received_dialog.py",
           "wizard_parts.py", "agency_dialog.py", "agency_forms.py", "agency_actions.py", "partners_dialog.py",
           "card_import_dialog.py", "users_dialog.py", "recovery_dialog.py", "passphrase_dialog.py",
           "settings_dialog.py", "backup_action.py", "restore_dialog.py", "app.py", "ops.py",
           "resources.py",
           "case_browser.py", "case_details.py", "case_dialog.py", "case_status_dialog.py", "custody_model.py",
           "custody_tab.py", "evidence_actions.py", "evidence_dialogs.py", "evidence_model.py", "evidence_tab.py",
           "feedback.py", "item_details.py", "markings.py", "models.py", "passphrase_strength.py",
           "report_actions.py", "role_hints.py", "search_panel.py", "verify_dialog.py"]
ALL = None  # every positional argument
# Calls that put text on screen, and which of their positional arguments are that text.
TEXT_CALLS: dict[str, tuple[int, ...] | None] = {
    **dict.fromkeys(["setText", "setWindowTitle", "setTitle", "setSubTitle", "setToolTip", "setStatusTip",
                     "setWhatsThis", "setPlaceholderText", "setPlainText", "setMarkdown", "setHtml", "addMenu",
                     "addToolBar", "setSuffix", "setPrefix", "setSpecialValueText", "setInformativeText",
                     "setDetailedText", "setLabelText", "setAccessibleDescription", "showMessage",
                     "add_case_tab", "_intro", "addRow", "addButton"], (0,)),
    **dict.fromkeys(["QAction", "QLabel", "QPushButton", "QCheckBox", "QRadioButton", "QGroupBox", "QMenu",
                     "QToolButton", "addItem", "addItems", "insertItem"], ALL),
    "setButtonText": (1,), "addTab": (1,), "insertTab": (2,), "setTabText": (1,), "setItemText": (1,),
    "setHeaderLabels": ALL, "QMessageBox": (1, 2), "getExistingDirectory": (1,), "getOpenFileName": (1,),
    "getSaveFileName": (1,), "QFileDialog": (1,), "show_notice": (1, 2), "show_message": (1,), "_action": (0, 3),
    "window_action": (1, 3), "ask": (2, 3, 4, 5), "button": (0,), "required": (0,),
}
WRAPPERS = {"_", "ngettext"}


def _literal_text(node: ast.AST) -> bool:
    """Whether ``node`` builds words that are not translated (a literal, f-string, sum, .format of one)."""
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name in WRAPPERS:
            return False
        if isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return _literal_text(node.func.value)
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(char.isalpha() for char in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_literal_text(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_text(node.body) or _literal_text(node.orelse)
    if isinstance(node, ast.List | ast.Tuple):
        return any(_literal_text(element) for element in node.elts)
    return False


def untranslated(source: str, name: str = "<source>") -> list[str]:
    """``name:line: call("text")`` for each text-setting call of ``source`` given words outside ``_()``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if func not in TEXT_CALLS:
            continue
        positions = TEXT_CALLS[func]
        args = [arg for index, arg in enumerate(node.args) if positions is None or index in positions]
        args += [keyword.value for keyword in node.keywords if keyword.arg in ("text", "title", "tip")]
        found += [f"{name}:{arg.lineno}: {func}({ast.unparse(arg)})" for arg in args if _literal_text(arg)]
    return found


def test_the_check_sees_each_way_of_putting_words_on_screen() -> None:
    offending = '''
label.setText("Locked")
QLabel(f"Vault: {path}")
self.addToolBar("Main")
box = QMessageBox(icon, "Title", "Body " + detail, buttons, self)
action.setText("&Reopen" if closed else _("&Close"))
show_notice(self, _("Title"), [f"{path} was not opened.", why], "openFileProblem")
edit.setPlaceholderText("ISO code, e.g. {x}".format(x=1))
page.setButtonText(QWizard.WizardButton.CommitButton, "&Create vault")
form.addRow("&User", edit)
'''
    assert len(untranslated(offending)) == 10  # the message box twice: its title and its text
    fine = '''
label.setText(_("Locked"))
label.setText("")
label.setText(str(path))
label.setText(TOOL_NAME)
QLabel(_("Vault: {path}", path=path))
edit.setObjectName("userEdit")
show_notice(self, _("Title"), [_("{path} was not opened.", path=path), why], "openFileProblem")
status.setText(text + ("  " + _("The two entries differ.") if mismatch else ""))
form.addRow(_("&User"), edit)
bar.addWidget(label, 1)
'''
    assert untranslated(fine) == []


def test_the_covered_modules_put_no_untranslated_words_on_screen() -> None:
    problems = [problem for module in COVERED
                for problem in untranslated((GUI / module).read_text(encoding="utf-8"), module)]
    assert problems == [], "text not wrapped in _():\n" + "\n".join(problems)


def test_every_covered_module_is_in_the_catalogues() -> None:
    sources = {reference.split(":")[0] for references in i18n.references().values() for reference in references}
    assert {f"icspa_desktop/gui/{module}" for module in COVERED} <= sources


def test_the_modules_not_yet_covered_are_named_in_the_guide() -> None:
    """docs/translations.md lists what is not translated yet; a module covered here leaves that list."""
    text = (Path(i18n.PACKAGE_DIR).parent / "docs" / "translations.md").read_text(encoding="utf-8")
    pending = text.split("## Not translated yet", 1)[1].split("\n## ", 1)[0]
    for module in COVERED:
        assert f"gui/{module}" not in pending
    uncovered = sorted(path.name for path in GUI.glob("*.py")
                       if path.name not in COVERED and path.name != "__init__.py" and untranslated(
                           path.read_text(encoding="utf-8")))
    missing = [name for name in uncovered if f"gui/{name}" not in pending]
    assert missing == [], f"not translated and not listed in docs/translations.md: {missing}"
