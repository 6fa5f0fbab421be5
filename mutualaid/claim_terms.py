"""The plan's terms a claim runs under, pinned when the claim is reported.

A new rules version never changes a claim already under way: intake copies the numbers the
claim needs (its deadlines, the jury's quorum and majority, who may sit on the jury) out of
the plan into plain ints, which travel in workflow history with the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from mutualaid.plan import Plan


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
