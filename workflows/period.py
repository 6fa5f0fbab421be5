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

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.failures import FINAL_ERROR_TYPES, INTEGRITY_TYPES, NOT_YET
    from mutualaid.calendar import (
        is_publicity_day,
        next_publicity_day,
        program_date,
        roster_cutoff,
        sharing_day_for,
        start_of_day,
    )
    from mutualaid.claim import objection_window_end
    from mutualaid.clock import ProgramClock
    from workflows import claim_messages as claim_msg
    from workflows import period_messages as msg
    from workflows.search_attributes import PERIOD_ID, PERIOD_STATE, PLAN_ID

T = TypeVar("T")

# Set by Temporal on runs a Schedule starts: the moment the run was due.
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

# SQL, the member store and Ray: retried until they answer (an outage of minutes is ridden
# out), never silently forever: a failing step shows in the Web UI as a retrying activity.
# The program's own final errors are not retried; "not yet" comes back to the workflow at
# once, which waits for it on a durable timer in a visible state (`_step`).
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[*FINAL_ERROR_TYPES, NOT_YET],
)

# How often a step told "not yet" (the previous period is not closed) asks again: an hour of
# program time, but never more often than every few real seconds on a compressed clock.
NOT_YET_PROGRAM_INTERVAL = timedelta(hours=1)
NOT_YET_MIN_REAL_INTERVAL = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Timeouts:
    start_to_close: timedelta
    heartbeat: timedelta


# Every step heartbeats from a ticker while it makes progress (`activities.periods.Pulse`):
# a shard finishing, a case handled. So the heartbeat timeout only says how soon a dead
# worker's step is taken over by another (a minute, not the 6 hours of the old
# start-to-close timeout); how long a step may go without progress before it is retried is
# the activities' stall limit, sized there from measured shard times (10 minutes, over 400x
# a measured shard). The start-to-close timeouts only bound a step that hangs for good.
SHARD_STEP = Timeouts(start_to_close=timedelta(hours=6), heartbeat=timedelta(minutes=1))
LIST_STEP = Timeouts(start_to_close=timedelta(hours=1), heartbeat=timedelta(minutes=1))
REPORT_STEP = Timeouts(start_to_close=timedelta(hours=2), heartbeat=timedelta(minutes=1))
QUICK_STEP = Timeouts(start_to_close=timedelta(minutes=5), heartbeat=timedelta(minutes=1))

_TIMEOUTS = {
    msg.LOCK: SHARD_STEP,
    msg.DEBIT: SHARD_STEP,
    msg.RETRY: SHARD_STEP,
    msg.GATHER: LIST_STEP,
    msg.PUBLISH: LIST_STEP,
    msg.CLOSE_WINDOW: LIST_STEP,
    msg.FIX_SHARE: LIST_STEP,
    msg.FINAL_REPORT: REPORT_STEP,
    msg.RECORDED: QUICK_STEP,
}

# workflow.patched id: runs started before this change had no SQL guard at the start.
_SQL_GUARD = "period-sql-guard"


@workflow.defn(name=msg.WORKFLOW_NAME)
class PeriodWorkflow:
    def __init__(self) -> None:
        self._state = "Waiting"
        self._period = ""
        self._members: int | None = None
        self._cases: tuple[str, ...] = ()
        self._cleared: tuple[str, ...] = ()
        self._objected: tuple[str, ...] = ()
        self._share: int | None = None
        self._next: datetime | None = None
        self._clock = ProgramClock()
        self._waiting_for: str | None = None
        self._stopped_step: str | None = None
        self._problem: str | None = None
        self._resumed_by: str | None = None

    @workflow.run
    async def run(self, request: msg.PeriodInput) -> msg.PeriodReport:
        origin = request.clock_origin or workflow.now()
        self._clock = ProgramClock(
            seconds_per_day=Fraction(request.seconds_per_day),
            origin_real=origin,
            origin_program=request.program_origin or origin,
        )
        publicity = request.publicity_date
        sharing = sharing_day_for(publicity)
        self._period = msg.workflow_id(request.plan_id, publicity)
        workflow.upsert_search_attributes(
            [PLAN_ID.value_set(request.plan_id), PERIOD_ID.value_set(self._period)]
        )

        if workflow.patched(_SQL_GUARD):
            # A period runs once per plan and day, whoever starts it and whenever: one whose
            # final report is in SQL (its Temporal history lost, say) is not run again.
            recorded = await self._step(
                msg.RECORDED,
                msg.RecordedRequest(plan_id=request.plan_id, publicity_date=publicity),
                msg.Recorded,
            )
            if recorded.report is not None:
                workflow.logger.warning(
                    "%s already ran to its final report: not run again", self._period
                )
                self._members = recorded.report.members
                self._share = recorded.report.share_fen
                self._set_state("Closed")
                return recorded.report

        await self._until(roster_cutoff(publicity), "WaitingForPublicityDay")
        self._set_state("Locking")
        locked = await self._step(
            msg.LOCK,
            # The moment is taken at each try (a lock that waited acts when it goes through).
            lambda: msg.LockRequest(
                plan_id=request.plan_id, publicity_date=publicity, now=self._now()
            ),
            msg.Locked,
        )
        self._members = locked.members

        self._set_state("Publicising")
        gathered = await self._step(
            msg.GATHER,
            msg.GatherRequest(
                plan_id=request.plan_id, period_id=locked.period_id, cutoff=roster_cutoff(publicity)
            ),
            msg.Gathered,
        )
        cases = gathered.cases
        self._cases = tuple(c.claim_id for c in cases)
        await self._step(
            msg.PUBLISH,
            msg.PublishRequest(
                plan_id=request.plan_id,
                period_id=locked.period_id,
                publicity_date=publicity,
                cases=cases,
            ),
            msg.Published,
        )
        window_end = objection_window_end(publicity, locked.objection_window_days)
        notice = claim_msg.Publicised(
            period_id=locked.period_id, publicity_date=publicity, objection_window_end=window_end
        )
        unreachable = await self._tell(self._cases, claim_msg.PUBLICISED, notice)

        await self._until(window_end, "ObjectionWindow")
        closed = await self._step(
            msg.CLOSE_WINDOW,
            msg.CloseWindowRequest(
                period_id=locked.period_id,
                claim_ids=tuple(c for c in self._cases if c not in unreachable),
            ),
            msg.WindowClosed,
        )
        self._cleared, self._objected = closed.cleared, closed.objected
        await self._tell(
            self._cleared, claim_msg.CLEARED, claim_msg.Cleared(period_id=locked.period_id)
        )
        benefits = {c.claim_id: c.benefit_fen for c in cases}
        share = await self._step(
            msg.FIX_SHARE,
            msg.ShareRequest(
                plan_id=request.plan_id,
                publicity_date=publicity,
                benefits_fen=tuple(benefits[c] for c in self._cleared),
            ),
            msg.ShareFixed,
        )
        self._share = share.share_fen

        for attempt in range(locked.retry_days + 1):
            due = start_of_day(sharing + timedelta(days=attempt))
            await self._until(due, "Debiting" if attempt == 0 else f"Retry{attempt}")
            self._set_state("Debiting" if attempt == 0 else f"Retrying{attempt}")
            await self._step(
                msg.DEBIT if attempt == 0 else msg.RETRY,
                lambda attempt=attempt: msg.DebitRequest(
                    plan_id=request.plan_id,
                    sharing_date=sharing,
                    attempt=attempt,
                    aid_fen=share.aid_fen,
                    now=self._now(),
                ),
                msg.Debited,
            )

        self._set_state("PayingOut")
        for claim_id, amount in zip(self._cleared, share.payouts_fen, strict=True):
            await self._tell(
                (claim_id,),
                claim_msg.FUNDED,
                claim_msg.Funded(period_id=locked.period_id, amount_fen=amount),
            )
        await self._until(
            start_of_day(sharing + timedelta(days=locked.payout_deadline_days)), "PayingOut"
        )
        report = await self._step(
            msg.FINAL_REPORT,
            msg.ReportRequest(
                plan_id=request.plan_id,
                period_id=locked.period_id,
                publicity_date=publicity,
                funded_claims=self._cleared,
            ),
            msg.PeriodReport,
        )
        self._set_state("Closed")
        return report

    @workflow.query(name=msg.STATUS)
    def status(self) -> msg.PeriodStatus:
        return msg.PeriodStatus(
            period=self._period,
            state=self._state,
            members=self._members,
            cases=self._cases,
            cleared=self._cleared,
            objected=self._objected,
            share_fen=self._share,
            next_step_at=self._next,
            waiting_for=self._waiting_for,
            stopped_step=self._stopped_step,
            problem=self._problem,
        )

    @workflow.update(name=msg.RESUME)
    def resume(self, request: msg.Resume) -> str:
        """After a data-integrity stop, once an operator has repaired the store: try the
        stopped step again (it stops again, loudly, if the damage is still there)."""
        self._resumed_by = request.operator
        return f"{self._period}: {self._stopped_step} will be tried again"

    @resume.validator
    def _validate_resume(self, request: msg.Resume) -> None:
        if self._state != msg.INTEGRITY_STOP:
            raise ApplicationError(
                f"{self._period} is {self._state}, not stopped for data integrity: "
                "nothing to resume",
                type="RefusedError",
            )
        if not request.operator.strip():
            raise ApplicationError("operator='': must name who resumes", type="InputError")

    # -- helpers -----------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.program_now(workflow.now())

    async def _until(self, program_moment: datetime, state: str) -> None:
        """Sleep on a durable timer until the program clock reaches the moment."""
        self._next = program_moment
        wait = self._clock.real_at(program_moment) - workflow.now()
        if wait > timedelta(0):
            self._set_state(state)
            await workflow.sleep(wait)
        self._next = None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            workflow.upsert_search_attributes([PERIOD_STATE.value_set(state)])

    async def _step(self, name: str, request: Any, result: type[T]) -> T:
        """Run one step to its end. "Not yet" waits on a durable timer in a visible state and
        asks again; damaged data stops the period, loudly, until an operator resumes it;
        the program's other final errors fail the period; anything else Temporal retries.
        `request` may be a callable that builds the request at each try."""
        timeouts = _TIMEOUTS[name]
        entered = self._state
        while True:
            try:
                outcome: T = await workflow.execute_activity(
                    name,
                    request() if callable(request) else request,
                    result_type=result,
                    start_to_close_timeout=timeouts.start_to_close,
                    heartbeat_timeout=timeouts.heartbeat,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError):
                    raise
                if cause.type == NOT_YET:
                    await self._not_yet(name, cause)
                    continue
                if cause.type in INTEGRITY_TYPES:
                    await self._integrity_stop(name, cause)
                    continue
                raise
            self._waiting_for = self._stopped_step = self._problem = None
            self._set_state(entered)  # after a wait, the step's own state again
            return outcome

    async def _not_yet(self, name: str, cause: ApplicationError) -> None:
        waiting_for = str(cause.details[0]) if cause.details else ""
        previous = (
            waiting_for.startswith("period-")
            and " " not in waiting_for
            and waiting_for != self._period
        )
        if (self._stopped_step, self._waiting_for) != (name, waiting_for or None):
            workflow.logger.warning(
                "%s: %s waits for %s: %s", self._period, name, waiting_for or "later", cause
            )
        self._waiting_for = waiting_for or None
        self._stopped_step, self._problem = name, cause.message
        # The state stays while the step asks again, until it goes through (`_step`).
        self._set_state(msg.WAITING_FOR_PREVIOUS if previous else msg.NOT_YET)
        interval = max(
            self._clock.real_at(self._now() + NOT_YET_PROGRAM_INTERVAL) - workflow.now(),
            NOT_YET_MIN_REAL_INTERVAL,
        )
        self._next = self._now() + NOT_YET_PROGRAM_INTERVAL
        await workflow.sleep(interval)
        self._next = None

    async def _integrity_stop(self, name: str, cause: ApplicationError) -> None:
        """Stop loudly: a state an operator can query for, an error in the worker's log, and
        no retry until an operator says the store is repaired."""
        before = self._state
        self._stopped_step, self._problem = name, f"{cause.type}: {cause.message}"
        self._resumed_by = None
        self._set_state(msg.INTEGRITY_STOP)
        workflow.logger.error(
            "PAGE OPERATOR: %s stopped at %s for data integrity: %s: %s; repair it, then "
            "`mutualaid periods resume %s`",
            self._period,
            name,
            cause.type,
            cause.message,
            self._period,
        )
        await workflow.wait_condition(lambda: self._resumed_by is not None)
        workflow.logger.warning(
            "%s: %s resumed by %s after a data-integrity stop", self._period, name, self._resumed_by
        )
        self._set_state(before)

    async def _tell(self, claim_ids: tuple[str, ...], signal: str, payload: Any) -> set[str]:
        """Signal each claim workflow; a claim that cannot be reached is reported, not fatal."""
        unreachable: set[str] = set()
        for claim_id in claim_ids:
            handle = workflow.get_external_workflow_handle(claim_msg.workflow_id(claim_id))
            try:
                await handle.signal(signal, payload)
            except ApplicationError:
                unreachable.add(claim_id)
            except Exception as exc:  # a closed or missing claim workflow
                workflow.logger.warning("claim %s not told %s: %s", claim_id, signal, exc)
                unreachable.add(claim_id)
        return unreachable


@workflow.defn(name=msg.TRIGGER_NAME)
class PeriodTriggerWorkflow:
    """Started by the plan's Schedule at 00:00 on the 7th and 21st: starts the period under its
    canonical id. A second firing for the same day finds it started and does nothing."""

    @workflow.run
    async def run(self, request: msg.TriggerInput) -> str:
        scheduled = workflow.info().typed_search_attributes.get(_SCHEDULED_START) or workflow.now()
        # The scheduled moment (not now: a caught-up run starts late) names the publicity day.
        day = program_date(scheduled)
        publicity = day if is_publicity_day(day) else next_publicity_day(scheduled)
        try:
            await workflow.start_child_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(plan_id=request.plan_id, publicity_date=publicity),
                id=msg.workflow_id(request.plan_id, publicity),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return f"{msg.workflow_id(request.plan_id, publicity)} already started"
        return f"{msg.workflow_id(request.plan_id, publicity)} started"
