"""The claim as a state machine: its states, what moves it, and who may do what.

Pure rules, no I/O and no clock: the claim workflow asks this module whether an action is
allowed (an answer with a reason, never an exception), which state an event leads to and when
the current state's deadline falls. The jury's rules are in `mutualaid.jury`.

    Reported --materials complete--> InReview --passed--> Investigating --findings-->
    AwaitingDecision --approved--> AwaitingPublicity --publicised--> Publicised
    --cleared--> AwaitingFunds --paid--> Paid

with the side roads: incomplete materials back to Reported (closed when the deadline passes),
a denial (appealable until its deadline) to the members' jury, an objection in the publicity
window to re-investigation (then publicised again in a later period, or denied), and the
applicant's withdrawal.

>>> advance(ClaimState.IN_REVIEW, EventKind.REVIEW_PASSED)
<ClaimState.INVESTIGATING: 'Investigating'>
>>> advance(ClaimState.PAID, EventKind.WITHDRAWN).code
<ActionRefusal.WRONG_STATE: 'wrong_state'>
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from mutualaid.calendar import program_date, sharing_day_for, start_of_day
from mutualaid.errors import InputError
from mutualaid.membership import Member
from mutualaid.money import Fen, format_fen
from mutualaid.plan import Plan


class ClaimState(StrEnum):
    """The states, spelled as operators query them (`ClaimState='InReview'`)."""

    REPORTED = "Reported"  # reported; waiting for the required materials
    IN_REVIEW = "InReview"  # materials complete; the platform's preliminary review
    INVESTIGATING = "Investigating"  # the third-party firm investigates
    AWAITING_DECISION = "AwaitingDecision"
    DENIED = "Denied"  # appealable to the members' jury until the appeal deadline
    JURY_VOTING = "JuryVoting"
    AWAITING_PUBLICITY = "AwaitingPublicity"  # approved; waits for a period to publicise it
    PUBLICISED = "Publicised"  # on a period's publicity list; members may object
    REINVESTIGATING = "Reinvestigating"  # objected; out of its period
    AWAITING_FUNDS = "AwaitingFunds"  # cleared publicity; waits for the period's money
    PAID = "Paid"
    INELIGIBLE = "Ineligible"  # refused at intake by the eligibility rules
    CLOSED = "Closed"  # materials never completed
    FINALLY_DENIED = "FinallyDenied"
    WITHDRAWN = "Withdrawn"


TERMINAL = frozenset(
    {
        ClaimState.PAID,
        ClaimState.INELIGIBLE,
        ClaimState.CLOSED,
        ClaimState.FINALLY_DENIED,
        ClaimState.WITHDRAWN,
    }
)


class EventKind(StrEnum):
    """Everything recorded in a claim's history. Kinds in TRANSITIONS move the claim; the
    others (notes) are recorded with the state unchanged."""

    # notes
    REPORTED = "reported"
    MATERIALS_RECEIVED = "materials_received"
    OVERDUE = "overdue"
    INVESTIGATION_COMMISSIONED = "investigation_commissioned"
    INVESTIGATION_UNASSIGNED = "investigation_unassigned"
    MEMBER_EXIT_QUEUED = "member_exit_queued"
    # transitions
    INTAKE_REFUSED = "intake_refused"
    MATERIALS_COMPLETE = "materials_complete"
    MATERIALS_EXPIRED = "materials_expired"
    REVIEW_PASSED = "review_passed"
    REVIEW_INCOMPLETE = "review_incomplete"
    REVIEW_DENIED = "review_denied"
    FINDINGS_RECORDED = "findings_recorded"
    APPROVED = "approved"
    DENIED = "denied"
    APPEALED = "appealed"
    APPEAL_EXPIRED = "appeal_expired"
    JURY_APPROVED = "jury_approved"
    JURY_REJECTED = "jury_rejected"
    PUBLICISED = "publicised"
    OBJECTED = "objected"
    CLEARED = "cleared"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


# The applicant may withdraw until the claim is on a publicity list: from then on the case
# belongs to a period whose share other members are about to pay.
WITHDRAWABLE = frozenset(
    {
        ClaimState.REPORTED,
        ClaimState.IN_REVIEW,
        ClaimState.INVESTIGATING,
        ClaimState.AWAITING_DECISION,
        ClaimState.DENIED,
        ClaimState.JURY_VOTING,
        ClaimState.AWAITING_PUBLICITY,
        ClaimState.REINVESTIGATING,
    }
)

_S = ClaimState
_E = EventKind
TRANSITIONS: dict[tuple[ClaimState, EventKind], ClaimState] = {
    (_S.REPORTED, _E.INTAKE_REFUSED): _S.INELIGIBLE,
    (_S.REPORTED, _E.MATERIALS_COMPLETE): _S.IN_REVIEW,
    (_S.REPORTED, _E.MATERIALS_EXPIRED): _S.CLOSED,
    (_S.IN_REVIEW, _E.REVIEW_PASSED): _S.INVESTIGATING,
    (_S.IN_REVIEW, _E.REVIEW_INCOMPLETE): _S.REPORTED,
    (_S.IN_REVIEW, _E.REVIEW_DENIED): _S.DENIED,
    (_S.INVESTIGATING, _E.FINDINGS_RECORDED): _S.AWAITING_DECISION,
    (_S.REINVESTIGATING, _E.FINDINGS_RECORDED): _S.AWAITING_DECISION,
    (_S.AWAITING_DECISION, _E.APPROVED): _S.AWAITING_PUBLICITY,
    (_S.AWAITING_DECISION, _E.DENIED): _S.DENIED,
    (_S.DENIED, _E.APPEALED): _S.JURY_VOTING,
    (_S.DENIED, _E.APPEAL_EXPIRED): _S.FINALLY_DENIED,
    (_S.JURY_VOTING, _E.JURY_APPROVED): _S.AWAITING_PUBLICITY,
    (_S.JURY_VOTING, _E.JURY_REJECTED): _S.FINALLY_DENIED,
    (_S.AWAITING_PUBLICITY, _E.PUBLICISED): _S.PUBLICISED,
    (_S.PUBLICISED, _E.OBJECTED): _S.REINVESTIGATING,
    (_S.PUBLICISED, _E.CLEARED): _S.AWAITING_FUNDS,
    (_S.AWAITING_FUNDS, _E.PAID): _S.PAID,
} | {(state, _E.WITHDRAWN): _S.WITHDRAWN for state in WITHDRAWABLE}


class Role(StrEnum):
    APPLICANT = "applicant"  # the member who claims
    MEMBER = "member"  # any member of the plan (objections)
    JUROR = "juror"
    REVIEWER = "reviewer"  # platform staff
    INVESTIGATOR = "investigator"  # the third-party firm
    OPERATOR = "operator"  # runs the program (periods, schedules); takes no claim step


# Staff are known by login with one role (the `actors` table, `mutualaid actors add`);
# members, applicants and jurors are known by member id instead.
STAFF_ROLES = frozenset({Role.REVIEWER, Role.INVESTIGATOR, Role.OPERATOR})
MAX_ACTOR_NAME_LENGTH = 100


class Action(StrEnum):
    SUBMIT_MATERIALS = "submit materials"
    REVIEW = "review"
    RECORD_FINDINGS = "record findings"
    DECIDE = "decide"
    APPEAL = "appeal"
    VOTE = "vote"
    WITHDRAW = "withdraw"
    OBJECT = "object"


# Who may take each action, and in which states.
ROLES: dict[Action, frozenset[Role]] = {
    Action.SUBMIT_MATERIALS: frozenset({Role.APPLICANT}),
    Action.REVIEW: frozenset({Role.REVIEWER}),
    Action.RECORD_FINDINGS: frozenset({Role.INVESTIGATOR}),
    Action.DECIDE: frozenset({Role.REVIEWER}),
    Action.APPEAL: frozenset({Role.APPLICANT}),
    Action.VOTE: frozenset({Role.JUROR}),
    Action.WITHDRAW: frozenset({Role.APPLICANT}),
    Action.OBJECT: frozenset({Role.MEMBER}),
}
STATES: dict[Action, frozenset[ClaimState]] = {
    Action.SUBMIT_MATERIALS: frozenset({ClaimState.REPORTED}),
    Action.REVIEW: frozenset({ClaimState.IN_REVIEW}),
    Action.RECORD_FINDINGS: frozenset({ClaimState.INVESTIGATING, ClaimState.REINVESTIGATING}),
    Action.DECIDE: frozenset({ClaimState.AWAITING_DECISION}),
    Action.APPEAL: frozenset({ClaimState.DENIED}),
    Action.VOTE: frozenset({ClaimState.JURY_VOTING}),
    Action.WITHDRAW: WITHDRAWABLE,
    Action.OBJECT: frozenset({ClaimState.PUBLICISED}),
}
# Staff whose own family's claim it is must stand aside.
CONFLICTED_ACTIONS = frozenset({Action.REVIEW, Action.DECIDE})


class ActionRefusal(StrEnum):
    WRONG_STATE = "wrong_state"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    NOT_THE_APPLICANT = "not_the_applicant"
    OWN_CLAIM = "own_claim"
    RELATIVE_CLAIM = "relative_claim"
    OUTSIDE_PUBLICITY_WINDOW = "outside_publicity_window"
    VOTING_CLOSED = "voting_closed"
    BAD_PAYLOAD = "bad_payload"
    UNKNOWN_ACTOR = "unknown_actor"  # staff not registered, or not in this role
    DIAGNOSIS_NOT_CONFIRMED = "diagnosis_not_confirmed"
    # jurors
    JUROR_NOT_A_MEMBER = "juror_not_a_member"
    JUROR_NOT_PAYING = "juror_not_paying"
    JUROR_TOO_YOUNG = "juror_too_young"
    JUROR_TOO_NEW = "juror_too_new"
    JUROR_NOT_QUALIFIED = "juror_not_qualified"
    JUROR_CONFLICT = "juror_conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A "no" with its reason: a value the workflow hands back to the caller."""

    code: ActionRefusal
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks. Staff are named by login; a member by id. `family_id` is the paying member
    of the actor's family (themselves when they pay for themselves), for conflict checks;
    staff who are not members have neither id."""

    role: Role
    name: str
    member_id: int | None = None
    family_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimant:
    member_id: int
    # The paying member of the claimant's family; None when the member is unknown.
    family_id: int | None


def family_of(member: Member) -> int:
    """The family a member belongs to, named by its paying member.

    >>> family_of(Member(member_id=8, plan_id="chronic", birth_date=date(1990, 1, 1),
    ...     join_date=date(2020, 6, 1), payer_id=7))
    7
    """
    return member.payer_id if member.payer_id is not None else member.member_id


def advance(state: ClaimState, kind: EventKind) -> ClaimState | Refused:
    """The state an event leads to, or why the event cannot happen in this state."""
    target = TRANSITIONS.get((state, kind))
    if target is None:
        return Refused(
            code=ActionRefusal.WRONG_STATE, detail=f"{kind.value} cannot happen in {state.value}"
        )
    return target


def may(action: Action, *, state: ClaimState, actor: Actor, claimant: Claimant) -> Refused | None:
    """Whether an actor may take an action on a claim in a state; None when allowed.

    A member cannot review; staff cannot review or decide a claim of their own family; only
    the applicant submits materials, appeals or withdraws; the applicant does not object to
    their own claim.

    >>> applicant = Claimant(member_id=7, family_id=7)
    >>> may(Action.REVIEW, state=ClaimState.IN_REVIEW,
    ...     actor=Actor(role=Role.MEMBER, name="member:9", member_id=9), claimant=applicant).detail
    'a member cannot review'
    """
    if actor.role not in ROLES[action]:
        return Refused(
            code=ActionRefusal.ROLE_NOT_ALLOWED, detail=f"a {actor.role.value} cannot {action}"
        )
    if actor.role in STAFF_ROLES and actor_name_problem(actor.name) is not None:
        # Checked here, in the validator, so an unnamed step never reaches the registry check.
        return Refused(
            code=ActionRefusal.UNKNOWN_ACTOR,
            detail=f"a {actor.role.value} must be named: {actor_name_problem(actor.name)}",
        )
    if state not in STATES[action]:
        return Refused(
            code=ActionRefusal.WRONG_STATE,
            detail=f"cannot {action} a claim that is {state.value}",
        )
    if actor.role is Role.APPLICANT and actor.member_id != claimant.member_id:
        return Refused(
            code=ActionRefusal.NOT_THE_APPLICANT,
            detail=f"only the applicant (member {claimant.member_id}) may {action}",
        )
    if action is Action.OBJECT and actor.member_id == claimant.member_id:
        return Refused(
            code=ActionRefusal.NOT_THE_APPLICANT,
            detail="the applicant cannot object to their own claim",
        )
    if action in CONFLICTED_ACTIONS:
        if actor.member_id is not None and actor.member_id == claimant.member_id:
            return Refused(
                code=ActionRefusal.OWN_CLAIM,
                detail=f"a {actor.role.value} cannot {action} their own claim",
            )
        if _same_family(actor, claimant):
            return Refused(
                code=ActionRefusal.RELATIVE_CLAIM,
                detail=f"a {actor.role.value} cannot {action} a relative's claim",
            )
    return None


def actor_name_problem(name: str) -> str | None:
    """What is wrong with a staff login, or None. Logins are compared exactly as typed,
    so a name with surrounding blanks is refused rather than silently trimmed.

    >>> actor_name_problem("li") is None, actor_name_problem(" li")
    (True, 'must be 1 to 100 printable characters, without surrounding blanks')
    """
    if (
        not name
        or name != name.strip()
        or len(name) > MAX_ACTOR_NAME_LENGTH
        or not name.isprintable()
    ):
        return (
            f"must be 1 to {MAX_ACTOR_NAME_LENGTH} printable characters, without surrounding blanks"
        )
    return None


def check_actor_name(name: str, *, field: str = "name") -> str:
    """A staff login as typed on a command line: surrounding blanks dropped, then checked.

    >>> check_actor_name("  li ")
    'li'
    """
    cleaned = name.strip()
    problem = actor_name_problem(cleaned)
    if problem is not None:
        raise InputError(field, name, problem)
    return cleaned


def _same_family(actor: Actor, claimant: Claimant) -> bool:
    # The actor pays for the claimant, or both are paid for by the same member.
    return claimant.family_id is not None and claimant.family_id in {
        actor.family_id,
        actor.member_id,
    }


# ---- materials -------------------------------------------------------------------------


class DocumentKind(StrEnum):
    DIAGNOSIS = "diagnosis"  # the hospital's diagnosis certificate
    PATHOLOGY = "pathology"
    MEDICAL_RECORD = "medical_record"
    IDENTITY = "identity"
    OTHER = "other"


# (policy) What a claim needs before review; the plan file has no materials list yet.
REQUIRED_DOCUMENTS = (DocumentKind.DIAGNOSIS, DocumentKind.MEDICAL_RECORD, DocumentKind.IDENTITY)
# Documents are references to files kept elsewhere, never their content: the list travels
# in workflow history, so it stays small.
MAX_DOCUMENTS = 50
MAX_REFERENCE_LENGTH = 200
MAX_TEXT_LENGTH = 2000
_REFERENCE = re.compile(r"[^\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    kind: DocumentKind
    reference: str


def document_refusal(documents: Iterable[Document], *, already: int = 0) -> Refused | None:
    """Whether a list of documents can be accepted: not empty, not oversized, each named."""
    docs = list(documents)
    if not docs:
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail="no documents given")
    if already + len(docs) > MAX_DOCUMENTS:
        return Refused(
            code=ActionRefusal.BAD_PAYLOAD,
            detail=f"{already + len(docs)} documents; at most {MAX_DOCUMENTS} per claim",
        )
    for doc in docs:
        if not _REFERENCE.fullmatch(doc.reference) or len(doc.reference) > MAX_REFERENCE_LENGTH:
            return Refused(
                code=ActionRefusal.BAD_PAYLOAD,
                detail=f"document reference {doc.reference[:40]!r} must be 1 to "
                f"{MAX_REFERENCE_LENGTH} printable characters",
            )
    return None


def missing_documents(received: Iterable[DocumentKind]) -> tuple[DocumentKind, ...]:
    """The required kinds not received yet, in a fixed order.

    >>> missing_documents([DocumentKind.DIAGNOSIS])
    (<DocumentKind.MEDICAL_RECORD: 'medical_record'>, <DocumentKind.IDENTITY: 'identity'>)
    """
    have = set(received)
    return tuple(kind for kind in REQUIRED_DOCUMENTS if kind not in have)


# ---- review, findings, decision ---------------------------------------------------------


class ReviewOutcome(StrEnum):
    PASS = "pass"  # on to the investigation
    INCOMPLETE = "incomplete"  # documents to send again
    DENY = "deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    """What the investigation firm reports back."""

    diagnosis_confirmed: bool
    declaration_consistent: bool
    summary: str


def text_refusal(text: str, *, field: str, required: bool) -> Refused | None:
    if required and not text.strip():
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail=f"a {field} is required")
    if len(text) > MAX_TEXT_LENGTH:
        return Refused(
            code=ActionRefusal.BAD_PAYLOAD,
            detail=f"{field} is {len(text)} characters; at most {MAX_TEXT_LENGTH}",
        )
    return None


def review_refusal(
    outcome: ReviewOutcome, *, resubmit: Iterable[DocumentKind], reason: str
) -> Refused | None:
    """A review that sends materials back names what to send; a denial says why."""
    if outcome is ReviewOutcome.INCOMPLETE and not list(resubmit):
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail="name the documents to send again")
    return text_refusal(reason, field="reason", required=outcome is ReviewOutcome.DENY)


def decision_refusal(*, approve: bool, reason: str, findings: Findings | None) -> Refused | None:
    """A denial gives its reason; an approval needs findings that confirm the diagnosis."""
    if approve and (findings is None or not findings.diagnosis_confirmed):
        return Refused(
            code=ActionRefusal.DIAGNOSIS_NOT_CONFIRMED,
            detail="cannot approve: the investigation did not confirm the diagnosis",
        )
    return text_refusal(reason, field="reason", required=not approve)


# ---- the plan's terms, pinned when the claim is reported ---------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimTerms:
    """The plan rules a claim runs under, fixed at intake: a new rules version never changes
    a claim already under way. Plain ints, so they travel in workflow history."""

    plan_id: str
    rules_version: str
    materials_deadline_days: int
    review_sla_days: int
    investigation_sla_days: int
    appeal_deadline_days: int
    objection_window_days: int
    payout_deadline_days: int
    jury_min_valid_votes: int
    jury_approve_above_numerator: int
    jury_approve_above_denominator: int
    jury_voting_days: int
    juror_min_age: int
    juror_min_tenure_days: int

    @classmethod
    def from_plan(cls, plan: Plan) -> ClaimTerms:
        return cls(
            plan_id=plan.id,
            rules_version=plan.rules_version,
            materials_deadline_days=plan.claims.materials_deadline_days,
            review_sla_days=plan.claims.review_sla_days,
            investigation_sla_days=plan.claims.investigation_sla_days,
            appeal_deadline_days=plan.claims.appeal_deadline_days,
            objection_window_days=plan.sharing.objection_window_days,
            payout_deadline_days=plan.sharing.payout_deadline_days,
            jury_min_valid_votes=plan.jury.min_valid_votes,
            jury_approve_above_numerator=plan.jury.approve_above.numerator,
            jury_approve_above_denominator=plan.jury.approve_above.denominator,
            jury_voting_days=plan.jury.voting_days,
            juror_min_age=plan.jury.juror_min_age,
            juror_min_tenure_days=plan.jury.juror_min_tenure_days,
        )

    @property
    def approve_above(self) -> Fraction:
        return Fraction(self.jury_approve_above_numerator, self.jury_approve_above_denominator)


# ---- deadlines ---------------------------------------------------------------------------


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
            kind=DeadlineKind.PAYOUT,
            due=start_of_day(sharing + timedelta(days=terms.payout_deadline_days + 1)),
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


# ---- reporting a claim -------------------------------------------------------------------

MAX_CLAIM_ID_LENGTH = 64
MAX_HOSPITAL_LENGTH = 400
MAX_CONDITION_LENGTH = 200
MAX_MEMBER_ID = 2**63 - 1
_CLAIM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def claim_id_for(plan_id: str, member_id: int, condition: str, diagnosis_date: date) -> str:
    """The claim's id, derived from what makes a claim unique (plan, member, condition,
    diagnosis date), so reporting the same illness twice finds the first claim.

    >>> claim_id_for("chronic", 7, "Malignant tumour ", date(2026, 10, 1))
    'chronic-7-20261001-36c881ba'
    """
    digest = hashlib.sha256(condition.strip().lower().encode()).hexdigest()[:8]
    return f"{plan_id}-{member_id}-{diagnosis_date:%Y%m%d}-{digest}"


def check_claim_id(claim_id: str) -> str:
    if len(claim_id) > MAX_CLAIM_ID_LENGTH or not _CLAIM_ID.fullmatch(claim_id):
        raise InputError(
            "claim", claim_id, f"must be 1 to {MAX_CLAIM_ID_LENGTH} letters, digits, '-' or '_'"
        )
    return claim_id


def check_report(
    *,
    plan: Plan,
    member_id: int,
    condition: str,
    diagnosis_date: date,
    hospital: str,
    documents: Iterable[Document],
    claimed_fen: Fen | None,
    today: date,
) -> None:
    """Refuse a report that cannot be read, naming the field and the value. Whether a
    readable claim is covered is the eligibility decision's business, not this check's."""
    if not 0 < member_id <= MAX_MEMBER_ID:
        raise InputError("member", member_id, "must be a positive member id")
    if not condition.strip() or len(condition) > MAX_CONDITION_LENGTH:
        raise InputError("condition", condition, f"must be 1 to {MAX_CONDITION_LENGTH} characters")
    if not hospital.strip() or len(hospital) > MAX_HOSPITAL_LENGTH:
        raise InputError("hospital", hospital, f"must be 1 to {MAX_HOSPITAL_LENGTH} characters")
    if diagnosis_date > today:
        raise InputError(
            "diagnosed", diagnosis_date.isoformat(), f"is in the future (today is {today})"
        )
    docs = list(documents)
    if len(docs) > MAX_DOCUMENTS:
        raise InputError("documents", f"{len(docs)} documents", f"at most {MAX_DOCUMENTS}")
    for doc in docs:
        if document_refusal([doc]) is not None:
            raise InputError(
                "document",
                doc.reference,
                f"must be 1 to {MAX_REFERENCE_LENGTH} printable characters",
            )
    if claimed_fen is not None:
        largest = max(band.amount_fen for band in plan.benefits)
        if claimed_fen <= 0:
            raise InputError("amount", format_fen(claimed_fen), "must be positive")
        if claimed_fen > largest:
            raise InputError(
                "amount",
                format_fen(claimed_fen),
                f"exceeds the largest benefit of plan {plan.id} ({format_fen(largest)})",
            )
