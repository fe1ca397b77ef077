"""The filter's shortcut for time cells (services/table_texts.could_be_time): a text it rules out is in no time cell,
whatever the moment, the reader's language and the workstation's zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop import i18n
from icspa_desktop.services.table_texts import could_be_time, time_text

RULED_OUT = ("f12", "annotated", "img_0001.jpg", "qq")  # "zzzz" is not: a German zone name holds a z (MEZ)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2100, 12, 31)),
       language=st.sampled_from(["en", "de", "fr"]), cut=st.tuples(st.integers(0, 40), st.integers(1, 40)))
def test_every_part_of_a_time_cell_could_be_a_time(moment: datetime, language: str, cut: tuple[int, int]) -> None:
    with i18n.language(language):
        shown = time_text(moment.replace(tzinfo=UTC).isoformat()).casefold()
        start = min(cut[0], len(shown) - 1)
        assert could_be_time(shown), shown
        assert could_be_time(shown[start:start + cut[1]]), shown


# The zone is the process's (ICU reads it once): each zone is checked in a process of its own.
_SWEEP = """
import random, sys
from datetime import UTC, datetime, timedelta
from icspa_desktop import i18n
from icspa_desktop.services.table_texts import could_be_time, time_text
rng = random.Random(2026)
start, span = datetime(1800, 1, 1, tzinfo=UTC), (datetime(2100, 1, 1) - datetime(1800, 1, 1)).total_seconds()
for language in ("en", "de", "fr"):
    with i18n.language(language):
        for _ in range(1500):
            shown = time_text((start + timedelta(seconds=rng.uniform(0, span))).isoformat()).casefold()
            for a in range(len(shown)):
                assert could_be_time(shown[a:a + rng.randint(1, 12)]), (language, shown)
        for text in sys.argv[1:]:
            assert not could_be_time(text), (language, text)
print("ok")
"""


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                                  "America/St_Johns"])
def test_no_time_cell_of_any_zone_is_ruled_out(zone: str) -> None:
    result = subprocess.run([sys.executable, "-c", _SWEEP, *RULED_OUT], env=dict(os.environ, TZ=zone),
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
