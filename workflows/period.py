"""The period workflow: one per plan and publicity day (`period-<plan>-<publicity date>`).

00:00 publicity day: lock the roster; gather the cases approved before the cut-off, tell each
claim it is publicised, publish the list. End of the objection window: objected cases leave,
the others are told they cleared, the share is fixed. 00:00 sharing day: the debit; then one
retry a day; the last removes non-payers and closes the money. Then each cleared claim is told
it is funded, and after the payout deadline the period reports what was paid.

Every wait is a durable timer on the program clock; every step with effects is an idempotent
activity (the settlement engine resumes the same run after a crash, never a second one).
A Schedule starts `PeriodTrigger`, which starts this workflow under its canonical id, so a
schedule or an operator firing twice finds the period already running.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction

from temporalio import workflow
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from workflows.period_steps import LIST_STEP, QUICK_STEP, REPORT_STEP, SHARD_STEP, PeriodSteps

with workflow.unsafe.imports_passed_through():
    import messages.claims as claim_msg
    import messages.periods as msg
    from activities.period_report import PeriodReportActivities
    from activities.period_settlement import PeriodSettlementActivities
    from activities.publicity import PublicityActivities
    from activities.telling import ClaimTelling, notices_for
    from messages.periods import PeriodState, debit_state
    from mutualaid.calendar import (
        debit_day,
        is_publicity_day,
        next_publicity_day,
        payout_due,
        program_date,
        roster_cutoff,
        sharing_day_for,
        start_of_day,
    )
    from mutualaid.claim_deadlines import objection_window_end
    from mutualaid.clock import ProgramClock
    from workflows.search_attributes import PERIOD_ID, PLAN_ID

# Set by Temporal on runs a Schedule starts: the moment the run was due.
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

# workflow.patched id: runs started before this change had no SQL guard at the start.
_SQL_GUARD = "period-sql-guard"


@workflow.defn(name=msg.WORKFLOW_NAME)
class PeriodWorkflow:
    def __init__(self) -> None:
        self._steps = PeriodSteps()
        self._members: int | None = None
        self._cases: tuple[str, ...] = ()
        self._cleared: tuple[str, ...] = ()
        self._objected: tuple[str, ...] = ()
        self._share: int | None = None

    @workflow.run
    async def run(self, request: msg.PeriodInput) -> msg.PeriodReport:
        steps = self._steps
        origin = request.clock_origin or workflow.now()
        steps.clock = ProgramClock(
            seconds_per_day=Fraction(request.seconds_per_day),
            origin_real=origin,
            origin_program=request.program_origin or origin,
        )
        publicity = request.publicity_date
        sharing = sharing_day_for(publicity)
        steps.period = msg.workflow_id(request.plan_id, publicity)
        workflow.upsert_search_attributes(
            [PLAN_ID.value_set(request.plan_id), PERIOD_ID.value_set(steps.period)]
        )

        if workflow.patched(_SQL_GUARD):
            # A period runs once per plan and day, whoever starts it and whenever: one whose
            # final report is in SQL (its Temporal history lost, say) is not run again.
            recorded = await steps.run(
                PeriodReportActivities.recorded,
                msg.RecordedRequest(plan_id=request.plan_id, publicity_date=publicity),
                QUICK_STEP,
            )
            if recorded.report is not None:
                workflow.logger.warning(
                    "%s already ran to its final report: not run again", steps.period
                )
                self._members = recorded.report.members
                self._share = recorded.report.share_fen
                steps.set_state(PeriodState.CLOSED)
                return recorded.report

        await steps.until(roster_cutoff(publicity), PeriodState.WAITING_FOR_PUBLICITY_DAY)
        steps.set_state(PeriodState.LOCKING)
        locked = await steps.run(
            PeriodSettlementActivities.lock,
            # The moment is taken at each try (a lock that waited acts when it goes through).
            lambda: msg.LockRequest(
                plan_id=request.plan_id, publicity_date=publicity, now=steps.now()
            ),
            SHARD_STEP,
        )
        self._members = locked.members

        steps.set_state(PeriodState.PUBLICISING)
        fanout = workflow.patched(msg.FANOUT_PATCH)
        window_end = objection_window_end(publicity, locked.objection_window_days)
        if fanout:
            listed = await steps.run(
                PublicityActivities.list_cases,
                msg.ListRequest(
                    plan_id=request.plan_id,
                    period_id=locked.period_id,
                    publicity_date=publicity,
                    cutoff=roster_cutoff(publicity),
                    now=steps.now(),
                ),
                LIST_STEP,
            )
            self._cases = listed.claim_ids
            benefits = dict(zip(listed.claim_ids, listed.benefits_fen, strict=True))
        else:
            gathered = await steps.run(
                PublicityActivities.gather,
                msg.GatherRequest(
                    plan_id=request.plan_id,
                    period_id=locked.period_id,
                    cutoff=roster_cutoff(publicity),
                ),
                LIST_STEP,
            )
            self._cases = tuple(c.claim_id for c in gathered.cases)
            benefits = {c.claim_id: c.benefit_fen for c in gathered.cases}
            await steps.run(
                PublicityActivities.publish,
                msg.PublishRequest(
                    plan_id=request.plan_id,
                    period_id=locked.period_id,
                    publicity_date=publicity,
                    cases=gathered.cases,
                    now=steps.now(),
                ),
                LIST_STEP,
            )
        unreachable = await self._tell(
            fanout,
            msg.TellRequest(
                signal=claim_msg.PUBLICISED,
                period_id=locked.period_id,
                claim_ids=self._cases,
                publicity_date=publicity,
                objection_window_end=window_end,
            ),
        )

        await steps.until(window_end, PeriodState.OBJECTION_WINDOW)
        closed = await steps.run(
            PublicityActivities.close_window,
            msg.CloseWindowRequest(
                period_id=locked.period_id,
                claim_ids=tuple(c for c in self._cases if c not in unreachable),
            ),
            LIST_STEP,
        )
        self._cleared, self._objected = closed.cleared, closed.objected
        await self._tell(
            fanout,
            msg.TellRequest(
                signal=claim_msg.CLEARED, period_id=locked.period_id, claim_ids=self._cleared
            ),
        )
        share = await steps.run(
            PeriodSettlementActivities.fix_share,
            msg.ShareRequest(
                plan_id=request.plan_id,
                publicity_date=publicity,
                benefits_fen=tuple(benefits[c] for c in self._cleared),
            ),
            LIST_STEP,
        )
        self._share = share.share_fen

        for attempt in range(locked.retry_days + 1):
            due = start_of_day(debit_day(sharing, attempt))
            await steps.until(due, debit_state(attempt, running=False))
            steps.set_state(debit_state(attempt, running=True))
            run_debit = (
                PeriodSettlementActivities.debit
                if attempt == 0
                else PeriodSettlementActivities.retry
            )
            await steps.run(
                run_debit,
                # Built at each try (the moment, as for the lock), within this iteration.
                lambda: msg.DebitRequest(
                    plan_id=request.plan_id,
                    sharing_date=sharing,
                    attempt=attempt,  # noqa: B023
                    aid_fen=share.aid_fen,
                    now=steps.now(),
                ),
                SHARD_STEP,
            )

        steps.set_state(PeriodState.PAYING_OUT)
        await self._tell(
            fanout,
            msg.TellRequest(
                signal=claim_msg.FUNDED,
                period_id=locked.period_id,
                claim_ids=self._cleared,
                amounts_fen=share.payouts_fen,
            ),
        )
        # Periods started before the report waited for the payouts' own deadline waited a day
        # less; they replay (and report) as they began.
        report_at = (
            payout_due(sharing, locked.payout_deadline_days)
            if workflow.patched(msg.PAYOUT_DUE_PATCH)
            else start_of_day(sharing + timedelta(days=locked.payout_deadline_days))
        )
        await steps.until(report_at, PeriodState.PAYING_OUT)
        report = await steps.run(
            PeriodReportActivities.final_report,
            msg.ReportRequest(
                plan_id=request.plan_id,
                period_id=locked.period_id,
                publicity_date=publicity,
                funded_claims=self._cleared,
            ),
            REPORT_STEP,
        )
        steps.set_state(PeriodState.CLOSED)
        return report

    @workflow.query(name=msg.STATUS)
    def status(self) -> msg.PeriodStatus:
        steps = self._steps
        return msg.PeriodStatus(
            period=steps.period,
            state=steps.state,
            members=self._members,
            cases=self._cases,
            cleared=self._cleared,
            objected=self._objected,
            share_fen=self._share,
            next_step_at=steps.next_step_at,
            waiting_for=steps.waiting_for,
            stopped_step=steps.stopped_step,
            problem=steps.problem,
        )

    @workflow.update(name=msg.RESUME)
    def resume(self, request: msg.Resume) -> str:
        """After a data-integrity stop, once an operator has repaired the store: try the
        stopped step again (it stops again, loudly, if the damage is still there)."""
        return self._steps.resume(request.operator)

    @resume.validator
    def _validate_resume(self, request: msg.Resume) -> None:
        self._steps.check_resume(request.operator)

    # -- helpers -----------------------------------------------------------------------

    async def _tell(self, fanout: bool, request: msg.TellRequest) -> set[str]:
        """Tell each claim of the request; a claim that cannot be reached is reported, not
        fatal. With `fanout`, a `tell_claims` activity a batch at a time; before it, as the
        periods started then replay, a signal a claim from this workflow."""
        unreachable: set[str] = set()
        if fanout:
            ids, amounts = request.claim_ids, request.amounts_fen
            for start in range(0, len(ids), msg.TELL_BATCH):
                end = start + msg.TELL_BATCH
                batch = replace(request, claim_ids=ids[start:end], amounts_fen=amounts[start:end])
                told = await self._steps.run(ClaimTelling.tell_claims, batch, LIST_STEP)
                unreachable.update(told.unreachable)
            return unreachable
        for claim_id, notice in notices_for(request):
            handle = workflow.get_external_workflow_handle(claim_msg.workflow_id(claim_id))
            try:
                await handle.signal(request.signal, notice)
            except ApplicationError:
                unreachable.add(claim_id)
            except Exception as exc:  # a closed or missing claim workflow
                workflow.logger.warning("claim %s not told %s: %s", claim_id, request.signal, exc)
                unreachable.add(claim_id)
        return unreachable


@workflow.defn(name=msg.TRIGGER_NAME)
class PeriodTriggerWorkflow:
    """Started by the plan's Schedule at 00:00 on the 7th and 21st (on a compressed clock, at
    00:00 of every program day): starts the period under its canonical id, on the clock the
    Schedule carries. A second firing for the same day finds it started and does nothing."""

    @workflow.run
    async def run(self, request: msg.TriggerInput) -> str:
        scheduled = workflow.info().typed_search_attributes.get(_SCHEDULED_START) or workflow.now()
        # The scheduled moment (not now: a caught-up run starts late) names the publicity day.
        if request.clock_origin is None:  # real time: fired by the calendar on the day itself
            day = program_date(scheduled)
            publicity = day if is_publicity_day(day) else next_publicity_day(scheduled)
        else:
            # A compressed clock fires every program day at 00:00 (an interval in real time,
            # `workers.schedules`): only the 7th and 21st start a period.
            clock = ProgramClock(
                seconds_per_day=Fraction(request.seconds_per_day),
                origin_real=request.clock_origin,
                origin_program=request.program_origin or request.clock_origin,
            )
            publicity = program_date(clock.program_now(scheduled))
            if not is_publicity_day(publicity):
                return f"{publicity} is not a publicity day"
        try:
            await workflow.start_child_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(
                    plan_id=request.plan_id,
                    publicity_date=publicity,
                    seconds_per_day=request.seconds_per_day,
                    clock_origin=request.clock_origin,
                    program_origin=request.program_origin,
                ),
                id=msg.workflow_id(request.plan_id, publicity),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return f"{msg.workflow_id(request.plan_id, publicity)} already started"
        return f"{msg.workflow_id(request.plan_id, publicity)} started"
