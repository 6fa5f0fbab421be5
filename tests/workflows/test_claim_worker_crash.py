"""The worker process (`workers/worker.py`) run as a subprocess against the test server:
killed in the middle of a payout, a new worker finishes the claim and nothing is paid twice;
stopped with SIGTERM, it lets the in-flight payout finish before it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from temporalio.testing import WorkflowEnvironment

from infra.db import unit_of_work
from infra.models import MemberChangeRow, PayoutRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from tests.helpers import eventually
from tests.workflows.claim_support import World, migrated_sqlite, timeline_of, to_approved

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(120)]

ROOT = Path(__file__).parents[2]


@pytest.fixture
def crash_world(claims_env: WorkflowEnvironment, tmp_path: Path) -> World:
    # Its own database file: the worker subprocesses open it by URL.
    return World(
        env=claims_env,
        engine=migrated_sqlite(str(tmp_path / "crash.db")),
        store_root=str(tmp_path / "store"),
    )


@asynccontextmanager
async def worker_process(
    world: World, tmp_path: Path, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python workers/worker.py` on the world's queue, started and ready; killed if the
    test leaves it running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    env.update(
        {
            "MUTUALAID_TEMPORAL_ADDRESS": world.client.service_client.config.target_host,
            "MUTUALAID_DATABASE_URL": str(world.engine.url),
            "MUTUALAID_TASK_QUEUE": world.task_queue,
            "MUTUALAID_STATE_DIR": str(tmp_path / "state"),
            "MUTUALAID_STORE_ROOT": world.store_root,
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "workers" / "worker.py"),
        # No sticky cache: the test server never moves a dead worker's sticky tasks back to
        # the shared queue (a real server does, after a few seconds).
        "--cached-workflows",
        "0",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line.startswith(b"worker ready"), line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_for_payout_request(engine: Engine, claim_id: str) -> PayoutRow:
    async def requested() -> PayoutRow:
        with unit_of_work(engine) as session:
            row = session.scalars(select(PayoutRow).where(PayoutRow.claim_id == claim_id)).first()
        assert row is not None, "the payout was never requested"
        return row

    return await eventually(requested, timeout=15, what=f"the payout of {claim_id}")


def payouts(engine: Engine, claim_id: str) -> list[tuple[str, int]]:
    with unit_of_work(engine) as session:
        rows = session.scalars(select(PayoutRow).where(PayoutRow.claim_id == claim_id)).all()
        return [(row.state, row.amount_fen) for row in rows]


async def funded_claim(world: World) -> str:
    """Drive a claim to the moment its period reports the money in; returns its id."""
    member = await world.member()
    handle = await world.report(member)
    await to_approved(handle)
    period_id = await world.publicise(handle)
    await world.clear_and_fund(handle, period_id)
    return handle.id.removeprefix("claim-")


async def test_a_worker_killed_mid_payout_is_replaced_and_the_claim_is_paid_once(
    crash_world: World, tmp_path: Path
) -> None:
    world = crash_world
    # The first worker's rail takes 30 s to confirm: the kill lands mid-payout.
    async with worker_process(world, tmp_path, "--payment-latency", "30") as first:
        claim_id = await funded_claim(world)
        requested = await wait_for_payout_request(world.engine, claim_id)
        assert requested.state == "requested"
        first.kill()
        assert await first.wait() == -signal.SIGKILL
    assert payouts(world.engine, claim_id) == [("requested", 30_000_000)]
    async with worker_process(world, tmp_path) as second:
        handle = world.client.get_workflow_handle(
            msg.workflow_id(claim_id), result_type=msg.ClaimOutcome
        )
        # The server times out the dead worker's attempt and retries it on the new worker.
        outcome = await asyncio.wait_for(handle.result(), 60)
        kinds = [entry.kind for entry in await timeline_of(handle)]
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    assert outcome.state is ClaimState.PAID
    assert kinds.count("paid") == 1
    assert payouts(world.engine, claim_id) == [("paid", 30_000_000)]
    with unit_of_work(world.engine) as session:
        exits = session.scalar(
            select(func.count(MemberChangeRow.id)).where(
                MemberChangeRow.change_key == f"payout-exit-{claim_id}"
            )
        )
    assert exits == 1


async def test_sigterm_lets_the_in_flight_payout_finish_before_the_worker_exits(
    crash_world: World, tmp_path: Path
) -> None:
    world = crash_world
    async with worker_process(world, tmp_path, "--payment-latency", "2") as first:
        claim_id = await funded_claim(world)
        await wait_for_payout_request(world.engine, claim_id)
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 30) == 0
        assert first.stdout is not None
        said = (await first.stdout.read()).decode()
    assert "finishing in-flight activities" in said and "worker stopped" in said
    # The payout finished on the stopping worker: paid, not abandoned half-way.
    assert payouts(world.engine, claim_id) == [("paid", 30_000_000)]
    async with worker_process(world, tmp_path):
        handle = world.client.get_workflow_handle(
            msg.workflow_id(claim_id), result_type=msg.ClaimOutcome
        )
        outcome = await asyncio.wait_for(handle.result(), 60)
    assert (outcome.state, outcome.paid_fen) == (ClaimState.PAID, 30_000_000)
