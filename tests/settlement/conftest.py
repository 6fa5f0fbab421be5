"""A fresh, migrated database per test (the engine commits for real) and small stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import PlanSource, builtin_plan_sources
from infra.repositories import PlanRepository
from settlement.engine import Settlement
from settlement.executor import InlineExecutor
from settlement.population import PopulationSpec, generate_population
from tests.conftest import BACKENDS, database_url_for

CHRONIC: PlanSource = next(s for s in builtin_plan_sources() if s.plan.id == "chronic")
# Program moment long after every period the tests settle.
LATER = datetime(2027, 6, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(database_url_for(request.param, request, tmp_path))
    upgrade(engine)
    with unit_of_work(engine) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=LATER)
    yield engine
    engine.dispose()


def small_settlement(
    db: Engine, root: Path, *, members: int = 3_000, shards: int = 3, seed: int = 7
) -> Settlement:
    generate_population(
        str(root),
        CHRONIC.plan,
        PopulationSpec(members=members, shards=shards, seed=seed, as_of=date(2026, 10, 1)),
    )
    return Settlement(db=db, store_root=str(root), plan=CHRONIC.plan, executor=InlineExecutor())


def locked_store_by_cli(state: Path, *, members: int, shards: int) -> None:
    """A population generated and its October roster locked through the real command line,
    as an operator would, in the state folder given."""
    from tests.helpers import run_cli

    env = {"MUTUALAID_STATE_DIR": str(state)}
    for args in (
        (
            "population",
            "generate",
            "--members",
            str(members),
            "--shards",
            str(shards),
            "--as-of",
            "2026-10-01",
            "--executor",
            "inline",
        ),
        ("settle", "lock", "--publicity-date", "2026-10-07", "--executor", "inline"),
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
