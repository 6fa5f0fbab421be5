"""Publicity with objections: an objected case leaves its period for re-investigation and is
then either denied (appealable) or publicised again in a later period and paid."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle

from infra.db import unit_of_work
from infra.models import ClaimRow, ObjectionRow, PayoutRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_review import Findings
from tests.workflows.claim_support import (
    CHRONIC,
    CONFIRMED,
    INVESTIGATOR,
    REVIEWER,
    World,
    applicant,
    member_actor,
    status_of,
    step,
    timeline_of,
    to_approved,
    wait_for_event,
    wait_until,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


async def objected(world: World) -> tuple[WorkflowHandle[Any, Any], int, int]:
    """An approved, publicised claim that a member objects to. (handle, member, period)."""
    member = await world.member()
    objector = await world.member()
    handle = await world.report(member)
    await to_approved(handle)
    period_id = await world.publicise(handle)
    moved = await step(
        handle,
        msg.OBJECT,
        msg.Objection(actor=member_actor(objector), reason="the diagnosis predates joining"),
    )
    assert moved.state is ClaimState.REINVESTIGATING
    return handle, member, period_id


async def test_an_objection_that_holds_denies_the_claim_and_the_denial_can_be_appealed(
    world: World,
) -> None:
    async with world.worker():
        handle, member, period_id = await objected(world)
        status = await status_of(handle)
        assert (status.period_id, status.overdue) == (None, False)
        # The firm is sent back for a second round.
        await wait_for_event(handle, "investigation_commissioned")
        reference = (await status_of(handle)).investigation_reference
        assert reference is not None and reference.endswith("-2")
        await step(
            handle,
            msg.RECORD_FINDINGS,
            msg.RecordFindings(
                actor=INVESTIGATOR,
                findings=Findings(
                    diagnosis_confirmed=True,
                    declaration_consistent=False,
                    summary="hospital records show the tumour before joining",
                ),
            ),
        )
        denied = await step(
            handle,
            msg.DECIDE,
            msg.Decide(actor=REVIEWER, approve=False, reason="undeclared prior diagnosis"),
        )
        assert denied.state is ClaimState.DENIED
        appealed = await step(handle, msg.APPEAL, msg.Appeal(actor=applicant(member)))
        assert appealed.state is ClaimState.JURY_VOTING
    claim_id = handle.id.removeprefix("claim-")
    with unit_of_work(world.engine) as session:
        row = session.get(ClaimRow, claim_id)
        assert row is not None and (row.state, row.period_id) == ("JuryVoting", None)
        objection = session.scalars(
            select(ObjectionRow).where(ObjectionRow.claim_id == claim_id)
        ).one()
        assert objection.period_id == period_id


async def test_an_objection_that_fails_sends_the_claim_to_a_later_period_and_it_is_paid(
    world: World,
) -> None:
    async with world.worker():
        handle, _, first_period = await objected(world)
        await wait_for_event(handle, "investigation_commissioned")
        await step(
            handle, msg.RECORD_FINDINGS, msg.RecordFindings(actor=INVESTIGATOR, findings=CONFIRMED)
        )
        await step(handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=True))
        # The period it left cannot take it back.
        await handle.signal(
            msg.PUBLICISED,
            msg.Publicised(
                period_id=first_period,
                publicity_date=(await status_of(handle)).program_now.date(),
                objection_window_end=(await status_of(handle)).program_now + timedelta(days=3),
            ),
        )
        await world.env.sleep(timedelta(minutes=5))
        assert (await status_of(handle)).state is ClaimState.AWAITING_PUBLICITY
        later_period = await world.publicise(handle)
        assert later_period != first_period
        await world.clear_and_fund(handle, later_period)
        outcome = await handle.result()
        kinds = [entry.kind for entry in await timeline_of(handle)]
    assert outcome.state is ClaimState.PAID
    assert kinds.count("publicised") == 2
    assert kinds[kinds.index("objected") :] == [
        "objected",
        "investigation_commissioned",
        "findings_recorded",
        "approved",
        "publicised",
        "cleared",
        "paid",
    ]
    with unit_of_work(world.engine) as session:
        payout = session.scalars(
            select(PayoutRow).where(PayoutRow.claim_id == outcome.claim_id)
        ).one()
        assert payout.period_id == later_period


async def test_a_claim_cleared_early_still_waits_for_the_end_of_the_window(
    world: World,
) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_approved(handle)
        period_id = await world.publicise(handle)
        await handle.signal(msg.CLEARED, msg.Cleared(period_id=period_id))
        await world.env.sleep(timedelta(days=CHRONIC.sharing.objection_window_days - 1))
        still = await status_of(handle)
        assert still.state is ClaimState.PUBLICISED
        await world.env.sleep(timedelta(days=1))
        cleared = await wait_until(handle, lambda s: s.state is ClaimState.AWAITING_FUNDS)
    assert cleared.period_id == period_id
