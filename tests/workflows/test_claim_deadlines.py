"""Deadlines as durable timers on the program clock, and the search attributes operators see.

A review or investigation past its SLA is marked overdue (Overdue=true) and keeps waiting; the
next step clears the mark. No personal data goes into the attributes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import SearchAttributes, WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import decode_typed_search_attributes

from messages import claims as msg
from mutualaid.calendar import start_of_day
from mutualaid.claim import ClaimState
from mutualaid.claim_deadlines import DeadlineKind
from mutualaid.claim_review import ReviewOutcome
from tests.workflows.claim_support import (
    CONFIRMED,
    INVESTIGATOR,
    REVIEWER,
    World,
    status_of,
    step,
    to_approved,
    wait_for_event,
    wait_until,
)
from workflows.search_attributes import (
    BENEFIT_FEN,
    CLAIM_STATE,
    MEMBER_ID,
    NEXT_DEADLINE,
    OVERDUE,
    PERIOD_ID,
    PLAN_ID,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


async def attributes(handle: WorkflowHandle[Any, Any], client: Client) -> dict[str, object]:
    """The claim's search attributes as visibility holds them. The test server keeps an
    unset attribute as a null value (a real server drops it), which the SDK's typed decoder
    cannot read as a datetime: nulls are dropped here first."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    present = SearchAttributes(
        indexed_fields={
            name: value
            for name, value in fields.items()
            if value.metadata.get("encoding") != b"binary/null"
        }
    )
    found = decode_typed_search_attributes(present)
    return {
        key.name: found.get(key)
        for key in (CLAIM_STATE, PLAN_ID, PERIOD_ID, MEMBER_ID, BENEFIT_FEN, OVERDUE, NEXT_DEADLINE)
    }


async def test_a_review_past_its_sla_is_marked_overdue_and_still_waits(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        status = await status_of(handle)
        deadline = status.next_deadline
        assert deadline is not None and deadline.kind is DeadlineKind.REVIEW
        # 7 program days, to 00:00 after the 7th day after the report.
        assert deadline.due == start_of_day(
            status.program_now.astimezone(deadline.due.tzinfo).date() + timedelta(days=8)
        )
        before = await attributes(handle, world.client)
        assert before[OVERDUE.name] is False
        assert before[NEXT_DEADLINE.name] == deadline.due_real
        await world.sleep_until(deadline.due_real + timedelta(minutes=1))
        late = await wait_until(handle, lambda s: s.overdue)
        assert late.state is ClaimState.IN_REVIEW
        assert (await attributes(handle, world.client))[OVERDUE.name] is True
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        moved = await status_of(handle)
    assert (moved.state, moved.overdue) == (ClaimState.INVESTIGATING, False)
    assert moved.next_deadline is not None
    assert moved.next_deadline.kind is DeadlineKind.INVESTIGATION


async def test_an_investigation_past_its_sla_is_overdue_until_the_findings_come(
    world: World,
) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        await wait_for_event(handle, "investigation_commissioned")
        await world.env.sleep(timedelta(days=37))
        late = await wait_until(handle, lambda s: s.overdue)
        assert late.state is ClaimState.INVESTIGATING
        listed = await attributes(handle, world.client)
        assert (listed[CLAIM_STATE.name], listed[OVERDUE.name]) == ("Investigating", True)
        await step(
            handle,
            msg.RECORD_FINDINGS,
            msg.RecordFindings(actor=INVESTIGATOR, findings=CONFIRMED),
        )
        assert (await attributes(handle, world.client))[OVERDUE.name] is False


async def test_search_attributes_follow_the_claim_without_personal_data(world: World) -> None:
    member = await world.member(age=45)
    async with world.worker():
        handle = await world.report(member)
        first = await attributes(handle, world.client)
        assert first == {
            CLAIM_STATE.name: "InReview",
            PLAN_ID.name: "chronic",
            PERIOD_ID.name: None,
            MEMBER_ID.name: str(member),
            BENEFIT_FEN.name: 10_000_000,
            OVERDUE.name: False,
            NEXT_DEADLINE.name: first[NEXT_DEADLINE.name],
        }
        await to_approved(handle)
        waiting = await attributes(handle, world.client)
        assert (waiting[CLAIM_STATE.name], waiting[NEXT_DEADLINE.name]) == (
            "AwaitingPublicity",
            None,
        )
        await world.publicise(handle)
        publicity_date = (await status_of(handle)).publicity_date
        assert publicity_date is not None
        published = await attributes(handle, world.client)
        assert (published[CLAIM_STATE.name], published[PERIOD_ID.name]) == (
            "Publicised",
            f"period-chronic-{publicity_date.isoformat()}",
        )
    # The hospital and the condition never reach visibility.
    assert all("Hospital" not in str(value) for value in published.values())


async def test_a_payout_late_after_the_sharing_day_is_overdue_until_funded(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_approved(handle)
        period_id = await world.publicise(handle)
        await handle.signal(msg.CLEARED, msg.Cleared(period_id=period_id))
        # "Cleared" early: the claim still honours the members' objection window.
        await world.env.sleep(timedelta(hours=1))
        assert (await status_of(handle)).state is ClaimState.PUBLICISED
        await world.env.sleep(timedelta(days=3))
        waiting = await wait_until(handle, lambda s: s.state is ClaimState.AWAITING_FUNDS)
        assert waiting.next_deadline is not None
        assert waiting.next_deadline.kind is DeadlineKind.PAYOUT
        await world.sleep_until(waiting.next_deadline.due_real + timedelta(hours=1))
        await wait_until(handle, lambda s: s.overdue)
        await handle.signal(msg.FUNDED, msg.Funded(period_id=period_id))
        outcome = await handle.result()
    assert (outcome.state, outcome.paid_fen) == (ClaimState.PAID, 30_000_000)
