"""Fixtures of the translation tests: a language chosen for one test, and everything put back after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from icspa_desktop import i18n


@pytest.fixture
def use_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``use_language("de")``: ICSPA_LANG set, as a user would start the program; the next message chooses."""

    def choose(code: str) -> None:
        monkeypatch.setenv(i18n.ENV_VAR, code)
        i18n.reset()

    yield choose
    i18n.reset()  # the next test's first message chooses again, from its own environment
    if "icspa_desktop.gui.language_dialog" in __import__("sys").modules:
        from icspa_desktop.gui.language_dialog import install_qt_translations

        install_qt_translations(i18n.SOURCE_LANGUAGE)  # no German Qt buttons in the next test
