"""The period workflow waits when it must and stops when it must, on the time-skipping server
with the real engine and SQLite: a lock that comes before the previous period has closed waits
for it (durably, visibly) and goes on by itself; damaged data stops the period loudly until an
operator resumes it, and is never retried in silence."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from infra.db import reading
from infra.repositories import PeriodRepository
from messages import periods as msg
from messages.periods import PeriodState
from mutualaid.calendar import next_publicity_day, roster_cutoff, start_of_day
from settlement.engine import Settlement, final_snapshot, lock_roster
from settlement.executor import InlineExecutor
from settlement.store import MemberStore
from tests.helpers import eventually, run_cli
from tests.workflows.claim_support import PLANS, World, migrated_sqlite
from tests.workflows.test_period import empty_population, period_worker
from workflows.period import PeriodWorkflow
from workflows.search_attributes import PERIOD_STATE

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(180)]


@pytest.fixture
def world(claims_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[World]:
    engine = migrated_sqlite(str(tmp_path / "periods.db"))
    yield World(env=claims_env, engine=engine, store_root=str(tmp_path / "store"))
    engine.dispose()


async def start(world: World, day: Any) -> WorkflowHandle[Any, Any]:
    return await world.client.start_workflow(
        PeriodWorkflow.run,
        msg.PeriodInput(plan_id="chronic", publicity_date=day),
        id=msg.workflow_id("chronic", day),
        task_queue=world.task_queue,
        execution_timeout=timedelta(days=90),
    )


async def cli(world: World, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "MUTUALAID_TEMPORAL_ADDRESS": world.client.service_client.config.target_host,
        "MUTUALAID_DATABASE_URL": str(world.engine.url),
        "MUTUALAID_TASK_QUEUE": world.task_queue,
        "MUTUALAID_STATE_DIR": str(tmp_path / "state"),
    }
    return await asyncio.to_thread(run_cli, *args, env=env)


async def status(handle: WorkflowHandle[Any, Any]) -> msg.PeriodStatus:
    said: msg.PeriodStatus = await handle.query(msg.STATUS, result_type=msg.PeriodStatus)
    return said


async def until_state(handle: WorkflowHandle[Any, Any], state: str) -> msg.PeriodStatus:
    async def reached() -> msg.PeriodStatus:
        said = await status(handle)
        assert said.state == state, f"{handle.id} never reached {state}; it is {said.state}"
        return said

    return await eventually(reached, timeout=10, what=f"{handle.id} to reach {state}")


async def lock_activities(handle: WorkflowHandle[Any, Any]) -> int:
    """How many times the workflow scheduled the lock activity (retries are not counted:
    Temporal retries inside one scheduled activity)."""
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == msg.LOCK
    )


async def test_a_lock_before_the_previous_period_closed_waits_for_it_then_goes_on(
    world: World, tmp_path: Path
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(12):
        await world.member(age=30)
    first = next_publicity_day(await world.now())
    second = next_publicity_day(start_of_day(first) + timedelta(days=1))
    # The first period's roster is locked (by hand, as an operator would) but its workflow
    # has not run: it is still open when the second period's lock comes.
    lock_roster(
        Settlement(
            db=world.engine,
            store_root=world.store_root,
            plan=PLANS["chronic"],
            executor=InlineExecutor(),
        ),
        first,
        now=roster_cutoff(first),
    )
    async with period_worker(world, tmp_path):
        later = await start(world, second)
        await world.sleep_until(start_of_day(second) + timedelta(hours=5))
        waiting = await until_state(later, PeriodState.WAITING_FOR_PREVIOUS_PERIOD)
        assert waiting.waiting_for == msg.workflow_id("chronic", first)
        assert waiting.members is None  # nothing locked
        described = await later.describe()
        assert (
            described.typed_search_attributes.get(PERIOD_STATE)
            == PeriodState.WAITING_FOR_PREVIOUS_PERIOD
        )
        with reading(world.engine) as session:
            assert PeriodRepository(session).get("chronic", second) is None  # nothing written
        # The command line says which period it waits for, and exits non-zero.
        said = await cli(world, tmp_path, "periods", "status", later.id, "--json")
        assert said.returncode == 4, said.stderr
        shown = json.loads(said.stdout)
        assert shown["state"] == PeriodState.WAITING_FOR_PREVIOUS_PERIOD
        assert shown["waiting_for"] == msg.workflow_id("chronic", first)

        # The first period runs and closes; the second goes on by itself.
        earlier = await start(world, first)
        first_report = await earlier.result()
        second_report = await later.result()
    assert first_report.balanced and second_report.balanced
    assert second_report.members == first_report.members
    assert second_report.surplus_in_fen == first_report.surplus_out_fen
    with reading(world.engine) as session:
        periods = PeriodRepository(session)
        earlier_row = periods.get("chronic", first)
        assert earlier_row is not None and earlier_row.state == "closed"
        parent = final_snapshot(session, earlier_row)
    store = MemberStore.open(world.store_root, "chronic")
    # No fork: the second roster is built on the first period's final snapshot.
    assert store.manifest(f"roster-{second.isoformat()}").parent == parent


async def test_damaged_data_stops_the_period_until_an_operator_resumes_it(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(8):
        await world.member(age=30)
    store = MemberStore.open(world.store_root, "chronic")
    head = store.head()
    assert head is not None
    shard = store.manifest(head).shards[1]
    damaged = Path(store.snapshot_dir(head)) / shard.file
    original = damaged.read_bytes()
    damaged.write_bytes(original + b"bit rot")
    day = next_publicity_day(await world.now())
    caplog.set_level(logging.ERROR)
    async with period_worker(world, tmp_path):
        period = await start(world, day)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await period.execute_update(
                msg.RESUME, msg.Resume(operator="ops-zhao"), result_type=str
            )
        assert "nothing to resume" in str(refused.value.cause)
        await world.sleep_until(start_of_day(day) + timedelta(hours=1))
        stopped = await until_state(period, PeriodState.DATA_INTEGRITY_STOP)
        assert stopped.stopped_step == msg.LOCK
        assert stopped.problem is not None and stopped.problem.startswith("IntegrityError")
        described = await period.describe()
        assert (
            described.typed_search_attributes.get(PERIOD_STATE) == PeriodState.DATA_INTEGRITY_STOP
        )
        # A day later it is still stopped, the lock tried once: never retried in silence.
        await world.env.sleep(timedelta(days=1))
        assert (await status(period)).state == PeriodState.DATA_INTEGRITY_STOP
        assert await lock_activities(period) == 1
        with reading(world.engine) as session:
            assert PeriodRepository(session).get("chronic", day) is None

        shown = await cli(world, tmp_path, "periods", "status", period.id)
        assert shown.returncode == 5, shown.stderr
        assert "DataIntegrityStop" in shown.stdout

        damaged.write_bytes(original)  # the operator restores the file
        resumed = await cli(
            world, tmp_path, "periods", "resume", period.id, "--operator", "ops-zhao"
        )
        assert resumed.returncode == 0, resumed.stderr
        assert msg.LOCK in resumed.stdout
        report = await period.result()
    assert report.balanced and report.members == 8
    assert await lock_activities(period) == 2
    paged = [r for r in caplog.records if "PAGE OPERATOR" in r.getMessage()]
    assert any(msg.workflow_id("chronic", day) in r.getMessage() for r in paged), paged
