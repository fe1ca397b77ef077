"""Fixtures of the translation tests: everything a chosen language changed put back after each test
(``use_language`` itself is in tests/conftest.py: the GUI tests choose languages too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
