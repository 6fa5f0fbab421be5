"""Console tests run over a claims world of their own: the claim workflow tests' fixtures
(see tests/workflows/conftest.py for why each test gets its own time-skipping server), and a
console over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.site import Site, console_site
from tests.workflows.claim_support import World
from tests.workflows.conftest import claims_db, claims_env, world

__all__ = ["claims_db", "claims_env", "site", "world"]  # fixtures, used by name


@pytest.fixture
async def site(world: World, tmp_path: Path) -> AsyncIterator[Site]:
    async with console_site(world, tmp_path) as built:
        yield built
