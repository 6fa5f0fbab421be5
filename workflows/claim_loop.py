"""The claim's main loop: intake, then every automatic step the claim allows, then a durable
wait until something happens or the current deadline falls due, until the claim ends.

The loop owns the automatic steps (deadlines, publicity, payout, commissioning the
investigation firm, closing the jury's vote); the update handlers own the human ones
(workflows/claim_steps.py). Both hold the record's lock while they move the claim, so a
transition is never interleaved with another. Every wait is a durable timer on the program
clock, re-armed only when the record says something changed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.claim_record import CLOCK, SYSTEM, ClaimRecord, call_database
from workflows.claim_side_roads import SideRoads

with workflow.unsafe.imports_passed_through():
    import messages.claims as msg
    from activities.claims import ClaimActivities
    from mutualaid.calendar import program_date
    from mutualaid.claim import TERMINAL, ClaimState, EventKind
    from mutualaid.claim_deadlines import SLA_KINDS, DeadlineKind
    from mutualaid.claim_materials import missing_documents
    from mutualaid.membership import ExitReason


class ClaimLoop:
    """Runs the claim from intake to a terminal state over its record; the side roads take
    the steps that wait on another party."""

    def __init__(self, record: ClaimRecord, roads: SideRoads) -> None:
        self._record = record
        self._roads = roads

    async def run(self) -> None:
        """Take the claim in, then work and wait until it is over."""
        record = self._record
        async with record.lock:
            await self._take_in()
        while record.state not in TERMINAL:
            await self._work()
            if record.state in TERMINAL:
                break
            await self._wait()

    async def _take_in(self) -> None:
        record = self._record
        claim = record.claim
        now = record.program_now()
        intake = await call_database(
            ClaimActivities.intake,
            msg.IntakeRequest(
                claim_id=claim.claim_id,
                plan_id=claim.plan_id,
                member_id=claim.member_id,
                condition=claim.condition,
                diagnosis_date=claim.diagnosis_date,
                hospital=claim.hospital,
                accident=claim.accident,
                as_of=program_date(now),
                at=now,
            ),
        )
        record.intake = intake
        record.reasons = [f"{r.code.value}: {r.detail}" for r in intake.reasons]
        await record.note(
            EventKind.REPORTED,
            SYSTEM,
            detail={
                "eligible": intake.eligible,
                "reasons": record.reasons,
                "age_at_diagnosis": intake.age_at_diagnosis,
                "benefit_fen": record.benefit(),
                "claimed_fen": claim.claimed_fen,
                "rules_version": intake.terms.rules_version,
                "documents": [d.kind.value for d in record.documents],
            },
            note="eligible" if intake.eligible else "; ".join(record.reasons),
        )
        if not intake.eligible:
            if intake.refund_and_exit:
                # Diagnosed in the waiting period: refunded and out of the plan (policy).
                await record.queue_exit(ExitReason.WAITING_PERIOD_DIAGNOSIS, "waiting-exit")
                await record.note(
                    EventKind.MEMBER_EXIT_QUEUED, SYSTEM, note="refund and exit (waiting period)"
                )
            await record.move(EventKind.INTAKE_REFUSED, SYSTEM, detail={"reasons": record.reasons})
        elif not missing_documents(d.kind for d in record.documents):
            await record.move(EventKind.MATERIALS_COMPLETE, SYSTEM)
        record.taken_in = True

    async def _work(self) -> None:
        """Take every automatic step the claim allows now."""
        record = self._record
        async with record.lock:
            while record.state not in TERMINAL and await self._step():
                pass
        if (
            record.state in (ClaimState.INVESTIGATING, ClaimState.REINVESTIGATING)
            and record.commissioned_round < record.investigation_round
        ):
            await self._roads.commission()

    async def _wait(self) -> None:
        """Sleep until something happens or the current deadline falls due."""
        record = self._record
        seen = record.version
        timeout: timedelta | None = None
        deadline = record.deadline()
        if deadline is not None:
            due = record.due_real(deadline)
            if due > workflow.now():
                timeout = due - workflow.now()
        try:
            await workflow.wait_condition(lambda: record.version != seen, timeout=timeout)
        except TimeoutError:
            record.timer_fired()

    async def _step(self) -> bool:
        """One automatic step, if one is due. Returns whether the claim changed."""
        record = self._record
        deadline = record.deadline()
        if deadline is not None and record.reached(deadline):
            if deadline.kind in SLA_KINDS:
                if not record.overdue:
                    record.overdue = True
                    await record.note(
                        EventKind.OVERDUE, CLOCK, detail={"deadline": deadline.kind.value}
                    )
                    return True
            elif deadline.kind is DeadlineKind.MATERIALS:
                await record.move(EventKind.MATERIALS_EXPIRED, CLOCK, note="materials missing")
                return True
            elif deadline.kind is DeadlineKind.APPEAL:
                await record.move(EventKind.APPEAL_EXPIRED, CLOCK, note="no appeal in time")
                return True
            elif deadline.kind is DeadlineKind.JURY_VOTE:
                await self._roads.close_vote()
                return True
            elif (
                deadline.kind is DeadlineKind.OBJECTION_WINDOW
                and record.publicity is not None
                and record.publicity.period_id in record.cleared_periods
            ):
                # The period may say "cleared" early; the members' window is honoured anyway.
                await record.move(EventKind.CLEARED, record.period_actor())
                return True
        if record.state is ClaimState.AWAITING_PUBLICITY and record.pending_publicity is not None:
            record.publicity, record.pending_publicity = record.pending_publicity, None
            await record.move(
                EventKind.PUBLICISED,
                record.period_actor(),
                detail={
                    "period_id": record.publicity.period_id,
                    "publicity_date": record.publicity.publicity_date.isoformat(),
                    "objection_window_end": record.publicity.objection_window_end.isoformat(),
                },
                set_period=True,
                period_id=record.publicity.period_id,
            )
            return True
        if (
            record.state is ClaimState.AWAITING_FUNDS
            and record.publicity is not None
            and record.publicity.period_id in record.funded_periods
        ):
            await self._roads.pay_out(record.publicity.period_id)
            return True
        return False
