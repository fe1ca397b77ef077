"""Base64 fields of bundle records (bundle/records.py ``_b64``): checked strictly in C. Whatever our writer makes
reads back; whatever is accepted is what ``base64.b64decode(validate=True)`` reads too (never more lenient)."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop.bundle import records
from icspa_desktop.domain.errors import RefusedInput

_FIELDS = records._Fields({}, "custody.json event 1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_what_our_writer_encodes_reads_back(data: bytes) -> None:
    assert records._b64(_FIELDS, "signature", 100, base64.b64encode(data).decode("ascii")) == data


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.é", max_size=24))
def test_nothing_is_accepted_that_the_validating_decoder_refuses(text: str) -> None:
    try:
        decoded = records._b64(_FIELDS, "signature", 100, text)
    except RefusedInput:
        return
    assert base64.b64decode(text, validate=True) == decoded


@pytest.mark.parametrize("text", ["QQ", "QQ=", "QQ===", "=QQ=", "QQ==QQ==", "Q Q==", "QQ==\n", "QU-=", "QUÉ="])
def test_malformed_base64_is_refused(text: str) -> None:
    with pytest.raises(RefusedInput, match="is not valid base64"):
        records._b64(_FIELDS, "signature", 100, text)
    with pytest.raises((binascii.Error, ValueError)):
        binascii.a2b_base64(text, strict_mode=True)
