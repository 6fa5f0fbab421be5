"""When a claim's current state runs out: each state's deadline, and the objection window.

Every deadline is a program moment at 00:00 Asia/Shanghai, counted from the moment the claim
entered its state under the terms pinned at intake (`mutualaid.claim_terms`); the payout
deadline comes from the period's sharing day, as the period's final report counts it
(`mutualaid.calendar.payout_due`). What happens when a deadline passes is the workflow's
main loop: a missed SLA only marks the claim overdue, the others move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from mutualaid.calendar import payout_due, program_date, sharing_day_for, start_of_day
from mutualaid.claim import ClaimState
from mutualaid.claim_refusals import ActionRefusal, Refused
from mutualaid.claim_terms import ClaimTerms


class DeadlineKind(StrEnum):
    MATERIALS = "materials"  # missed: the claim is closed
    REVIEW = "review"  # missed: overdue, still waiting
    INVESTIGATION = "investigation"  # missed: overdue, still waiting
    DECISION = "decision"  # missed: overdue, still waiting
    APPEAL = "appeal"  # missed: the denial is final
    JURY_VOTE = "jury_vote"  # reached: the votes are counted
    OBJECTION_WINDOW = "objection_window"  # reached: a cleared claim waits for funds
    PAYOUT = "payout"  # missed: overdue, still paying


# Deadlines whose passing only marks the claim overdue (visible to operators).
SLA_KINDS = frozenset(
    {DeadlineKind.REVIEW, DeadlineKind.INVESTIGATION, DeadlineKind.DECISION, DeadlineKind.PAYOUT}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadline:
    kind: DeadlineKind
    due: datetime  # a program moment, 00:00 Asia/Shanghai


@dataclass(frozen=True, slots=True, kw_only=True)
class Publicity:
    """Where and when a period published the claim."""

    period_id: int
    publicity_date: date
    objection_window_end: datetime  # program moment; objections allowed before it


def days_after(entered: datetime, days: int) -> datetime:
    """The cut-off `days` program days after a moment: 00:00 after the last of those days,
    counting from the next day (as the waiting period counts).

    >>> days_after(start_of_day(date(2026, 11, 28)).replace(hour=15), 30).isoformat()
    '2026-12-29T00:00:00+08:00'
    """
    return start_of_day(program_date(entered) + timedelta(days=days + 1))


def deadline_for(
    state: ClaimState, *, terms: ClaimTerms, entered: datetime, publicity: Publicity | None
) -> Deadline | None:
    """The deadline that governs a state entered at a program moment, if any."""
    days = {
        ClaimState.REPORTED: (DeadlineKind.MATERIALS, terms.materials_deadline_days),
        ClaimState.IN_REVIEW: (DeadlineKind.REVIEW, terms.review_sla_days),
        ClaimState.INVESTIGATING: (DeadlineKind.INVESTIGATION, terms.investigation_sla_days),
        ClaimState.REINVESTIGATING: (DeadlineKind.INVESTIGATION, terms.investigation_sla_days),
        ClaimState.AWAITING_DECISION: (DeadlineKind.DECISION, terms.review_sla_days),
        ClaimState.DENIED: (DeadlineKind.APPEAL, terms.appeal_deadline_days),
        ClaimState.JURY_VOTING: (DeadlineKind.JURY_VOTE, terms.jury_voting_days),
    }
    if state in days:
        kind, count = days[state]
        return Deadline(kind=kind, due=days_after(entered, count))
    if state is ClaimState.PUBLICISED and publicity is not None:
        return Deadline(kind=DeadlineKind.OBJECTION_WINDOW, due=publicity.objection_window_end)
    if state is ClaimState.AWAITING_FUNDS and publicity is not None:
        # Paid within payout_deadline_days of the period's sharing day.
        sharing = sharing_day_for(publicity.publicity_date)
        return Deadline(
            kind=DeadlineKind.PAYOUT, due=payout_due(sharing, terms.payout_deadline_days)
        )
    return None


def objection_refusal(publicity: Publicity | None, *, now: datetime) -> Refused | None:
    """Objections are heard from 00:00 on the publicity day until the window ends."""
    if publicity is None:
        return Refused(code=ActionRefusal.WRONG_STATE, detail="the claim is not publicised")
    opens = start_of_day(publicity.publicity_date)
    if not opens <= now < publicity.objection_window_end:
        return Refused(
            code=ActionRefusal.OUTSIDE_PUBLICITY_WINDOW,
            detail=f"objections are heard from {opens.isoformat()} until "
            f"{publicity.objection_window_end.isoformat()}",
        )
    return None


def objection_window_end(publicity_date: date, window_days: int) -> datetime:
    """00:00 after the window's last day; the publicity day is its first day.

    >>> objection_window_end(date(2026, 12, 7), 3).isoformat()
    '2026-12-10T00:00:00+08:00'
    """
    return start_of_day(publicity_date + timedelta(days=window_days))
