"""Fixtures for the claim workflow tests: a time-skipping server of their own per test, and
one SQLite database per test module.

Why not the session's server: the time-skipping server stops skipping while any workflow
task is scheduled and not completed, and terminating the workflow does not lift that. One
claim left with a task for a worker that has gone (a failed test, a killed worker) would
freeze time, and hang every later test. A fresh server costs a fraction of a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
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
    engine = migrated_sqlite(str(tmp_path_factory.mktemp("claims") / "claims.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def world(claims_env: WorkflowEnvironment, claims_db: Engine, tmp_path: Path) -> World:
    """A fresh server, task queue and investigation firm over the module's database."""
    return World(env=claims_env, engine=claims_db, store_root=str(tmp_path / "store"))
