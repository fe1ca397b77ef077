"""The private log of unexpected errors: the traceback goes here (owner-only), one line to the user."""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from icspa_desktop.i18n import _

LOG_NAME = "icspa-errors.log"
MAX_BYTES = 1 << 20  # one earlier log is kept beside it


def log_path() -> Path:
    return Path(platformdirs.user_log_dir("icspa", appauthor=False)) / LOG_NAME


def record(exc: BaseException) -> str:
    """Append the traceback of ``exc`` to the private log; returns where it went (or why not)."""
    path = log_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > MAX_BYTES:
            path.replace(path.with_suffix(".log.1"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')}\n")
            handle.write("".join(traceback.format_exception(exc)))
    except OSError as problem:
        return _("the error log could not be written ({reason})", reason=problem.strerror)
    return str(path)
