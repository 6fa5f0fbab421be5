"""The members' jury: who may sit on it, and what its votes decide.

A denied applicant may ask the members to judge. Jurors are paying members aged 18+, members
for over 30 days, who passed the qualification test, and not of the applicant's family. The
vote counts with at least 1,000 valid votes and approves with strictly more than half of them
(the numbers come from the plan's rules, pinned in the claim's terms).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from mutualaid.calendar import age_on
from mutualaid.claim_refusals import ActionRefusal, Refused
from mutualaid.claim_roles import Claimant, family_of
from mutualaid.claim_terms import ClaimTerms
from mutualaid.errors import InputError
from mutualaid.membership import Member, MemberStatus


def juror_refusal(
    terms: ClaimTerms, juror: Member | None, *, qualified: bool, on: date, claimant: Claimant
) -> Refused | None:
    """Whether a member may sit on this claim's jury on a day; None when they may.

    Jurors are paying members of the plan, aged at least juror_min_age, members for more
    than juror_min_tenure_days, who passed the qualification test, and neither the applicant
    nor of the applicant's family.
    """
    if juror is None or juror.plan_id != terms.plan_id:
        return Refused(
            code=ActionRefusal.JUROR_NOT_A_MEMBER, detail=f"not a member of plan {terms.plan_id}"
        )
    if juror.status is not MemberStatus.COVERED or juror.join_date > on:
        return Refused(code=ActionRefusal.JUROR_NOT_A_MEMBER, detail="not a current member")
    if not juror.pays_for_self:
        return Refused(
            code=ActionRefusal.JUROR_NOT_PAYING,
            detail=f"an attached member (paid for by {juror.payer_id}), not a paying member",
        )
    if on < juror.birth_date or age_on(juror.birth_date, on) < terms.juror_min_age:
        return Refused(
            code=ActionRefusal.JUROR_TOO_YOUNG, detail=f"under {terms.juror_min_age} years"
        )
    tenure = (on - juror.join_date).days
    if tenure <= terms.juror_min_tenure_days:
        return Refused(
            code=ActionRefusal.JUROR_TOO_NEW,
            detail=f"a member for {tenure} days, not over {terms.juror_min_tenure_days}",
        )
    if not qualified:
        return Refused(
            code=ActionRefusal.JUROR_NOT_QUALIFIED, detail="has not passed the juror test"
        )
    if juror.member_id == claimant.member_id or (
        claimant.family_id is not None and family_of(juror) == claimant.family_id
    ):
        return Refused(
            code=ActionRefusal.JUROR_CONFLICT, detail="the applicant or of the applicant's family"
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeatedJuror:
    """A juror named twice in one set of votes, and where (0-based positions)."""

    juror_id: int
    first: int
    second: int


def repeated_juror(juror_ids: Iterable[int]) -> RepeatedJuror | None:
    """The first juror named a second time, or None. A set of votes (a file, a batch) holds
    one vote per juror: a repeat is refused whole, never resolved by keeping one of them,
    since nothing says which of two votes the juror meant.

    >>> repeated_juror([5, 7, 9, 7, 5])
    RepeatedJuror(juror_id=7, first=1, second=3)
    >>> repeated_juror([5, 7]) is None
    True
    """
    seen: dict[int, int] = {}
    for position, juror_id in enumerate(juror_ids):
        first = seen.setdefault(juror_id, position)
        if first != position:
            return RepeatedJuror(juror_id=juror_id, first=first, second=position)
    return None


class JuryResult(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    NO_QUORUM = "no_quorum"  # too few valid votes: the denial stands


@dataclass(frozen=True, slots=True, kw_only=True)
class JuryOutcome:
    result: JuryResult
    valid_votes: int
    approvals: int

    @property
    def approved(self) -> bool:
        return self.result is JuryResult.APPROVED


def jury_outcome(
    *, min_valid_votes: int, approve_above: Fraction, valid_votes: int, approvals: int
) -> JuryOutcome:
    """A vote counts with at least min_valid_votes valid votes; it approves with strictly
    more than approve_above of them in favour (exact fractions, no float).

    >>> half = Fraction(1, 2)
    >>> jury_outcome(min_valid_votes=1000, approve_above=half, valid_votes=999, approvals=999)
    JuryOutcome(result=<JuryResult.NO_QUORUM: 'no_quorum'>, valid_votes=999, approvals=999)
    >>> jury_outcome(min_valid_votes=1000, approve_above=half, valid_votes=1000,
    ...     approvals=500).result
    <JuryResult.REJECTED: 'rejected'>
    >>> jury_outcome(min_valid_votes=1000, approve_above=half, valid_votes=1000,
    ...     approvals=501).result
    <JuryResult.APPROVED: 'approved'>
    """
    if not 0 <= approvals <= valid_votes:
        raise InputError("approvals", approvals, f"must be between 0 and {valid_votes}")
    if valid_votes < min_valid_votes:
        result = JuryResult.NO_QUORUM
    elif Fraction(approvals, valid_votes) > approve_above:
        result = JuryResult.APPROVED
    else:
        result = JuryResult.REJECTED
    return JuryOutcome(result=result, valid_votes=valid_votes, approvals=approvals)
