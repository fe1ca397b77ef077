"""The nesting bound and the surrogate check of bundle records (bundle/records.py ``load_json``).

``_depth`` walks level by level instead of recursing; it must accept and refuse exactly what the recursive
definition does (a value more than ``limit`` levels below the root is too deep), for every limit. The
surrogate check is skipped for documents without a ``\\uD8..``-``\\uDF..`` escape; any document that holds an
unpaired surrogate must still be refused, however it is written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from icspa_desktop.bundle import records
from icspa_desktop.domain.errors import RefusedInput


def _reference_depth(value: Any, limit: int) -> bool:
    """The recursive definition the bound was first written as."""
    if limit < 0:
        return False
    if isinstance(value, dict):
        return all(_reference_depth(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return all(_reference_depth(v, limit - 1) for v in value)
    return True


def _has_unpaired_surrogate(value: Any) -> bool:
    def bad(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    if isinstance(value, str):
        return bad(value)
    if isinstance(value, dict):
        return any(bad(k) or _has_unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unpaired_surrogate(v) for v in value)
    return False


_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1FFFF), max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.integers(-1, 14))
def test_the_level_walk_bounds_exactly_as_the_recursive_definition(value: Any, limit: int) -> None:
    assert records._depth(value, limit) is _reference_depth(value, limit)


@pytest.mark.parametrize("depth", range(0, 16))
@pytest.mark.parametrize("shape", ["list", "dict", "mixed"])
def test_the_bound_is_the_same_at_every_depth(depth: int, shape: str) -> None:
    value: Any = "leaf"
    for level in range(depth):
        as_list = shape == "list" or (shape == "mixed" and level % 2)
        value = [1, value, []] if as_list else {"a": value, "empty": {}}
    for limit in range(-1, 17):
        assert records._depth(value, limit) is _reference_depth(value, limit), (depth, limit)
    raw = json.dumps(value).encode()
    if _reference_depth(value, 8):
        assert records.load_json(raw, "x") == value
    else:
        with pytest.raises(RefusedInput, match=r"^x nests deeper than 8 levels; it is not a bundle record\.$"):
            records.load_json(raw, "x")


_WITH_SURROGATES = st.recursive(
    st.text(alphabet=st.sampled_from(["a", "é", "\U0001F600", "\ud800", "\udfff", "\udc00", "\\", "u"]), max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["k", "\ud83d", "ü"]), inner,
                                                                max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_WITH_SURROGATES, st.booleans(), st.booleans())
def test_an_unpaired_surrogate_is_refused_however_it_is_escaped(value: Any, ascii_only: bool, upper: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    if upper:  # \uD800 and \ud800 are the same escape
        text = text.replace("\\ud", "\\uD")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate written out raw is not UTF-8: no bundle file can hold it
    decoded = json.loads(text)  # an escaped pair decodes to one character: judge what the document means
    if _has_unpaired_surrogate(decoded):
        with pytest.raises(RefusedInput, match="not Unicode"):
            records.load_json(raw, "x")
    else:
        assert records.load_json(raw, "x") == decoded


def test_an_escaped_backslash_before_u_is_not_a_surrogate() -> None:
    assert records.load_json(b'["\\\\ud800"]', "x") == ["\\ud800"]
    with pytest.raises(RefusedInput, match="not Unicode"):
        records.load_json(b'["\\\\\\ud800"]', "x")


@settings(max_examples=400, deadline=None)
@given(_JSON, st.integers(-1, 14))
def test_a_record_is_refused_for_its_depth_exactly_when_it_nests_too_deep(value: Any, limit: int) -> None:
    """``load_json`` skips the walk for a document with no more brackets than the bound; the verdict is the
    recursive definition's all the same."""
    assume(not _has_unpaired_surrogate(value))  # refused for that, whatever its depth
    raw = json.dumps(value).encode()
    if _reference_depth(value, limit):
        assert records.load_json(raw, "x", max_depth=limit) == value
    else:
        with pytest.raises(RefusedInput, match="nests deeper"):
            records.load_json(raw, "x", max_depth=limit)


def test_the_record_parsers_pause_the_collector_only_while_they_run() -> None:
    """parse_items and parse_custody pause the cycle collector (a quarter of their time on a big bundle); whatever
    they end with, it runs again after, and a caller that had paused it finds it paused still."""
    import gc

    seen: list[bool] = []
    real = records.load_json

    def spying(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "load_json", spying)
        for parse in (records.parse_items, records.parse_custody):
            with pytest.raises(RefusedInput):
                parse(b'{"not": "a record"')
            assert gc.isenabled()
        assert seen == [False, False]
        gc.disable()
        try:
            with pytest.raises(RefusedInput):
                records.parse_custody(b"[]")
            assert not gc.isenabled()
        finally:
            gc.enable()
