"""Work in a separate process (icspa_desktop/separate.py): result, progress, language, cancel, failures.

The functions the child runs are this module's (a spawned child imports them by name)."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from icspa_desktop import i18n, separate
from icspa_desktop.domain.errors import Cancelled, RefusedInput
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, Steps
from icspa_desktop.i18n import _


def counted(n: int, *, progress: ProgressCallback, cancel: CancelToken) -> tuple[int, int, str]:
    for i in range(n):
        progress(i + 1, n, Steps("step"))
    return os.getpid(), n * n, _("Cancelled by the user; nothing was changed.")


def forever(_n: int, *, progress: ProgressCallback, cancel: CancelToken) -> None:
    while True:
        progress(0, 0, "working")
        time.sleep(0.01)


def refuses(text: str, *, progress: ProgressCallback, cancel: CancelToken) -> None:
    raise RefusedInput(text)


class _Local(Exception):
    def __init__(self, a: str, b: str) -> None:  # two arguments: pickle cannot rebuild it from its args
        super().__init__(f"{a} {b}")


def raises_unpicklable(_n: int, *, progress: ProgressCallback, cancel: CancelToken) -> None:
    raise _Local("only", "text")


def dies(code: int, *, progress: ProgressCallback, cancel: CancelToken) -> None:
    os._exit(code)


def test_the_result_and_progress_come_back_from_another_process_in_the_callers_language() -> None:
    seen: list[tuple[int, int, str]] = []
    with i18n.language("de"):
        pid, square, text = separate.run(counted, 3, progress=lambda d, t, m: seen.append((d, t, m)))
        german = _("Cancelled by the user; nothing was changed.")
    assert pid != os.getpid() and square == 9
    assert text == german == "Vom Benutzer abgebrochen; nichts wurde geändert."
    assert seen[-1] == (3, 3, "step") and isinstance(seen[-1][2], Steps)  # the last step always comes through
    assert not multiprocessing.active_children()


def test_cancel_ends_the_child_quickly() -> None:
    token = CancelToken()
    started = time.monotonic()

    def progress(done: int, total: int, message: str) -> None:
        token.cancel()  # the child is working: stop it

    with pytest.raises(Cancelled):
        separate.run(forever, 0, progress=progress, cancel=token)
    assert time.monotonic() - started < 10  # spawn, a first progress, then at most POLL + terminate
    assert not multiprocessing.active_children()


def test_a_cancelled_token_starts_nothing() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        separate.run(counted, 1, cancel=token)
    assert not multiprocessing.active_children()


def test_the_childs_error_is_raised_as_itself() -> None:
    with pytest.raises(RefusedInput, match=r"^no such partner$"):
        separate.run(refuses, "no such partner")


def test_an_error_that_cannot_cross_is_raised_with_its_text() -> None:
    with pytest.raises(separate.SeparateProcessFailed, match="_Local: only text"):
        separate.run(raises_unpicklable, 0)


def test_a_child_that_dies_is_a_clear_failure() -> None:
    with pytest.raises(separate.SeparateProcessFailed, match=r"ended unexpectedly \(exit code 3\)"):
        separate.run(dies, 3)
    assert not multiprocessing.active_children()


def test_closing_unwaited_work_ends_the_child() -> None:
    with separate.start(forever, 0):
        assert multiprocessing.active_children()
    assert not multiprocessing.active_children()
