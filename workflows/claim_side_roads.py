"""The automatic steps where the claim waits on another party: the investigation firm, the
jury's count, the payment rail.

The main loop (workflows/claim_loop.py) takes each of them when the claim's state calls for
it. Each is an idempotent activity, called by reference with the retry policy that fits its
party: the firm is retried a bounded number of times, the rail without limit.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.claim_record import (
    ACTIVITY_TIMEOUT,
    JURY,
    SYSTEM,
    ClaimRecord,
    call_database,
    cause_of,
)

with workflow.unsafe.imports_passed_through():
    import messages.claims as msg
    from activities.claims import ClaimActivities
    from activities.investigation import InvestigationActivities
    from activities.payment import PaymentRail
    from mutualaid.claim import EventKind
    from mutualaid.errors import InvariantError
    from mutualaid.jury import jury_outcome
    from mutualaid.membership import ExitReason


# The investigation firm: retried with backoff a bounded number of times; then the claim
# waits for findings recorded by hand, its SLA timer still running.
FIRM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=6,
)
# The payment rail: money must go out, so it is retried without limit; the payout deadline
# marks the claim overdue meanwhile.
PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
# A bank may take minutes to confirm; the rail heartbeats meanwhile, so a dead worker is
# noticed within seconds and the payout retried elsewhere under the same key.
PAYMENT_TIMEOUT = timedelta(minutes=10)
PAYMENT_HEARTBEAT = timedelta(seconds=5)


class SideRoads:
    """Commissioning the investigation, closing the jury's vote, paying out."""

    def __init__(self, record: ClaimRecord) -> None:
        self._record = record

    async def commission(self) -> None:
        """Hand the case to the investigation firm. Runs outside the lock: the firm may be
        slow or down for a while, and the claim still takes findings recorded by hand."""
        record = self._record
        round_ = record.investigation_round
        record.commissioned_round = round_
        claim = record.claim
        try:
            commission = await workflow.execute_activity_method(
                InvestigationActivities.commission,
                msg.CommissionRequest(
                    claim_id=claim.claim_id,
                    round=round_,
                    plan_id=claim.plan_id,
                    condition=claim.condition,
                    diagnosis_date=claim.diagnosis_date,
                    hospital=claim.hospital,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=FIRM_RETRY,
            )
        except ActivityError as err:
            async with record.lock:
                await record.note(
                    EventKind.INVESTIGATION_UNASSIGNED,
                    SYSTEM,
                    detail={"round": round_, "error": cause_of(err)},
                    note=f"the firm did not take the case: {cause_of(err)}",
                )
            return
        async with record.lock:
            record.investigation_reference = commission.reference
            await record.note(
                EventKind.INVESTIGATION_COMMISSIONED,
                SYSTEM,
                detail={"round": round_, "reference": commission.reference},
                note=commission.reference,
            )

    async def close_vote(self) -> None:
        """Count the jury's votes once voting has closed, and move the claim by the result."""
        record = self._record
        intake = record.require_intake()
        tally = await call_database(
            ClaimActivities.tally_jury,
            msg.TallyRequest(claim_id=record.claim.claim_id, round=record.jury_round),
        )
        outcome = jury_outcome(
            min_valid_votes=intake.terms.jury_min_valid_votes,
            approve_above=intake.terms.approve_above,
            valid_votes=tally.valid_votes,
            approvals=tally.approvals,
        )
        detail = {
            "round": record.jury_round,
            "result": outcome.result.value,
            "valid_votes": outcome.valid_votes,
            "approvals": outcome.approvals,
        }
        note = f"{outcome.result.value}: {outcome.approvals} of {outcome.valid_votes} approve"
        if outcome.approved:
            await record.move(EventKind.JURY_APPROVED, JURY, detail=detail, note=note)
        else:
            record.reasons.append(f"jury: {note}")
            await record.move(EventKind.JURY_REJECTED, JURY, detail=detail, note=note)

    async def pay_out(self, period_id: int) -> None:
        """Pay the benefit the period funded, then queue the member's exit."""
        record = self._record
        benefit = record.benefit()
        if benefit is None:
            raise InvariantError(f"claim {record.claim.claim_id} is funded without a benefit")
        # The per-case cap can fund less than the benefit; never more.
        benefit = min(benefit, record.funded_amounts.get(period_id, benefit))
        receipt = await workflow.execute_activity_method(
            PaymentRail.pay_out,
            msg.PayoutRequest(
                claim_id=record.claim.claim_id,
                period_id=period_id,
                amount_fen=benefit,
                at=record.program_now(),
            ),
            start_to_close_timeout=PAYMENT_TIMEOUT,
            heartbeat_timeout=PAYMENT_HEARTBEAT,
            retry_policy=PAYMENT_RETRY,
        )
        record.payout = receipt
        # A member who receives a payout leaves the plan.
        await record.queue_exit(ExitReason.PAID_OUT, "payout-exit")
        await record.move(
            EventKind.PAID,
            "payment-rail",
            detail={"reference": receipt.reference, "amount_fen": receipt.amount_fen},
            note=receipt.reference,
        )
