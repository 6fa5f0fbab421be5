"""How a period shows where it is and runs its steps: the state operators see (the
`PeriodState` search attribute and the status query), durable waits on the program clock, and
each activity run to its end, with "not yet" waited out and damaged data stopped loudly.

`PeriodWorkflow` (workflows/period.py) holds one `PeriodSteps` and says what to run; this
module holds no Temporal handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.failures import FINAL_ERROR_TYPES, INTEGRITY_TYPES, NOT_YET
    from messages.periods import PeriodState
    from mutualaid.clock import ProgramClock
    from workflows.search_attributes import PERIOD_STATE

Activities = TypeVar("Activities")
Request = TypeVar("Request")
Result = TypeVar("Result")

# SQL, the member store and Ray: retried until they answer (an outage of minutes is ridden
# out), never silently forever: a failing step shows in the Web UI as a retrying activity.
# The program's own final errors are not retried; "not yet" comes back to the workflow at
# once, which waits for it on a durable timer in a visible state (`PeriodSteps.run`).
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


# Every step heartbeats from a ticker while it makes progress (`activities.heartbeats`): a
# shard finishing, a case handled. So the heartbeat timeout only says how soon a dead
# worker's step is taken over by another (a minute, not the 6 hours of the old
# start-to-close timeout); how long a step may go without progress before it is retried is
# the activities' stall limit, sized there from measured shard times (10 minutes, over 400x
# a measured shard). The start-to-close timeouts only bound a step that hangs for good.
SHARD_STEP = Timeouts(start_to_close=timedelta(hours=6), heartbeat=timedelta(minutes=1))
LIST_STEP = Timeouts(start_to_close=timedelta(hours=1), heartbeat=timedelta(minutes=1))
REPORT_STEP = Timeouts(start_to_close=timedelta(hours=2), heartbeat=timedelta(minutes=1))
QUICK_STEP = Timeouts(start_to_close=timedelta(minutes=5), heartbeat=timedelta(minutes=1))


class PeriodSteps:
    """The period's visible state and its steps. The workflow reads the fields for its
    status query; they change only here."""

    def __init__(self) -> None:
        self.period = ""
        self.clock = ProgramClock()
        self.state: str = PeriodState.WAITING.value
        self.next_step_at: datetime | None = None
        self.waiting_for: str | None = None
        self.stopped_step: str | None = None
        self.problem: str | None = None
        self._resumed_by: str | None = None

    def now(self) -> datetime:
        """The program moment."""
        return self.clock.program_now(workflow.now())

    def set_state(self, state: str) -> None:
        """Show a state (a `PeriodState`, or `debit_state`'s), upserting it only on a change."""
        state = str(state)
        if state != self.state:
            self.state = state
            workflow.upsert_search_attributes([PERIOD_STATE.value_set(state)])

    async def until(self, program_moment: datetime, state: str) -> None:
        """Sleep on a durable timer until the program clock reaches the moment."""
        self.next_step_at = program_moment
        wait = self.clock.real_at(program_moment) - workflow.now()
        if wait > timedelta(0):
            self.set_state(state)
            await workflow.sleep(wait)
        self.next_step_at = None

    @overload
    async def run(
        self,
        activity: Callable[[Activities, Request], Awaitable[Result]],
        request: Request | Callable[[], Request],
        timeouts: Timeouts,
    ) -> Result: ...

    @overload
    async def run(
        self,
        activity: Callable[[Activities, Request], Result],
        request: Request | Callable[[], Request],
        timeouts: Timeouts,
    ) -> Result: ...

    async def run(
        self,
        activity: Callable[[Any, Any], Any],
        request: Any,
        timeouts: Timeouts,
    ) -> Any:
        """Run one step (an activity method, by reference) to its end. "Not yet" waits on a
        durable timer in a visible state and asks again; damaged data stops the period,
        loudly, until an operator resumes it; the program's other final errors fail the
        period; anything else Temporal retries. `request` may be a callable that builds the
        request at each try."""
        entered = self.state
        while True:
            try:
                outcome = await workflow.execute_activity_method(
                    activity,
                    request() if callable(request) else request,
                    start_to_close_timeout=timeouts.start_to_close,
                    heartbeat_timeout=timeouts.heartbeat,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError):
                    raise
                if cause.type == NOT_YET:
                    await self._not_yet(err.activity_type, cause)
                    continue
                if cause.type in INTEGRITY_TYPES:
                    await self._integrity_stop(err.activity_type, cause)
                    continue
                raise
            self.waiting_for = self.stopped_step = self.problem = None
            self.set_state(entered)  # after a wait, the step's own state again
            return outcome

    async def _not_yet(self, name: str, cause: ApplicationError) -> None:
        waiting_for = str(cause.details[0]) if cause.details else ""
        previous = (
            waiting_for.startswith("period-")
            and " " not in waiting_for
            and waiting_for != self.period
        )
        if (self.stopped_step, self.waiting_for) != (name, waiting_for or None):
            workflow.logger.warning(
                "%s: %s waits for %s: %s", self.period, name, waiting_for or "later", cause
            )
        self.waiting_for = waiting_for or None
        self.stopped_step, self.problem = name, cause.message
        # The state stays while the step asks again, until it goes through (`run`).
        self.set_state(
            PeriodState.WAITING_FOR_PREVIOUS_PERIOD if previous else PeriodState.WAITING_TO_RETRY
        )
        interval = max(
            self.clock.real_at(self.now() + NOT_YET_PROGRAM_INTERVAL) - workflow.now(),
            NOT_YET_MIN_REAL_INTERVAL,
        )
        self.next_step_at = self.now() + NOT_YET_PROGRAM_INTERVAL
        await workflow.sleep(interval)
        self.next_step_at = None

    async def _integrity_stop(self, name: str, cause: ApplicationError) -> None:
        """Stop loudly: a state an operator can query for, an error in the worker's log, and
        no retry until an operator says the store is repaired."""
        before = self.state
        self.stopped_step, self.problem = name, f"{cause.type}: {cause.message}"
        self._resumed_by = None
        self.set_state(PeriodState.DATA_INTEGRITY_STOP)
        workflow.logger.error(
            "PAGE OPERATOR: %s stopped at %s for data integrity: %s: %s; repair it, then "
            "`mutualaid periods resume %s`",
            self.period,
            name,
            cause.type,
            cause.message,
            self.period,
        )
        await workflow.wait_condition(lambda: self._resumed_by is not None)
        workflow.logger.warning(
            "%s: %s resumed by %s after a data-integrity stop", self.period, name, self._resumed_by
        )
        self.set_state(before)

    def resume(self, operator: str) -> str:
        """An operator's word that the store is repaired: the stopped step is tried again."""
        self._resumed_by = operator
        return f"{self.period}: {self.stopped_step} will be tried again"

    def check_resume(self, operator: str) -> None:
        """Refuse a resume unless the period is stopped for data integrity, and named."""
        if self.state != PeriodState.DATA_INTEGRITY_STOP:
            raise ApplicationError(
                f"{self.period} is {self.state}, not stopped for data integrity: nothing to resume",
                type="RefusedError",
            )
        if not operator.strip():
            raise ApplicationError("operator='': must name who resumes", type="InputError")
