"""How a claim says no: the refusal codes and the refusal itself.

Every rule about a claim (a transition, who may act, a step's payload, a deadline, a juror)
answers with a `Refused` value rather than an exception; the claim workflow hands it back to
the caller as the update's failure, typed by its code.

>>> str(Refused(code=ActionRefusal.BAD_PAYLOAD, detail="no documents given"))
'no documents given'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
