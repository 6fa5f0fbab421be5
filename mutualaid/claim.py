"""The claim as a state machine: its states, the events that move it, and the transitions.

Pure rules, no I/O and no clock: the claim workflow asks this module which state an event
leads to (an answer or a refusal, never an exception). Who may take which step is in
`mutualaid.claim_roles`, when each state's deadline falls in `mutualaid.claim_deadlines`, what
a step must carry in `mutualaid.claim_materials` and `mutualaid.claim_review`, what a report
must hold in `mutualaid.claim_report`; the jury's rules are in `mutualaid.jury`.

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

from enum import StrEnum

from mutualaid.claim_refusals import ActionRefusal, Refused


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


def advance(state: ClaimState, kind: EventKind) -> ClaimState | Refused:
    """The state an event leads to, or why the event cannot happen in this state."""
    target = TRANSITIONS.get((state, kind))
    if target is None:
        return Refused(
            code=ActionRefusal.WRONG_STATE, detail=f"{kind.value} cannot happen in {state.value}"
        )
    return target
