"""A period runs once per plan and day, whoever starts it and whenever: `periods start` for a
day whose period has run is refused in one line and changes nothing, and a period workflow
started again after Temporal's history was lost (a new dev server database) returns the
report SQL holds instead of running its steps again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from infra.db import unit_of_work
from infra.devstack import installed_binary
from infra.models import Base
from infra.repositories import ProgramClockRepository
from infra.temporal import DATA_CONVERTER
from messages import periods as msg
from mutualaid.calendar import next_publicity_day
from mutualaid.clock import ProgramClock
from tests.helpers import run_cli
from tests.workflows.claim_support import World, migrated_sqlite, register_search_attributes
from tests.workflows.test_period import approved_claims, empty_population, period_worker
from workflows.period import PeriodWorkflow

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(240)]


@pytest.fixture
def world(claims_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[World]:
    engine = migrated_sqlite(str(tmp_path / "periods.db"))
    # The deployment is set up before its periods run: its clock is recorded (real time), so
    # the command that is refused writes nothing, not even the clock.
    with unit_of_work(engine) as session:
        ProgramClockRepository(session).record(ProgramClock(), at=datetime.now(UTC))
    yield World(env=claims_env, engine=engine, store_root=str(tmp_path / "store"))
    engine.dispose()


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(select(table))]
            for table in Base.metadata.sorted_tables
        }


def tree(root: Path) -> dict[str, bytes]:
    """The member store and the published lists, bytes and all (not the database files)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in (root / "store", root / "publicity")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cli_env(world: World, tmp_path: Path) -> dict[str, str]:
    return {
        "MUTUALAID_TEMPORAL_ADDRESS": world.client.service_client.config.target_host,
        "MUTUALAID_DATABASE_URL": str(world.engine.url),
        "MUTUALAID_TASK_QUEUE": world.task_queue,
        "MUTUALAID_STATE_DIR": str(tmp_path / "state"),
        "MUTUALAID_STORE_ROOT": world.store_root,
    }


async def start_by_hand(world: World, tmp_path: Path, day: Any) -> Any:
    return await asyncio.to_thread(
        run_cli,
        "periods",
        "start",
        "--publicity-date",
        day.isoformat(),
        env=cli_env(world, tmp_path),
    )


async def test_a_finished_period_is_not_started_again(world: World, tmp_path: Path) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(20):
        await world.member(age=30)
    async with period_worker(world, tmp_path):
        await approved_claims(world, 1)
        day = next_publicity_day(await world.now())
        period = await world.client.start_workflow(
            PeriodWorkflow.run,
            msg.PeriodInput(plan_id="chronic", publicity_date=day),
            id=msg.workflow_id("chronic", day),
            task_queue=world.task_queue,
            execution_timeout=timedelta(days=60),
        )
        report = await period.result()
        run_id = (await period.describe()).run_id
        rows, files = every_row(world.engine), tree(tmp_path)
        for _ in range(2):
            again = await start_by_hand(world, tmp_path, day)
            assert again.returncode == 3, again.stderr
            assert again.stdout == ""
            assert again.stderr.count("\n") == 1, again.stderr
            assert again.stderr.startswith(
                f"error: period='{msg.workflow_id('chronic', day)}': already ran"
            )
        described = await world.client.get_workflow_handle(period.id).describe()
        assert (described.run_id, described.status) == (run_id, WorkflowExecutionStatus.COMPLETED)
    assert every_row(world.engine) == rows
    assert tree(tmp_path) == files
    assert report.cases == 1 and report.balanced

    # Temporal's history is lost (a new server) but SQL is not: the period, started again
    # under its id, returns the report SQL holds and runs none of its steps.
    fresh = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(fresh.client)
        lost = World(env=fresh, engine=world.engine, store_root=world.store_root)
        async with period_worker(lost, tmp_path):
            # `periods start` finds no run in Temporal, but SQL says the period ran.
            refused = await start_by_hand(lost, tmp_path, day)
            assert refused.returncode == 3, refused.stderr
            assert refused.stderr == (
                f"error: period='{msg.workflow_id('chronic', day)}': already ran (it is "
                "closed): not started again\n"
            )
            # Started again under its id all the same (an operator's script, a schedule).
            restarted = await fresh.client.start_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(plan_id="chronic", publicity_date=day),
                id=msg.workflow_id("chronic", day),
                task_queue=lost.task_queue,
            )
            assert await restarted.result() == report
            history = await restarted.fetch_history()
    finally:
        await fresh.shutdown()
    steps = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert steps == [msg.RECORDED]
    assert every_row(world.engine) == rows
    assert tree(tmp_path) == files


async def test_a_period_whose_run_ended_is_not_run_a_second_time(
    world: World, tmp_path: Path
) -> None:
    """Temporal's word suffices where SQL has nothing yet: a run that was terminated before
    its lock keeps its id; `periods start` says so and starts nothing."""
    empty_population(world.store_root, shards=1)
    day = next_publicity_day(await world.now())
    async with period_worker(world, tmp_path):
        first = await start_by_hand(world, tmp_path, day)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"started {msg.workflow_id('chronic', day)}"
        running = await start_by_hand(world, tmp_path, day)
        assert running.returncode == 0, running.stderr
        assert running.stdout.strip() == f"{msg.workflow_id('chronic', day)} is already running"
        handle = world.client.get_workflow_handle(msg.workflow_id("chronic", day))
        await handle.terminate("operator stopped it")
        again = await start_by_hand(world, tmp_path, day)
    assert again.returncode == 3
    assert again.stderr.strip() == (
        f"error: period='{msg.workflow_id('chronic', day)}': already ran (terminated): "
        "not started again"
    )
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.TERMINATED
