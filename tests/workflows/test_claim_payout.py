"""Payout only once the period's money is in, through the rail keyed by the claim id: a
payout activity retried after it paid (its answer lost) pays nothing more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio import activity

from activities.payment import PaymentRail
from infra.db import unit_of_work
from infra.models import MemberChangeRow, PayoutRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from tests.workflows.claim_support import World, status_of, to_approved

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


async def test_a_payout_retried_after_it_paid_pays_once(world: World) -> None:
    rail = PaymentRail(engine=world.engine)
    receipts: list[tuple[int, msg.PayoutReceipt]] = []

    @activity.defn(name=msg.PAY_OUT)
    def pay_then_lose_the_answer(request: msg.PayoutRequest) -> msg.PayoutReceipt:
        receipt = rail.pay_out(request)
        receipts.append((activity.info().attempt, receipt))
        if activity.info().attempt == 1:
            raise ConnectionResetError("the rail paid, but its answer was lost")
        return receipt

    member = await world.member()
    async with world.worker(world.activities(pay_out=pay_then_lose_the_answer)):
        handle = await world.report(member)
        await to_approved(handle)
        period_id = await world.publicise(handle)
        await world.clear_and_fund(handle, period_id)
        outcome = await handle.result()
        status = await status_of(handle)
    (first_attempt, paid), (second_attempt, again) = receipts
    assert (first_attempt, paid.already_paid) == (1, False)
    assert (second_attempt, again.already_paid) == (2, True)
    assert paid.reference == again.reference == status.payout_reference
    assert (outcome.state, outcome.paid_fen) == (ClaimState.PAID, 30_000_000)
    with unit_of_work(world.engine) as session:
        payouts = session.scalars(
            select(PayoutRow).where(PayoutRow.claim_id == outcome.claim_id)
        ).all()
        assert [(p.state, p.amount_fen, p.period_id) for p in payouts] == [
            ("paid", 30_000_000, period_id)
        ]
        exits = session.scalar(
            select(func.count(MemberChangeRow.id)).where(
                MemberChangeRow.change_key == f"payout-exit-{outcome.claim_id}"
            )
        )
        assert exits == 1


async def test_no_payout_before_the_period_reports_the_money_in(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_approved(handle)
        period_id = await world.publicise(handle)
        await handle.signal(msg.CLEARED, msg.Cleared(period_id=period_id))
        # A "funded" for another period is not this claim's money.
        await handle.signal(msg.FUNDED, msg.Funded(period_id=period_id + 100))
        await world.env.sleep(timedelta(days=10))
        waiting = await status_of(handle)
    assert waiting.state is ClaimState.AWAITING_FUNDS
    assert waiting.payout_reference is None
    with unit_of_work(world.engine) as session:
        assert (
            session.scalar(
                select(func.count(PayoutRow.id)).where(PayoutRow.claim_id == waiting.claim_id)
            )
            == 0
        )
