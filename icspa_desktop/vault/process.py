"""Process hardening at start: no core dump may hold the master key, a passphrase or evidence bytes.

Both entry points (``icspa`` and ``icspa-desktop``) call ``disable_core_dumps`` first. ``RLIMIT_CORE`` 0
stops the kernel writing a core file (and children inherit it); ``PR_SET_DUMPABLE`` 0 also covers a
``core_pattern`` pipe helper (e.g. systemd-coredump, which ignores the limit) and stops other processes of
the same user from attaching with ptrace or reading this one's memory through ``/proc``.
"""

from __future__ import annotations

import ctypes
import logging
import secrets
import sys

_log = logging.getLogger(__name__)

# This process, in journal rows of work that must be finished or reported (an extraction, a bundle export): a
# row with another token belongs to a process that is gone (the vault lock admits one process at a time).
PROCESS_TOKEN = secrets.token_hex(16)

PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def disable_core_dumps() -> list[str]:
    """Turn core dumps off for this process; returns what could not be done (empty when all was)."""
    missing: list[str] = []
    try:
        import resource
    except ImportError:  # Windows: no core dumps of this kind, nothing to turn off
        return missing
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        missing.append(f"RLIMIT_CORE ({exc})")
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                missing.append(f"PR_SET_DUMPABLE (errno {ctypes.get_errno()})")
        except (OSError, AttributeError) as exc:
            missing.append(f"PR_SET_DUMPABLE ({exc})")
    for item in missing:
        _log.warning("could not turn off core dumps: %s", item)
    return missing
