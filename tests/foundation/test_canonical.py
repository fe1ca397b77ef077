"""Canonical JSON (crypto/canonical.py): what is signed and hashed. Its check refuses exactly the values that have no
canonical form here — floats, non-string keys and other types, at any depth — and lets every other value through."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from icspa_desktop.crypto.canonical import _check, canonical_json

_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_ANY_LEAVES = _LEAVES | st.floats(allow_nan=False) | st.sampled_from([b"bytes", object()])
_GOOD = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                          max_size=4), max_leaves=30)
_ANY = st.recursive(_ANY_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(
    st.text(max_size=4) | st.integers(), inner, max_size=4), max_leaves=30)


def _allowed(value: Any) -> bool:
    """The rule, written out recursively."""
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(_allowed(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_allowed(v) for v in value)
    return value is None or isinstance(value, str | int | bool)


@given(_GOOD)
def test_every_allowed_value_has_its_sorted_compact_utf8_form(value: Any) -> None:
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False).encode("utf-8")


@given(_ANY)
def test_the_check_refuses_exactly_what_has_no_canonical_form(value: Any) -> None:
    try:
        _check(value)
    except TypeError:
        assert not _allowed(value)
    else:
        assert _allowed(value)
