"""Eligibility decisions: may this person join, is this claim covered, and why not.

A refusal is a value with every reason, never an exception: the claim workflow records the
reasons and an operator reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from mutualaid.calendar import age_in_days, age_on, in_waiting_period, waiting_period_last_day
from mutualaid.membership import Member, MemberStatus
from mutualaid.money import Fen
from mutualaid.plan import Plan


class Refusal(StrEnum):
    # joining
    TOO_YOUNG = "too_young"
    TOO_OLD = "too_old"
    NO_CHRONIC_GROUP = "no_chronic_group"
    UNKNOWN_CHRONIC_GROUP = "unknown_chronic_group"
    NO_DECLARATION = "no_declaration"
    # claims
    UNKNOWN_MEMBER = "unknown_member"
    OTHER_PLAN = "other_plan"
    DIAGNOSIS_IN_FUTURE = "diagnosis_in_future"
    NOT_A_MEMBER_AT_DIAGNOSIS = "not_a_member_at_diagnosis"
    WAITING_PERIOD = "waiting_period"
    CONDITION_NOT_COVERED = "condition_not_covered"
    NO_BENEFIT_BAND = "no_benefit_band"
    ALREADY_PAID_OUT = "already_paid_out"
    MEMBER_EXITED = "member_exited"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    code: Refusal
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinApplication:
    plan_id: str
    birth_date: date
    chronic_groups: tuple[int, ...]
    declaration_given: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinDecision:
    reasons: tuple[Reason, ...]

    @property
    def accepted(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimFacts:
    """What an applicant reports: who, which condition, diagnosed when."""

    member_id: int
    plan_id: str
    condition: str
    diagnosis_date: date
    accident: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorClaim:
    """A claim already on file, for the duplicate check."""

    claim_id: str
    member_id: int
    condition: str
    diagnosis_date: date


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimDecision:
    reasons: tuple[Reason, ...]
    age_at_diagnosis: int | None
    benefit_fen: Fen | None
    # A member diagnosed inside the waiting period is refunded and exits (policy per plan).
    refund_and_exit: bool

    @property
    def eligible(self) -> bool:
        return not self.reasons


def decide_join(plan: Plan, application: JoinApplication, *, as_of: date) -> JoinDecision:
    """Whether an applicant may join the plan on a day, with every reason if not."""
    rules = plan.joining
    reasons: list[Reason] = []
    if application.birth_date > as_of or age_in_days(application.birth_date, as_of) < (
        rules.min_age_days
    ):
        reasons.append(Reason(code=Refusal.TOO_YOUNG, detail=f"under {rules.min_age_days} days"))
    elif age_on(application.birth_date, as_of) > rules.max_age_years:
        reasons.append(Reason(code=Refusal.TOO_OLD, detail=f"over {rules.max_age_years} years"))
    unknown = sorted(set(application.chronic_groups) - plan.chronic_group_ids)
    if plan.chronic_groups and unknown:
        reasons.append(
            Reason(code=Refusal.UNKNOWN_CHRONIC_GROUP, detail=f"groups {unknown} do not exist")
        )
    elif rules.require_chronic_group and not application.chronic_groups:
        reasons.append(
            Reason(code=Refusal.NO_CHRONIC_GROUP, detail="must belong to a chronic-disease group")
        )
    if rules.require_declaration and not application.declaration_given:
        reasons.append(Reason(code=Refusal.NO_DECLARATION, detail="health declaration missing"))
    return JoinDecision(reasons=tuple(reasons))


def decide_claim(
    plan: Plan,
    member: Member | None,
    facts: ClaimFacts,
    *,
    prior_claims: Iterable[PriorClaim] = (),
    as_of: date,
) -> ClaimDecision:
    """Whether a reported claim is covered, the benefit its age band fixes, and every reason.

    Checks: the member exists in this plan, the diagnosis is not in the future, the member was
    covered on the diagnosis date (joined before it, not exited before it), the waiting period
    was over (its last day still waits), the condition is covered, an age band fixes the
    benefit, no payout was made before, and no other claim has the same member and diagnosis.
    """
    reasons: list[Reason] = []
    if facts.diagnosis_date > as_of:
        reasons.append(
            Reason(
                code=Refusal.DIAGNOSIS_IN_FUTURE,
                detail=f"diagnosed {facts.diagnosis_date.isoformat()}, today {as_of.isoformat()}",
            )
        )
    if facts.condition.strip().lower() not in plan.coverage.covered_conditions:
        reasons.append(
            Reason(
                code=Refusal.CONDITION_NOT_COVERED,
                detail=f"{facts.condition!r} is not covered by plan {plan.id}",
            )
        )
    if member is None:
        reasons.append(Reason(code=Refusal.UNKNOWN_MEMBER, detail=f"member {facts.member_id}"))
        return ClaimDecision(
            reasons=tuple(reasons), age_at_diagnosis=None, benefit_fen=None, refund_and_exit=False
        )
    if member.plan_id != plan.id or facts.plan_id != plan.id:
        reasons.append(
            Reason(code=Refusal.OTHER_PLAN, detail=f"member belongs to plan {member.plan_id}")
        )
    refund_and_exit = False
    if facts.diagnosis_date < member.join_date:
        reasons.append(
            Reason(
                code=Refusal.NOT_A_MEMBER_AT_DIAGNOSIS,
                detail=f"joined {member.join_date.isoformat()}, after the diagnosis",
            )
        )
    elif in_waiting_period(
        member.join_date, facts.diagnosis_date, plan.coverage.waiting_days
    ) and not (facts.accident and plan.coverage.accident_exempt_from_waiting):
        last = waiting_period_last_day(member.join_date, plan.coverage.waiting_days)
        reasons.append(
            Reason(
                code=Refusal.WAITING_PERIOD,
                detail=f"diagnosed within the waiting period, which ends {last.isoformat()}",
            )
        )
        refund_and_exit = plan.coverage.refund_on_waiting_period_diagnosis
    if member.status is MemberStatus.PAID_OUT:
        reasons.append(Reason(code=Refusal.ALREADY_PAID_OUT, detail="the member was paid before"))
    elif member.status is MemberStatus.EXITED:
        exited = member.exit_date.isoformat() if member.exit_date else "earlier"
        if member.exit_date is None or member.exit_date <= facts.diagnosis_date:
            reasons.append(Reason(code=Refusal.MEMBER_EXITED, detail=f"left the plan {exited}"))
    age = (
        age_on(member.birth_date, facts.diagnosis_date)
        if (facts.diagnosis_date >= member.birth_date)
        else None
    )
    benefit = plan.benefit_for_age(age) if age is not None else None
    if benefit is None:
        reasons.append(
            Reason(code=Refusal.NO_BENEFIT_BAND, detail=f"no benefit band for age {age}")
        )
    condition = facts.condition.strip().lower()
    for prior in prior_claims:
        if (
            prior.member_id == facts.member_id
            and prior.condition.strip().lower() == condition
            and prior.diagnosis_date == facts.diagnosis_date
        ):
            reasons.append(Reason(code=Refusal.DUPLICATE, detail=f"same as claim {prior.claim_id}"))
            break
    return ClaimDecision(
        reasons=tuple(reasons),
        age_at_diagnosis=age,
        benefit_fen=benefit,
        refund_and_exit=refund_and_exit and len(reasons) == 1,
    )
