"""The claim as its workflow holds it: state, timeline and deadlines, and how every change
is written down: appended to the SQL history (once per step, whatever the retries) and shown
to operators as search attributes.

`ClaimWorkflow` (workflows/claim.py) holds one record and hands it to the main loop
(workflows/claim_loop.py), the human steps (workflows/claim_steps.py) and the side roads
(workflows/claim_side_roads.py). They read it freely but change the state only through
`move` (a transition from the core's table) or `note` (an event that keeps the state), each
written down. This module holds no Temporal handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import messages.claims as msg
    from activities.claims import ClaimActivities
    from mutualaid.calendar import program_date
    from mutualaid.claim import TERMINAL, ClaimState, EventKind, advance
    from mutualaid.claim_deadlines import Deadline, Publicity, deadline_for
    from mutualaid.claim_materials import Document, missing_documents
    from mutualaid.claim_refusals import ActionRefusal, Refused
    from mutualaid.claim_review import Findings
    from mutualaid.claim_roles import Action, Actor, may
    from mutualaid.clock import ProgramClock
    from mutualaid.errors import InvariantError
    from mutualaid.membership import ExitReason
    from workflows.search_attributes import (
        BENEFIT_FEN,
        CLAIM_STATE,
        MEMBER_ID,
        NEXT_DEADLINE,
        OVERDUE,
        PERIOD_ID,
        PLAN_ID,
    )

Request = TypeVar("Request")
Result = TypeVar("Result")

# SQL writes: retried until the database answers (a write is idempotent by its key).
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=60)

# The actors the timeline names for the steps no person takes.
SYSTEM = "system"
CLOCK = "clock"
JURY = "jury"


async def call_database(
    activity: Callable[[ClaimActivities, Request], Result], request: Request
) -> Result:
    """Run one of the claim's SQL activities, by reference (mypy checks the request and the
    result), retried until the database answers."""
    return await workflow.execute_activity_method(
        activity, request, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=DATABASE_RETRY
    )


class ClaimRecord:
    """The claim's state in the workflow and the one way it changes: `move` (a transition
    from the core's table) or `note` (an event that keeps the state), each recorded.

    The other fields are the claim's memory between steps, read and set by the loop, the
    handlers and the side roads (all under `lock` when they move the claim)."""

    def __init__(self, claim: msg.ClaimInput) -> None:
        self.claim = claim
        origin = claim.clock_origin or workflow.now()
        self._clock = ProgramClock(
            seconds_per_day=Fraction(claim.seconds_per_day),
            origin_real=origin,
            origin_program=claim.program_origin or origin,
        )
        self.lock = asyncio.Lock()
        self._state = ClaimState.REPORTED
        self.intake: msg.IntakeOutcome | None = None
        self.taken_in = False  # intake decided, recorded and acted on
        self.documents: list[Document] = list(claim.documents)
        self.findings: Findings | None = None
        self._entered = self.program_now()
        self._epoch = 0  # counts state entries: a fired timer belongs to one of them
        self._timer_fired_epoch = -1
        self.overdue = False
        self.publicity: Publicity | None = None
        self.pending_publicity: Publicity | None = None
        self.objected_periods: list[int] = []
        self.cleared_periods: list[int] = []
        self.funded_periods: list[int] = []
        self.funded_amounts: dict[int, int] = {}
        self.investigation_round = 0
        self.commissioned_round = 0
        self.investigation_reference: str | None = None
        self.jury_round = 0
        self.votes_counted = 0
        self.payout: msg.PayoutReceipt | None = None
        self.reasons: list[str] = []
        self._seq = 0
        self.timeline: list[msg.TimelineEntry] = []
        self._search_attributes: dict[str, object] = {}
        # Bumped on every change the main loop may have to act on (a move, a period's signal),
        # and only then: each wake-up re-arms the deadline timer in history.
        self.version = 0

    @property
    def state(self) -> ClaimState:
        return self._state

    # ---- moving the claim and writing it down ------------------------------------------

    async def move(
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
            raise InvariantError(f"claim {self.claim.claim_id}: {target.detail}")
        self._state = target
        self._entered = self.program_now()
        self._epoch += 1
        self.overdue = False
        self.changed()  # the main loop re-reads the deadline and its automatic steps
        await self.note(
            kind,
            actor,
            detail=detail,
            note=note,
            benefit_fen=benefit_fen,
            set_period=set_period,
            period_id=period_id,
        )

    async def note(
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
        at = self.program_now()
        self.timeline.append(
            msg.TimelineEntry(
                seq=self._seq, at=at, kind=kind.value, state=self._state, actor=actor, note=note
            )
        )
        self._upsert_search_attributes()
        intake = self.intake
        if intake is None or not intake.recorded:
            return
        await call_database(
            ClaimActivities.record_event,
            msg.EventRecord(
                claim_id=self.claim.claim_id,
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
        )

    def changed(self) -> None:
        """Wake the main loop: something it may have to act on has changed."""
        self.version += 1

    def _upsert_search_attributes(self) -> None:
        """Keep the operators' view current; upsert only what changed."""
        deadline = self.deadline()
        publicity = self.publicity
        period = msg.period_key(self.claim.plan_id, publicity.publicity_date) if publicity else None
        wanted: list[tuple[SearchAttributeKey[Any], object]] = [
            (CLAIM_STATE, self._state.value),
            (PLAN_ID, self.claim.plan_id),
            (MEMBER_ID, str(self.claim.member_id)),
            (BENEFIT_FEN, self.benefit()),
            (PERIOD_ID, period),
            (OVERDUE, self.overdue),
            (NEXT_DEADLINE, self.due_real(deadline) if deadline else None),
        ]
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in wanted:
            if key.name in self._search_attributes and self._search_attributes[key.name] == value:
                continue
            self._search_attributes[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)

    async def queue_exit(self, reason: ExitReason, key: str) -> None:
        """Queue the member's exit from the plan (once per key and claim)."""
        claim = self.claim
        await call_database(
            ClaimActivities.queue_exit,
            msg.MemberExit(
                plan_id=claim.plan_id,
                member_id=claim.member_id,
                effective_on=program_date(self.program_now()),
                reason=reason,
                change_key=f"{key}-{claim.claim_id}",
                at=self.program_now(),
            ),
        )

    # ---- reading the claim ------------------------------------------------------------

    def program_now(self) -> datetime:
        return self._clock.program_now(workflow.now())

    def require_intake(self) -> msg.IntakeOutcome:
        if self.intake is None:
            raise InvariantError("the claim has not been taken in")
        return self.intake

    def benefit(self) -> int | None:
        intake = self.intake
        return intake.benefit_fen if intake is not None and intake.eligible else None

    def may(self, action: Action, actor: Actor) -> Refused | None:
        if self.intake is None or not self.taken_in:
            return Refused(
                code=ActionRefusal.WRONG_STATE, detail="the claim is still being checked"
            )
        return may(action, state=self._state, actor=actor, claimant=self.intake.claimant)

    def deadline(self) -> Deadline | None:
        if self.intake is None or self._state in TERMINAL:
            return None
        return deadline_for(
            self._state, terms=self.intake.terms, entered=self._entered, publicity=self.publicity
        )

    def due_real(self, deadline: Deadline) -> datetime:
        # Whole milliseconds, rounded up: a timer set for the remainder then fires at or after
        # the deadline on every server, never a hair before it.
        due = self._clock.real_at(deadline.due)
        spare = due.microsecond % 1000
        return due + timedelta(microseconds=1000 - spare) if spare else due

    def reached(self, deadline: Deadline) -> bool:
        return self._timer_fired_epoch == self._epoch or workflow.now() >= self.due_real(deadline)

    def timer_fired(self) -> None:
        """The deadline timer of the current state entry has fired."""
        self._timer_fired_epoch = self._epoch

    def period_actor(self) -> str:
        period = self.publicity or self.pending_publicity
        return f"period:{period.period_id}" if period else "period"

    def result(self) -> msg.StepResult:
        return msg.StepResult(state=self._state, event_seq=self._seq)

    def outcome(self) -> msg.ClaimOutcome:
        return msg.ClaimOutcome(
            claim_id=self.claim.claim_id,
            state=self._state,
            benefit_fen=self.benefit(),
            paid_fen=self.payout.amount_fen if self.payout else 0,
            payout_reference=self.payout.reference if self.payout else None,
            reasons=tuple(self.reasons),
        )

    def deadline_view(self) -> msg.DeadlineView | None:
        deadline = self.deadline()
        if deadline is None:
            return None
        return msg.DeadlineView(
            kind=deadline.kind,
            due=deadline.due,
            due_real=self.due_real(deadline),
            overdue=self.overdue,
        )

    def status_view(self) -> msg.ClaimStatus:
        intake = self.intake
        claim = self.claim
        return msg.ClaimStatus(
            claim_id=claim.claim_id,
            plan_id=claim.plan_id,
            member_id=claim.member_id,
            state=self._state,
            rules_version=intake.terms.rules_version if intake else None,
            eligible=intake.eligible if intake and self.taken_in else None,
            reasons=tuple(self.reasons),
            age_at_diagnosis=intake.age_at_diagnosis if intake else None,
            benefit_fen=self.benefit(),
            missing_documents=missing_documents(d.kind for d in self.documents),
            overdue=self.overdue,
            next_deadline=self.deadline_view(),
            period_id=self.publicity.period_id if self.publicity else None,
            publicity_date=self.publicity.publicity_date if self.publicity else None,
            jury_round=self.jury_round,
            jury_votes_counted=self.votes_counted,
            investigation_reference=self.investigation_reference,
            payout_reference=self.payout.reference if self.payout else None,
            program_now=self.program_now(),
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
