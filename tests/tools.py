"""The partner-side tools the interop tests run: missing means failed, never skipped.

CI installs them (``./dev.sh test``: Debian ``openssl``, ``age``, ``poppler-utils``; the ``test`` extra:
``bagit.py``, ``case_validate``). A skip would let a green run hide that the interop was never checked.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

WHERE = {
    "openssl": "Debian package openssl",
    "age": "Debian package age",
    "pdftotext": "Debian package poppler-utils",
    "bagit.py": "PyPI bagit, in the test extra",
    "case_validate": "PyPI case-utils, in the test extra",
}
# pip puts the test extra's scripts beside the interpreter, which need not be on PATH.
TOOL_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

F = TypeVar("F", bound=Callable[..., Any])


def require_tool(name: str) -> str:
    """The tool's path, or the test fails saying how to install it."""
    found = shutil.which(name, path=TOOL_PATH)
    if found is None:
        pytest.fail(f"{name} is required by the interoperability tests and is missing ({WHERE.get(name, name)}; "
                    "./dev.sh test installs it)", pytrace=False)
    return found


def needs(name: str) -> Callable[[F], F]:
    """Decorator: the test fails (not skips) when ``name`` is missing."""
    def wrap(test: F) -> F:
        @functools.wraps(test)
        def checked(*args: Any, **kwargs: Any) -> Any:
            require_tool(name)
            return test(*args, **kwargs)
        return checked  # type: ignore[return-value]
    return wrap
