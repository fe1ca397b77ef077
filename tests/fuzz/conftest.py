"""One set of valid samples (two real agency vaults, a bundle, a card, a receipt…) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from icspa_desktop.custody.checkpoints import WITNESS_ENV
from tests.fuzz import samples as fuzz_samples
from tests.fuzz.targets import Context


@pytest.fixture(scope="session")
def fuzz_samples_built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fuzz_samples.Samples]:
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        home = root / "home"  # session scope is set up before the per-test home isolation
        for var, value in (("HOME", home), ("XDG_CONFIG_HOME", home / ".config"),
                           ("XDG_DATA_HOME", home / ".local/share")):
            patch.setenv(var, str(value))
        patch.setenv(WITNESS_ENV, str(root / "witness"))  # kept for the session: the vaults' witnesses live here
        built = fuzz_samples.build(root)
        patch.undo()
        patch.setenv(WITNESS_ENV, str(root / "witness"))
        yield built


@pytest.fixture(scope="session")
def fuzz_context(fuzz_samples_built: fuzz_samples.Samples,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    ctx = Context(fuzz_samples_built, tmp_path_factory.mktemp("fuzz-work"))
    yield ctx
    ctx.close()
