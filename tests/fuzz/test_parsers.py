"""Issue 13 item 3: every parser of untrusted input, fuzzed — it returns a result or raises its own refusal.

Each target (targets.py) gets a few hundred inputs: its valid sample changed by mutations.py, or arbitrary
bytes. Anything but a result or the target's refusal fails the test (known product bugs in files this suite
does not own are counted apart and pinned in test_known_bugs.py), and so does a Python heap peak above
``targets.MAX_PEAK``; pytest-timeout ends a hang. Examples are derandomized: every run tries the same
inputs. The long run is ``python -m tests.fuzz.run`` (docs/reliability.md, "Fuzzing").
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings

from tests.fuzz.mutations import inputs
from tests.fuzz.targets import TARGETS, Context, check

# Inputs per parser in the default suite (about 25 s in all on a 2-core machine).
EXAMPLES = {"age": 250, "tar": 150, "bag": 40, "case-json": 150, "items-json": 150, "custody-json": 100,
            "card": 150, "cms": 150, "checkpoint": 150, "receipt": 60, "keyslots": 150, "vault-header": 150}


def fuzz(target_name: str, ctx: Context, examples: int) -> Counter[str]:
    """Run ``examples`` inputs through one target; the outcomes counted."""
    target = TARGETS[target_name]
    sample = ctx.samples.read(target.sample)
    outcomes: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs(sample, target.max_size))
    def property_holds(data: bytes) -> None:
        outcome = check(target, ctx, data)
        event(outcome)
        outcomes[outcome] += 1

    property_holds()
    return outcomes


def test_every_parser_is_a_target() -> None:
    assert set(EXAMPLES) == set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_valid_sample_is_accepted(name: str, fuzz_context: Context) -> None:
    """The targets reach the real parsers: what the product wrote, each reads back."""
    target = TARGETS[name]
    assert check(target, fuzz_context, fuzz_context.samples.read(target.sample)) == "accepted"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzed_input_is_refused_or_read(name: str, fuzz_context: Context) -> None:
    outcomes = fuzz(name, fuzz_context, EXAMPLES[name])
    assert outcomes["refused"] > 0, outcomes  # the inputs reached the parser's refusals
