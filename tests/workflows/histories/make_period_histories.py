"""Record the histories of representative periods as JSON, for the period replay tests.

    .venv/bin/python -m tests.workflows.histories.make_period_histories

Runs each period on a fresh time-skipping server with real claim workflows, the real engine
(in-process executor) and a throwaway SQLite database, and writes `periods/<name>.json`
beside this file. Rerun it only when a workflow change is meant to break replay (and then
version the workflow): the saved files are what running periods look like.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from messages import claims as claim_msg
from messages import periods as msg
from messages.periods import PeriodState
from mutualaid.calendar import next_publicity_day, roster_cutoff, start_of_day
from mutualaid.claim import ClaimState
from settlement.engine import Settlement, lock_roster
from settlement.executor import InlineExecutor
from settlement.store import MemberStore
from tests.workflows.claim_support import (
    PLANS,
    World,
    member_actor,
    migrated_sqlite,
    register_search_attributes,
    step,
    wait_until,
)
from tests.workflows.test_period import approved_claims, empty_population, period_worker
from tests.workflows.test_period_waits import start, until_state

HERE = Path(__file__).parent / "periods"

Scenario = Callable[[World, Path], Awaitable[WorkflowHistory]]


async def objected_and_paid(world: World, scratch: Path) -> WorkflowHistory:
    """Two cases publicised, one objected in the window; the share fixed, the debit and its
    five retries, the kept case funded and paid, the final report."""
    empty_population(world.store_root, shards=2)
    for _ in range(30):
        await world.member(age=30)
    objector = await world.member(age=45, member_days=500)
    async with period_worker(world, scratch):
        kept, objected = await approved_claims(world, 2)
        day = next_publicity_day(await world.now())
        period = await start(world, day)
        await world.sleep_until(start_of_day(day) + timedelta(hours=2))
        await wait_until(objected, lambda s: s.state is ClaimState.PUBLICISED, timeout=60)
        await step(
            objected,
            claim_msg.OBJECT,
            claim_msg.Objection(actor=member_actor(objector), reason="declared no history"),
        )
        await period.result()
        await wait_until(kept, lambda s: s.state is ClaimState.PAID)
    return await period.fetch_history()


async def waited_for_previous(world: World, scratch: Path) -> WorkflowHistory:
    """The lock comes while the previous period is open: it waits (not-yet timers), then
    goes on by itself once the previous period closes."""
    empty_population(world.store_root, shards=2)
    for _ in range(12):
        await world.member(age=30)
    first = next_publicity_day(await world.now())
    second = next_publicity_day(start_of_day(first) + timedelta(days=1))
    settlement = Settlement(
        db=world.engine,
        store_root=world.store_root,
        plan=PLANS["chronic"],
        executor=InlineExecutor(),
    )
    lock_roster(settlement, first, now=roster_cutoff(first))
    async with period_worker(world, scratch):
        later = await start(world, second)
        await world.sleep_until(start_of_day(second) + timedelta(hours=5))
        await until_state(later, PeriodState.WAITING_FOR_PREVIOUS_PERIOD)
        earlier = await start(world, first)
        await earlier.result()
        await later.result()
    return await later.fetch_history()


async def stopped_then_resumed(world: World, scratch: Path) -> WorkflowHistory:
    """A damaged shard stops the lock for data integrity; an operator repairs it and resumes."""
    empty_population(world.store_root, shards=2)
    for _ in range(8):
        await world.member(age=30)
    store = MemberStore.open(world.store_root, "chronic")
    head = store.head()
    assert head is not None
    damaged = Path(store.snapshot_dir(head)) / store.manifest(head).shards[1].file
    original = damaged.read_bytes()
    damaged.write_bytes(original + b"bit rot")
    day = next_publicity_day(await world.now())
    async with period_worker(world, scratch):
        period = await start(world, day)
        await world.sleep_until(start_of_day(day) + timedelta(hours=1))
        await until_state(period, PeriodState.DATA_INTEGRITY_STOP)
        await world.env.sleep(timedelta(hours=6))
        damaged.write_bytes(original)
        await period.execute_update(msg.RESUME, msg.Resume(operator="ops-zhao"), result_type=str)
        await period.result()
    return await period.fetch_history()


async def ran_before(world: World, scratch: Path) -> WorkflowHistory:
    """Temporal lost the period's history but SQL holds its report: started again under its
    id, the period returns that report and runs no step."""
    empty_population(world.store_root, shards=1)
    for _ in range(10):
        await world.member(age=30)
    async with period_worker(world, scratch):
        await approved_claims(world, 1)
        day = next_publicity_day(await world.now())
        await (await start(world, day)).result()
    fresh = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(fresh.client)
        lost = World(env=fresh, engine=world.engine, store_root=world.store_root)
        async with period_worker(lost, scratch):
            again = await start(lost, day)
            await again.result()
            history = await again.fetch_history()
    finally:
        await fresh.shutdown()
    return history


PERIODS: dict[str, Scenario] = {
    "objected_and_paid": objected_and_paid,
    "waited_for_previous": waited_for_previous,
    "stopped_then_resumed": stopped_then_resumed,
    "ran_before": ran_before,
}


async def record(folder: Path = HERE, names: tuple[str, ...] = tuple(PERIODS)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=installed_binary("temporal-test-server"),
            data_converter=DATA_CONVERTER,
        )
        try:
            await register_search_attributes(env.client)
            with tempfile.TemporaryDirectory() as scratch:
                engine = migrated_sqlite(f"{scratch}/periods.db")
                world = World(env=env, engine=engine, store_root=f"{scratch}/store")
                history = await PERIODS[name](world, Path(scratch))
                engine.dispose()
        finally:
            await env.shutdown()
        path = folder / f"{name}.json"
        path.write_text(history.to_json() + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for path in asyncio.run(record(names=tuple(sys.argv[1:]) or tuple(PERIODS))):
        print(path)
