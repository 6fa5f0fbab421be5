"""Console tests run over a claims world of their own: the claim workflow tests' fixtures
(see tests/workflows/conftest.py for why each test gets its own time-skipping server), and a
console over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from tests.console.site import Site, console_site
from tests.helpers import free_port
from tests.workflows.claim_support import World, register_search_attributes
from tests.workflows.conftest import claims_db, claims_env, world

__all__ = ["claims_db", "claims_env", "dev_site", "site", "world"]  # fixtures, used by name


@pytest.fixture
async def site(world: World, tmp_path: Path) -> AsyncIterator[Site]:
    async with console_site(world, tmp_path) as built:
        yield built


@pytest.fixture
async def dev_site(claims_db: Engine, tmp_path: Path) -> AsyncIterator[Site]:
    """A console over a claims world on the real Temporal dev server, for steps sent at the
    same moment: two concurrent Updates of one workflow can hang the time-skipping test
    server (a known limit of its Update support; it hung a full run here once for 120 s)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        ip="127.0.0.1",
        port=free_port(),
        ui=False,
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(env.client)
        world = World(env=env, engine=claims_db, store_root=str(tmp_path / "store"))
        async with console_site(world, tmp_path) as built:
            yield built
    finally:
        await env.shutdown()
