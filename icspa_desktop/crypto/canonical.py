"""Canonical JSON: the one byte form that is signed and hashed (see docs/custody-format.md).

UTF-8, keys sorted, no insignificant white space, no floats (values are str, int, bool, None,
lists and objects). It coincides with RFC 8785 (JCS) for these value types.
"""

from __future__ import annotations

import json
from typing import Any

_PLAIN = (str, int, bool, type(None))  # exact types of leaves: nearly every value of an event


def _check(value: Any) -> None:
    """Refuse floats, non-string keys and other types anywhere in ``value`` (iteratively: an event's body has
    dozens of values, and the log appends thousands of events in a batch)."""
    pending = [value]
    while pending:
        value = pending.pop()
        if type(value) in _PLAIN:
            continue
        if isinstance(value, float):
            raise TypeError("floats are not allowed in canonical JSON")
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise TypeError("object keys must be strings")
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif not isinstance(value, str | int | bool):  # subclasses (None and the exact types went above)
            raise TypeError(f"type {type(value).__name__} is not allowed in canonical JSON")


def canonical_json(value: Any) -> bytes:
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
