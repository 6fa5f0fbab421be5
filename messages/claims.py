"""What crosses the claim workflow's edges: its input and result, the payloads of its
updates, signals and queries, and the contracts of the activities it calls.

One frozen dataclass per message, and the registered names. The workflow calls each activity
by reference (`workflow.execute_activity_method(ClaimActivities.intake, ...)`), so mypy checks
the request and result types, while the activities register under the names below: renaming a
Python function never breaks a running claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from messages import periods
from mutualaid.claim import ClaimState
from mutualaid.claim_deadlines import DeadlineKind
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Claimant, Role
from mutualaid.claim_terms import ClaimTerms
from mutualaid.eligibility import Reason
from mutualaid.membership import ExitReason

WORKFLOW_NAME = "Claim"


def workflow_id(claim_id: str) -> str:
    return f"claim-{claim_id}"


def period_key(plan_id: str, publicity_date: date) -> str:
    """A period as operators name it: its workflow's id, `period-<plan>-<publicity date>`.
    Claims carry it as their PeriodId search attribute, the same value the period workflow
    carries, so `PeriodId='period-chronic-2026-12-07'` finds the period and its claims."""
    return periods.workflow_id(plan_id, publicity_date)


# Registered activity names (`@activity.defn(name=...)`): stable, whatever the Python
# functions are called, since the history of every running claim names them.
INTAKE = "claims.intake"
RECORD_EVENT = "claims.record_event"
CHECK_ACTOR = "claims.check_actor"
RECORD_VOTES = "claims.record_votes"
TALLY_JURY = "claims.tally_jury"
RECORD_OBJECTION = "claims.record_objection"
QUEUE_EXIT = "members.queue_exit"
COMMISSION_INVESTIGATION = "investigation.commission"
PAY_OUT = "payment.pay_out"

# Update, signal and query names.
SUBMIT_MATERIALS = "submit_materials"
REVIEW = "review"
RECORD_FINDINGS = "record_findings"
DECIDE = "decide"
APPEAL = "appeal"
VOTE = "vote"
WITHDRAW = "withdraw"
OBJECT = "object"
PUBLICISED = "publicised"
CLEARED = "cleared"
FUNDED = "funded"
STATUS = "status"
TIMELINE = "timeline"
DEADLINES = "deadlines"

# At most this many votes per update: a batch's payload stays far below Temporal's limits.
MAX_VOTES_PER_BATCH = 5000


# Workflow code versions (`workflow.patched`): claims started before a change replay the
# old path, new ones take the new one.
# Staff steps ask the actors registry before they move the claim (issue 8, point 14).
ACTOR_CHECK_PATCH = "actor-check-1"


# ---- the workflow's input and result ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimInput:
    claim_id: str
    plan_id: str
    member_id: int
    condition: str
    diagnosis_date: date
    hospital: str
    documents: tuple[Document, ...] = ()
    accident: bool = False
    # The sum the applicant asked for, if they named one: recorded, never paid as such (the
    # benefit is the lump sum the age band fixes).
    claimed_fen: int | None = None
    # Real seconds per program day, as text ("86400", "2", "1/10"): exact, never a float.
    seconds_per_day: str = "86400"
    # The instant where real and program clocks agree; None: the claim's start. A period
    # workflow talking to a compressed claim must share it.
    clock_origin: datetime | None = None
    # The program moment at clock_origin (None: the same instant; a demo continuing from an
    # earlier run sets it to the program moment that run reached).
    program_origin: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimOutcome:
    claim_id: str
    state: ClaimState
    benefit_fen: int | None
    paid_fen: int
    payout_reference: str | None
    reasons: tuple[str, ...]


# ---- updates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMaterials:
    actor: Actor
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    actor: Actor
    outcome: ReviewOutcome
    resubmit: tuple[DocumentKind, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordFindings:
    actor: Actor
    findings: Findings


@dataclass(frozen=True, slots=True, kw_only=True)
class Decide:
    actor: Actor
    approve: bool
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Appeal:
    actor: Actor
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    actor: Actor
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Objection:
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JuryVote:
    juror_id: int
    approve: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class JuryVotes:
    """A batch of votes from the voting front end: each vote is its juror's own."""

    votes: tuple[JuryVote, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    state: ClaimState
    event_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedVote:
    juror_id: int
    code: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteReceipt:
    counted: int  # new valid votes from this batch
    repeated: int  # jurors who had voted already (their first vote stands)
    refused: tuple[RefusedVote, ...]
    round: int


# ---- signals from the period workflow ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Publicised:
    period_id: int
    publicity_date: date
    objection_window_end: datetime  # program moment; objections are heard before it


@dataclass(frozen=True, slots=True, kw_only=True)
class Cleared:
    """No objection was upheld in the window: the case stays in its period."""

    period_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Funded:
    """The period's money is in: the claim may pay out."""

    period_id: int
    # What the period funded for this case: the benefit, or less when the plan's per-case
    # cap binds. None (older senders): the benefit.
    amount_fen: int | None = None


# ---- queries ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    seq: int
    at: datetime  # program moment
    kind: str
    state: ClaimState
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineView:
    kind: DeadlineKind
    due: datetime  # program moment
    due_real: datetime
    overdue: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimStatus:
    claim_id: str
    plan_id: str
    member_id: int
    state: ClaimState
    rules_version: str | None
    eligible: bool | None
    reasons: tuple[str, ...]
    age_at_diagnosis: int | None
    benefit_fen: int | None
    missing_documents: tuple[DocumentKind, ...]
    overdue: bool
    next_deadline: DeadlineView | None
    period_id: int | None
    publicity_date: date | None
    jury_round: int
    jury_votes_counted: int
    investigation_reference: str | None
    payout_reference: str | None
    program_now: datetime


# ---- activity contracts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeRequest:
    claim_id: str
    plan_id: str
    member_id: int
    condition: str
    diagnosis_date: date
    hospital: str
    accident: bool
    as_of: date  # the program day of the report
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeOutcome:
    # False when a claim with the same member and diagnosis is on file: the unique key then
    # keeps this one out of SQL, and its history lives in the workflow alone.
    recorded: bool
    reasons: tuple[Reason, ...]
    age_at_diagnosis: int | None
    benefit_fen: int | None
    refund_and_exit: bool
    claimant: Claimant
    terms: ClaimTerms

    @property
    def eligible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    claim_id: str
    event_key: str  # derived from the workflow's own step: a retried write happens once
    kind: str
    state: ClaimState
    actor: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    benefit_fen: int | None = None
    # set_period: assign period_id (None takes the claim out of its period).
    set_period: bool = False
    period_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorCheck:
    """Is this login registered, in this role? Read-only; refused (final) when not."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteBatch:
    claim_id: str
    round: int
    terms: ClaimTerms
    claimant: Claimant
    on: date  # the program day: jurors' age and tenure are judged on it
    at: datetime
    votes: tuple[JuryVote, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyRequest:
    claim_id: str
    round: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JuryTally:
    valid_votes: int
    approvals: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectionRecord:
    claim_id: str
    plan_id: str
    period_id: int
    objector_id: int
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberExit:
    plan_id: str
    member_id: int
    effective_on: date
    reason: ExitReason
    change_key: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CommissionRequest:
    claim_id: str
    round: int  # 1 for the investigation, 2+ for re-investigations after objections
    plan_id: str
    condition: str
    diagnosis_date: date
    hospital: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Commission:
    reference: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutRequest:
    claim_id: str
    period_id: int
    amount_fen: int
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutReceipt:
    reference: str
    amount_fen: int
    # True when the rail had paid this claim before (a retried activity): nothing moved.
    already_paid: bool
