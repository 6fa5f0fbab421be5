"""The period workflow on the time-skipping server, driving real claim workflows, the real
settlement engine (in-process executor) and SQLite: a whole period from lock to payout."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.periods import PeriodActivities
from infra.db import unit_of_work
from infra.repositories import (
    DebitRunRepository,
    PayoutRepository,
    PeriodRepository,
    PublicityRepository,
)
from messages import claims as claim_msg
from messages import periods as msg
from mutualaid.calendar import next_publicity_day, sharing_day_for, start_of_day
from mutualaid.claim import ClaimState
from mutualaid.plan import Plan
from settlement.executor import InlineExecutor
from settlement.schema import MEMBERS
from settlement.store import Manifest, MemberStore
from tests.workflows.claim_support import (
    PLANS,
    World,
    member_actor,
    migrated_sqlite,
    status_of,
    step,
    to_approved,
    wait_until,
)
from workflows.claim import ClaimWorkflow
from workflows.period import PeriodTriggerWorkflow, PeriodWorkflow

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(240)]


@pytest.fixture
def world(claims_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[World]:
    """A database of its own per test: each test settles the same publicity day."""
    engine = migrated_sqlite(str(tmp_path / "periods.db"))
    yield World(env=claims_env, engine=engine, store_root=str(tmp_path / "store"))
    engine.dispose()


RICH = 10_000_000_00  # a linked account that always covers the share


def empty_population(store_root: str, *, shards: int, plan_id: str = "chronic") -> None:
    """A member store whose first snapshot is a population of nobody: the tests' members
    join through SQL (`World.member`) and are folded in at the first lock."""
    store = MemberStore.create(store_root, plan_id, shards=shards)
    snapshot = "population-empty"
    files = tuple(store.write_shard(snapshot, s, MEMBERS.empty_table()) for s in range(shards))
    store.commit_snapshot(
        Manifest(
            snapshot=snapshot,
            plan_id=plan_id,
            kind="population",
            parent=None,
            rules_version=PLANS[plan_id].rules_version,
            period=None,
            shards=files,
            created_at="2026-01-01T00:00:00+00:00",
        )
    )


@asynccontextmanager
async def period_worker(
    world: World,
    tmp_path: Path,
    *,
    opening_funds_fen: int = RICH,
    executor: Callable[[], Any] = InlineExecutor,
    plans: dict[str, Plan] = PLANS,
) -> AsyncIterator[Worker]:
    periods = PeriodActivities(
        engine=world.engine,
        store_root=world.store_root,
        plans=plans,
        executor=executor,
        publicity_dir=tmp_path / "publicity",
        opening_funds_fen=opening_funds_fen,
    )
    with ThreadPoolExecutor(max_workers=6) as threads:
        worker = Worker(
            world.client,
            task_queue=world.task_queue,
            workflows=[ClaimWorkflow, PeriodWorkflow, PeriodTriggerWorkflow],
            activities=[*world.activities(), *periods.all],
            activity_executor=threads,
            workflow_failure_exception_types=[Exception],
        )
        async with worker:
            yield worker


async def approved_claims(world: World, count: int) -> list[WorkflowHandle[Any, Any]]:
    handles = []
    for _ in range(count):
        member = await world.member(age=35)
        handle = await world.report(member)
        await to_approved(handle)
        await wait_until(handle, lambda s: s.state is ClaimState.AWAITING_PUBLICITY)
        handles.append(handle)
    return handles


async def start_period(world: World) -> tuple[WorkflowHandle[Any, Any], Any]:
    day = next_publicity_day(await world.now())
    handle = await world.client.start_workflow(
        PeriodWorkflow.run,
        msg.PeriodInput(plan_id="chronic", publicity_date=day),
        id=msg.workflow_id("chronic", day),
        task_queue=world.task_queue,
        execution_timeout=timedelta(days=60),
    )
    return handle, day


async def test_a_period_publicises_shares_debits_and_pays_its_cases(
    world: World, tmp_path: Path
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(40):
        await world.member(age=30)
    async with period_worker(world, tmp_path):
        claims = await approved_claims(world, 3)
        period, day = await start_period(world)
        report = await period.result()
        for handle in claims:
            status = await wait_until(handle, lambda s: s.state is ClaimState.PAID)
            assert status.state is ClaimState.PAID
    assert report.cases == 3
    assert report.payouts_made == 3 and report.payouts_missing == ()
    assert report.aid_fen == 3 * 30_000_000
    assert report.fee_fen == report.aid_fen * 8 // 100
    need = report.aid_fen + report.fee_fen
    assert report.share_fen == -(-need // report.members)
    assert report.collected_fen == report.share_fen * report.members  # rich accounts: all paid
    assert report.surplus_out_fen == report.collected_fen - need
    assert report.balanced
    with unit_of_work(world.engine) as session:
        period_row = PeriodRepository(session).get("chronic", day)
        assert period_row is not None and period_row.state == "closed"
        assert period_row.report is not None and period_row.report["payouts_made"] == 3
        entries = PublicityRepository(session).entries(period_row.id)
        assert {e.outcome for e in entries} == {"cleared"}
        assert all(e.masked_member.count("*") >= 3 for e in entries)
        assert len(PayoutRepository(session).for_period(period_row.id)) == 3
        assert [r.attempt for r in DebitRunRepository(session).runs(period_row.id)] == [
            0,
            1,
            2,
            3,
            4,
            5,
        ]
    listed = (tmp_path / "publicity" / "chronic" / f"{day.isoformat()}.json").read_text()
    assert "malignant tumour" in listed


async def test_an_objection_takes_a_case_out_and_lowers_the_share(
    world: World, tmp_path: Path
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(30):
        await world.member(age=30)
    objector = await world.member(age=45, member_days=500)
    async with period_worker(world, tmp_path):
        kept, objected = await approved_claims(world, 2)
        period, day = await start_period(world)
        # Queries do not move skipped time: sleep into the publicity day, then look.
        await world.sleep_until(start_of_day(day) + timedelta(hours=2))
        await wait_until(objected, lambda s: s.state is ClaimState.PUBLICISED, timeout=60)
        await step(
            objected,
            claim_msg.OBJECT,
            claim_msg.Objection(
                actor=member_actor(objector), reason="declared no history of cancer"
            ),
        )
        report = await period.result()
        await wait_until(kept, lambda s: s.state is ClaimState.PAID)
        assert (await status_of(objected)).state is ClaimState.REINVESTIGATING
    assert report.cases == 1
    assert report.aid_fen == 30_000_000
    need = 30_000_000 + 2_400_000
    assert report.share_fen == -(-need // report.members)


async def test_failed_debits_are_retried_then_the_members_removed(
    world: World, tmp_path: Path
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(10):
        await world.member(age=30)
    async with period_worker(world, tmp_path, opening_funds_fen=100):  # one yuan: nobody can pay
        await approved_claims(world, 1)
        period, _ = await start_period(world)
        report = await period.result()
    # In a pool this small the share is far above the annual cap: the operator covers the
    # excess as subsidy, and what each member owes under the cap (188 yuan) goes unpaid.
    assert report.collected_fen == report.subsidy_fen  # members paid nothing
    assert report.unpaid_fen == 18_800 * report.members
    assert report.subsidy_fen + report.unpaid_fen == report.share_fen * report.members
    assert report.surplus_out_fen == report.collected_fen - (report.aid_fen + report.fee_fen)
    with unit_of_work(world.engine) as session:
        period_row = PeriodRepository(session).by_id(
            PeriodRepository(session).list(plan_id="chronic")[-1].id
        )
        assert period_row.report is not None
        assert period_row.report["removed_members"] == report.members


async def test_a_period_fired_twice_runs_once(world: World, tmp_path: Path) -> None:
    empty_population(world.store_root, shards=1)
    async with period_worker(world, tmp_path):
        day = next_publicity_day(await world.now())
        results = [
            await world.client.execute_workflow(
                PeriodTriggerWorkflow.run,
                msg.TriggerInput(plan_id="chronic"),
                id=f"trigger-{uuid.uuid4()}",
                task_queue=world.task_queue,
                result_type=str,
            )
            for _ in range(2)
        ]
        assert results[0] == f"{msg.workflow_id('chronic', day)} started"
        assert results[1] == f"{msg.workflow_id('chronic', day)} already started"
        with pytest.raises(WorkflowAlreadyStartedError):
            await world.client.start_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(plan_id="chronic", publicity_date=day),
                id=msg.workflow_id("chronic", day),
                task_queue=world.task_queue,
            )
        await world.client.get_workflow_handle(msg.workflow_id("chronic", day)).terminate(
            "test done"
        )


async def test_a_debit_step_that_dies_resumes_the_same_run(world: World, tmp_path: Path) -> None:
    """The debit activity's first attempt dies after two shards; Temporal retries it and the
    engine resumes the frozen run from its done markers: one run, the same result."""
    empty_population(world.store_root, shards=4)
    for _ in range(40):
        await world.member(age=30)
    calls = {"debit_tasks": 0, "died": False}

    class DiesOnce(InlineExecutor):
        def map(
            self, task: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, on_done: Any = None
        ) -> list[dict[str, Any]]:
            if task.__name__ == "debit_task" and not calls["died"]:
                for index, call in enumerate(args):
                    if index == 2:
                        calls["died"] = True
                        raise ConnectionError("worker lost mid-debit")
                    task(*call)
                    calls["debit_tasks"] += 1
            return super().map(task, args, on_done=on_done)

    async with period_worker(world, tmp_path, executor=DiesOnce):
        await approved_claims(world, 1)
        period, day = await start_period(world)
        report = await period.result()
    assert calls["died"] and report.balanced
    with unit_of_work(world.engine) as session:
        period_row = PeriodRepository(session).get("chronic", day)
        assert period_row is not None
        runs = DebitRunRepository(session).runs(period_row.id)
        assert [r.attempt for r in runs] == [0, 1, 2, 3, 4, 5]
        assert all(r.state == "committed" for r in runs)
    assert sharing_day_for(day) > day
    assert datetime.now(UTC) > datetime(2026, 1, 1, tzinfo=UTC)


async def test_the_surplus_of_one_period_lowers_the_share_of_the_next(
    world: World, tmp_path: Path
) -> None:
    empty_population(world.store_root, shards=2)
    for _ in range(37):
        await world.member(age=30)
    async with period_worker(world, tmp_path):
        await approved_claims(world, 1)
        first_day = next_publicity_day(await world.now())
        second_day = next_publicity_day(start_of_day(first_day) + timedelta(days=1))
        handles = [
            await world.client.start_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(plan_id="chronic", publicity_date=day),
                id=msg.workflow_id("chronic", day),
                task_queue=world.task_queue,
            )
            for day in (first_day, second_day)
        ]
        # After the first period's cut-off: this case belongs to the second period.
        await world.sleep_until(start_of_day(first_day) + timedelta(hours=1))
        await approved_claims(world, 1)
        first, second = [await handle.result() for handle in handles]
    assert first.cases == 1 and second.cases == 1
    assert first.surplus_out_fen > 0  # the share was rounded up to the fen
    assert second.surplus_in_fen == first.surplus_out_fen
    need = second.aid_fen + second.fee_fen - first.surplus_out_fen
    assert second.share_fen == -(-need // second.members)
    assert second.balanced


async def test_a_binding_per_case_cap_pays_each_case_what_the_period_funded(
    world: World, tmp_path: Path
) -> None:
    chronic = PLANS["chronic"]
    capped = replace(chronic, sharing=replace(chronic.sharing, per_case_cap_enabled=True))
    empty_population(world.store_root, shards=2)
    for _ in range(40):
        await world.member(age=30)
    async with period_worker(world, tmp_path, plans={**PLANS, "chronic": capped}):
        (claim,) = await approved_claims(world, 1)
        period, day = await start_period(world)
        report = await period.result()
        await wait_until(claim, lambda s: s.state is ClaimState.PAID)
    # 0.10 yuan a member at most: the case is funded with 10 fen x N, not its 300,000 yuan.
    assert report.aid_fen == 10 * report.members
    assert report.payouts_fen == report.aid_fen and report.payouts_made == 1
    with unit_of_work(world.engine) as session:
        period_row = PeriodRepository(session).get("chronic", day)
        assert period_row is not None
        (payout,) = PayoutRepository(session).for_period(period_row.id)
        assert payout.amount_fen == 10 * report.members
