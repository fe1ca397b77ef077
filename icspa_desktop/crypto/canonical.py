"""Canonical JSON: the one byte form that is signed and hashed (see docs/custody-format.md).

UTF-8, keys sorted, no insignificant white space, no floats (values are str, int, bool, None,
lists and objects). It coincides with RFC 8785 (JCS) for these value types.
"""

from __future__ import annotations

import json
from typing import Any


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)
    elif value is not None and not isinstance(value, str | int | bool):
        raise TypeError(f"type {type(value).__name__} is not allowed in canonical JSON")


def canonical_json(value: Any) -> bytes:
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
