"""The claim as its workflow holds it: state, timeline and deadlines, and how every change
is written down: appended to the SQL history (once per step, whatever the retries) and shown
to operators as search attributes.

`ClaimWorkflow` (workflows/claim.py) builds on this record with the main loop, the human steps
and the period's signals; this module holds no Temporal handler.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from mutualaid.calendar import program_date
    from mutualaid.claim import (
        STAFF_ROLES,
        TERMINAL,
        Action,
        ActionRefusal,
        Actor,
        ClaimState,
        Deadline,
        Document,
        EventKind,
        Findings,
        Publicity,
        Refused,
        advance,
        deadline_for,
        may,
        missing_documents,
    )
    from mutualaid.clock import ProgramClock
    from mutualaid.errors import InvariantError
    from mutualaid.membership import ExitReason
    from workflows import claim_messages as msg
    from workflows.search_attributes import (
        BENEFIT_FEN,
        CLAIM_STATE,
        MEMBER_ID,
        NEXT_DEADLINE,
        OVERDUE,
        PERIOD_ID,
        PLAN_ID,
    )

T = TypeVar("T")

# SQL writes: retried until the database answers (a write is idempotent by its key).
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=60)


class ClaimRecord:
    """The claim's state in the workflow and the one way it changes: `_move` (a transition
    from the core's table) or `_note` (an event that keeps the state), each recorded."""

    def __init__(self, claim: msg.ClaimInput) -> None:
        self._claim = claim
        origin = claim.clock_origin or workflow.now()
        self._clock = ProgramClock(
            seconds_per_day=Fraction(claim.seconds_per_day),
            origin_real=origin,
            origin_program=claim.program_origin or origin,
        )
        self._lock = asyncio.Lock()
        self._state = ClaimState.REPORTED
        self._intake: msg.IntakeOutcome | None = None
        self._taken_in = False  # intake decided, recorded and acted on
        self._documents: list[Document] = list(claim.documents)
        self._findings: Findings | None = None
        self._entered = self._program_now()
        self._epoch = 0  # counts state entries: a fired timer belongs to one of them
        self._timer_fired_epoch = -1
        self._overdue = False
        self._publicity: Publicity | None = None
        self._pending_publicity: Publicity | None = None
        self._objected_periods: list[int] = []
        self._cleared_periods: list[int] = []
        self._funded_periods: list[int] = []
        self._funded_amounts: dict[int, int] = {}
        self._investigation_round = 0
        self._commissioned_round = 0
        self._investigation_reference: str | None = None
        self._jury_round = 0
        self._votes_counted = 0
        self._payout: msg.PayoutReceipt | None = None
        self._reasons: list[str] = []
        self._seq = 0
        self._timeline: list[msg.TimelineEntry] = []
        self._search_attributes: dict[str, object] = {}
        # Bumped on every change the main loop may have to act on (a move, a period's signal),
        # and only then: each wake-up re-arms the deadline timer in history.
        self._version = 0

    # ---- moving the claim and writing it down ------------------------------------------

    async def _move(
        self,
        kind: EventKind,
        actor: str,
        *,
        detail: dict[str, Any] | None = None,
        note: str = "",
        benefit_fen: int | None = None,
        set_period: bool = False,
        period_id: int | None = None,
    ) -> None:
        target = advance(self._state, kind)
        if isinstance(target, Refused):
            # The handlers check before they move; reaching this is a bug, never retried away.
            raise InvariantError(f"claim {self._claim.claim_id}: {target.detail}")
        self._state = target
        self._entered = self._program_now()
        self._epoch += 1
        self._overdue = False
        self._version += 1  # the main loop re-reads the deadline and its automatic steps
        await self._note(
            kind,
            actor,
            detail=detail,
            note=note,
            benefit_fen=benefit_fen,
            set_period=set_period,
            period_id=period_id,
        )

    async def _note(
        self,
        kind: EventKind,
        actor: str,
        *,
        detail: dict[str, Any] | None = None,
        note: str = "",
        benefit_fen: int | None = None,
        set_period: bool = False,
        period_id: int | None = None,
    ) -> None:
        """Append an event to the timeline and the SQL history, and refresh what operators
        see. The SQL write is keyed by the step number, so a retry writes once."""
        self._seq += 1
        at = self._program_now()
        self._timeline.append(
            msg.TimelineEntry(
                seq=self._seq, at=at, kind=kind.value, state=self._state, actor=actor, note=note
            )
        )
        self._upsert_search_attributes()
        intake = self._intake
        if intake is None or not intake.recorded:
            return
        await self._activity(
            msg.RECORD_EVENT,
            msg.EventRecord(
                claim_id=self._claim.claim_id,
                event_key=f"{self._seq:04d}-{kind.value}",
                kind=kind.value,
                state=self._state,
                actor=actor,
                at=at,
                detail=detail or {},
                benefit_fen=benefit_fen,
                set_period=set_period,
                period_id=period_id,
            ),
            type(None),
        )

    def _upsert_search_attributes(self) -> None:
        """Keep the operators' view current; upsert only what changed."""
        deadline = self._deadline()
        publicity = self._publicity
        period = (
            msg.period_key(self._claim.plan_id, publicity.publicity_date) if publicity else None
        )
        wanted: list[tuple[SearchAttributeKey[Any], object]] = [
            (CLAIM_STATE, self._state.value),
            (PLAN_ID, self._claim.plan_id),
            (MEMBER_ID, str(self._claim.member_id)),
            (BENEFIT_FEN, self._benefit()),
            (PERIOD_ID, period),
            (OVERDUE, self._overdue),
            (NEXT_DEADLINE, self._due_real(deadline) if deadline else None),
        ]
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in wanted:
            if key.name in self._search_attributes and self._search_attributes[key.name] == value:
                continue
            self._search_attributes[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)

    # ---- small helpers ----------------------------------------------------------------

    async def _activity(self, name: str, request: object, result_type: type[T]) -> T:
        result: T = await workflow.execute_activity(
            name,
            request,
            result_type=result_type,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DATABASE_RETRY,
        )
        return result

    def _program_now(self) -> datetime:
        return self._clock.program_now(workflow.now())

    def _require_intake(self) -> msg.IntakeOutcome:
        if self._intake is None:
            raise InvariantError("the claim has not been taken in")
        return self._intake

    def _benefit(self) -> int | None:
        intake = self._intake
        return intake.benefit_fen if intake is not None and intake.eligible else None

    def _may(self, action: Action, actor: Actor) -> Refused | None:
        if self._intake is None or not self._taken_in:
            return Refused(
                code=ActionRefusal.WRONG_STATE, detail="the claim is still being checked"
            )
        return may(action, state=self._state, actor=actor, claimant=self._intake.claimant)

    async def _vouch_for(self, actor: Actor) -> None:
        """Refuse a staff step by a login the actors registry does not hold in that role.

        The validator has already checked the role against the step, but it cannot read SQL
        (validators are deterministic and do no I/O), and a client other than the command
        line can send any name. So the handler asks, under the lock and before anything
        moves: a refusal leaves the state, the timeline and the SQL history as they were.
        Claims started before this check replay without it (`workflow.patched`)."""
        if actor.role not in STAFF_ROLES or not workflow.patched(msg.ACTOR_CHECK_PATCH):
            return
        try:
            # A local activity: one short read, recorded as one marker in the history
            # rather than a scheduled, started and completed activity per staff step.
            await workflow.execute_local_activity(
                msg.CHECK_ACTOR,
                msg.ActorCheck(name=actor.name, role=actor.role),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DATABASE_RETRY,
            )
        except ActivityError as err:
            reason = cause_of(err)
        except ApplicationError as err:
            # A local activity's final failure can surface unwrapped.
            reason = err.message
        else:
            return
        raise ApplicationError(reason, type=ActionRefusal.UNKNOWN_ACTOR.value, non_retryable=True)

    def _deadline(self) -> Deadline | None:
        if self._intake is None or self._state in TERMINAL:
            return None
        return deadline_for(
            self._state, terms=self._intake.terms, entered=self._entered, publicity=self._publicity
        )

    def _due_real(self, deadline: Deadline) -> datetime:
        # Whole milliseconds, rounded up: a timer set for the remainder then fires at or after
        # the deadline on every server, never a hair before it.
        due = self._clock.real_at(deadline.due)
        spare = due.microsecond % 1000
        return due + timedelta(microseconds=1000 - spare) if spare else due

    def _reached(self, deadline: Deadline) -> bool:
        return self._timer_fired_epoch == self._epoch or workflow.now() >= self._due_real(deadline)

    def _deadline_view(self) -> msg.DeadlineView | None:
        deadline = self._deadline()
        if deadline is None:
            return None
        return msg.DeadlineView(
            kind=deadline.kind,
            due=deadline.due,
            due_real=self._due_real(deadline),
            overdue=self._overdue,
        )

    def _period_actor(self) -> str:
        period = self._publicity or self._pending_publicity
        return f"period:{period.period_id}" if period else "period"

    def _result(self) -> msg.StepResult:
        return msg.StepResult(state=self._state, event_seq=self._seq)

    async def _queue_exit(self, reason: ExitReason, key: str) -> None:
        claim = self._claim
        await self._activity(
            msg.QUEUE_EXIT,
            msg.MemberExit(
                plan_id=claim.plan_id,
                member_id=claim.member_id,
                effective_on=program_date(self._program_now()),
                reason=reason,
                change_key=f"{key}-{claim.claim_id}",
                at=self._program_now(),
            ),
            bool,
        )

    def _status_view(self) -> msg.ClaimStatus:
        intake = self._intake
        claim = self._claim
        return msg.ClaimStatus(
            claim_id=claim.claim_id,
            plan_id=claim.plan_id,
            member_id=claim.member_id,
            state=self._state,
            rules_version=intake.terms.rules_version if intake else None,
            eligible=intake.eligible if intake and self._taken_in else None,
            reasons=tuple(self._reasons),
            age_at_diagnosis=intake.age_at_diagnosis if intake else None,
            benefit_fen=self._benefit(),
            missing_documents=missing_documents(d.kind for d in self._documents),
            overdue=self._overdue,
            next_deadline=self._deadline_view(),
            period_id=self._publicity.period_id if self._publicity else None,
            publicity_date=self._publicity.publicity_date if self._publicity else None,
            jury_round=self._jury_round,
            jury_votes_counted=self._votes_counted,
            investigation_reference=self._investigation_reference,
            payout_reference=self._payout.reference if self._payout else None,
            program_now=self._program_now(),
        )


def reject(refusal: Refused | None) -> None:
    """A refusal as the update's failure: the caller reads the reason; nothing changed."""
    if refusal is not None:
        raise ApplicationError(refusal.detail, type=refusal.code.value, non_retryable=True)


def cause_of(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or err)
