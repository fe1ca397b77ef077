"""The wizard's passphrase hint: refuses short ones, ranks longer and more varied ones higher."""

from __future__ import annotations

from icspa_desktop.gui.passphrase_strength import strength_hint
from icspa_desktop.services.session import MIN_PASSPHRASE_LEN


def test_too_short_is_score_zero() -> None:
    score, text = strength_hint("a" * (MIN_PASSPHRASE_LEN - 1))
    assert score == 0
    assert str(MIN_PASSPHRASE_LEN) in text


def test_scores_grow_with_length_and_variety() -> None:
    scores = [strength_hint(p)[0] for p in ("aaaaaaaa", "abcdefgh", "correct horse battery",
                                             "correct horse battery staple 42!")]
    assert scores == sorted(scores)
    assert scores[0] == 1
    assert scores[-1] == 4
