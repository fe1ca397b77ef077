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


@pytest.fixture(autouse=True)
def _fresh_system_messages() -> Iterator[None]:
    """A test that sets LANGUAGE (how a session picks its languages) makes the C library load that language's
    messages — strerror's "No such file or directory" in Portuguese for LANGUAGE=pt_BR once a Qt application has
    set the process locale from LANG — and glibc keeps what it found until the locale is set again, long after
    the variable is restored, even when the same locale is set again; passing through "C" drops that cache (the
    program never changes LANGUAGE while it runs)."""
    yield
    import locale

    current = locale.setlocale(locale.LC_ALL)
    locale.setlocale(locale.LC_ALL, "C")
    locale.setlocale(locale.LC_ALL, current)
