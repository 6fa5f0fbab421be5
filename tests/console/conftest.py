"""Console tests run over a claims world of their own (see tests/workflows/conftest.py for
why each test gets its own time-skipping server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from tests.console.site import Site, console_site
from tests.workflows.claim_support import World, migrated_sqlite, register_search_attributes


@pytest.fixture
async def claims_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
def claims_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = migrated_sqlite(str(tmp_path_factory.mktemp("console") / "console.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def world(claims_env: WorkflowEnvironment, claims_db: Engine, tmp_path: Path) -> World:
    return World(env=claims_env, engine=claims_db, store_root=str(tmp_path / "store"))


@pytest.fixture
async def site(world: World, tmp_path: Path) -> AsyncIterator[Site]:
    async with console_site(world, tmp_path) as built:
        yield built
