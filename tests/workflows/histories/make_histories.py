"""Record the histories of representative claims as JSON, for the replay tests.

    .venv/bin/python -m tests.workflows.histories.make_histories

Runs each claim on a fresh time-skipping server with a throwaway SQLite database and writes
`<name>.json` beside this file. Rerun it only when a workflow change is meant to break
replay (and then version the workflow): the saved files are what running claims look like.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from messages import claims as msg
from mutualaid.claim_review import ReviewOutcome
from tests.workflows.claim_support import (
    ALL_DOCUMENTS,
    CONFIRMED,
    INVESTIGATOR,
    REVIEWER,
    World,
    applicant,
    member_actor,
    migrated_sqlite,
    register_search_attributes,
    step,
    to_approved,
    to_denied,
    wait_for_event,
)

HERE = Path(__file__).parent


async def paid_after_objection(world: World) -> WorkflowHandle[Any, Any]:
    """Approved, publicised, objected, re-investigated, publicised again, paid."""
    member = await world.member()
    objector = await world.member()
    handle = await world.report(member)
    await to_approved(handle)
    await world.publicise(handle)
    await step(handle, msg.OBJECT, msg.Objection(actor=member_actor(objector), reason="doubts"))
    await wait_for_event(handle, "investigation_commissioned")
    await step(
        handle, msg.RECORD_FINDINGS, msg.RecordFindings(actor=INVESTIGATOR, findings=CONFIRMED)
    )
    await step(handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=True))
    period_id = await world.publicise(handle)
    await world.clear_and_fund(handle, period_id)
    await handle.result()
    return handle


async def jury_without_quorum(world: World) -> WorkflowHandle[Any, Any]:
    """Materials sent in two goes, denied, appealed, a few votes, no quorum: final."""
    member = await world.member()
    handle = await world.report(member, documents=ALL_DOCUMENTS[:1])
    await step(
        handle,
        msg.SUBMIT_MATERIALS,
        msg.SubmitMaterials(actor=applicant(member), documents=ALL_DOCUMENTS[1:]),
    )
    await to_denied(handle)
    await step(handle, msg.APPEAL, msg.Appeal(actor=applicant(member), reason="declared"))
    voter = await world.member()
    await handle.execute_update(
        msg.VOTE,
        msg.JuryVotes(
            votes=(
                msg.JuryVote(juror_id=voter, approve=True),
                msg.JuryVote(juror_id=1, approve=False),
            )
        ),
        result_type=msg.VoteReceipt,
    )
    await handle.result()
    return handle


async def waiting_period_refund(world: World) -> WorkflowHandle[Any, Any]:
    """Diagnosed on the 90th day of waiting: refused, refunded, out of the plan."""
    today = await world.today()
    joined = today - timedelta(days=100)
    member = world.join(birth=today.replace(year=today.year - 30), joined=joined)
    handle = await world.report(member, diagnosed=joined + timedelta(days=90))
    await handle.result()
    return handle


async def overdue_then_withdrawn(world: World) -> WorkflowHandle[Any, Any]:
    """Sent back for a document, reviewed late (overdue), withdrawn in investigation."""
    member = await world.member()
    handle = await world.report(member)
    await world.env.sleep(timedelta(days=8))
    await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
    await wait_for_event(handle, "investigation_commissioned")
    await step(handle, msg.WITHDRAW, msg.Withdraw(actor=applicant(member), reason="recovered"))
    await handle.result()
    return handle


CLAIMS: dict[str, Callable[[World], Awaitable[WorkflowHandle[Any, Any]]]] = {
    "paid_after_objection": paid_after_objection,
    "jury_without_quorum": jury_without_quorum,
    "waiting_period_refund": waiting_period_refund,
    "overdue_then_withdrawn": overdue_then_withdrawn,
}


async def record(folder: Path = HERE) -> list[Path]:
    written = []
    for name, run in CLAIMS.items():
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=installed_binary("temporal-test-server"),
            data_converter=DATA_CONVERTER,
        )
        try:
            await register_search_attributes(env.client)
            with tempfile.TemporaryDirectory() as scratch:
                engine = migrated_sqlite(f"{scratch}/claims.db")
                world = World(env=env, engine=engine, store_root=scratch)
                async with world.worker():
                    handle = await run(world)
                    history = await handle.fetch_history()
                engine.dispose()
        finally:
            await env.shutdown()
        path = folder / f"{name}.json"
        path.write_text(history.to_json() + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(path)
