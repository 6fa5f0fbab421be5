"""The claim workflow's SQL-side activities: intake, the staff check, the event history,
jury votes, objections and member exits.

Each activity is one unit of work: load (the plan from the settings, the member from the
member store with pending changes), call the core, persist, commit. Every write is
idempotent under a key the workflow derives from its own step, so a retry after a lost
acknowledgement writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from activities.failures import refusals_are_final, refused
from infra.db import reading, unit_of_work
from infra.repositories import (
    ActorRepository,
    ClaimRepository,
    DuplicateClaimError,
    JuryRepository,
    MemberChangeRepository,
    NewClaim,
    ObjectionRepository,
)
from infra.repositories.jury import Vote
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_roles import Claimant, family_of
from mutualaid.claim_terms import ClaimTerms
from mutualaid.eligibility import ClaimFacts, Reason, Refusal, decide_claim
from mutualaid.jury import juror_refusal
from mutualaid.membership import ChangeKind, MemberChange, MemberStatus
from mutualaid.plan import Plan
from settlement.members import current_member, current_members


class ClaimActivities:
    """Activities bound to the worker's database, member store and plans."""

    def __init__(self, *, engine: Engine, store_root: str, plans: Mapping[str, Plan]) -> None:
        self._engine = engine
        self._store_root = store_root
        self._plans = dict(plans)

    @property
    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for a worker's registration."""
        return [
            self.intake,
            self.check_actor,
            self.record_event,
            self.record_votes,
            self.tally_jury,
            self.record_objection,
            self.queue_exit,
        ]

    def _plan(self, plan_id: str) -> Plan:
        plan = self._plans.get(plan_id)
        if plan is None:
            known = ", ".join(sorted(self._plans))
            raise refused(f"plan={plan_id!r}: is not a known plan (known: {known})", kind="Plan")
        return plan

    @activity.defn(name=msg.INTAKE)
    def intake(self, request: msg.IntakeRequest) -> msg.IntakeOutcome:
        """Decide eligibility with the core and record the claim (state Reported)."""
        plan = self._plan(request.plan_id)
        facts = ClaimFacts(
            member_id=request.member_id,
            plan_id=request.plan_id,
            condition=request.condition,
            diagnosis_date=request.diagnosis_date,
            accident=request.accident,
        )
        with refusals_are_final(), unit_of_work(self._engine) as session:
            member = current_member(self._store_root, session, plan.id, request.member_id)
            claims = ClaimRepository(session)
            # The claim's own record (a retried intake) is not a prior claim.
            priors = [
                prior
                for prior in claims.prior_claims(request.member_id)
                if prior.claim_id != request.claim_id
            ]
            decision = decide_claim(plan, member, facts, prior_claims=priors, as_of=request.as_of)
            reasons = list(decision.reasons)
            recorded = not any(r.code is Refusal.DUPLICATE for r in reasons)
            if recorded:
                try:
                    claims.add(
                        NewClaim(
                            claim_id=request.claim_id,
                            plan_id=plan.id,
                            rules_version=plan.rules_version,
                            member_id=request.member_id,
                            condition=request.condition,
                            diagnosis_date=request.diagnosis_date,
                            hospital=request.hospital,
                            state=ClaimState.REPORTED.value,
                        ),
                        at=request.at,
                    )
                except DuplicateClaimError as exc:
                    # Another claim took the same member and diagnosis a moment ago.
                    recorded = False
                    reasons.append(Reason(code=Refusal.DUPLICATE, detail=exc.reason))
            if recorded and not reasons and decision.benefit_fen is not None:
                claims.set_benefit(request.claim_id, decision.benefit_fen)
        return msg.IntakeOutcome(
            recorded=recorded,
            reasons=tuple(reasons),
            age_at_diagnosis=decision.age_at_diagnosis,
            benefit_fen=decision.benefit_fen,
            refund_and_exit=decision.refund_and_exit and len(reasons) == 1,
            claimant=Claimant(
                member_id=request.member_id,
                family_id=family_of(member) if member is not None else None,
            ),
            terms=ClaimTerms.from_plan(plan),
        )

    @activity.defn(name=msg.CHECK_ACTOR)
    def check_actor(self, request: msg.ActorCheck) -> None:
        """Refuse (final) a staff login that is not registered in the step's role. Reads
        only: the claim records nothing until this has answered."""
        with refusals_are_final(), reading(self._engine) as session:
            ActorRepository(session).require(request.name, request.role)

    @activity.defn(name=msg.RECORD_EVENT)
    def record_event(self, record: msg.EventRecord) -> None:
        """Append one event to the claim's SQL history (once per event key)."""
        with refusals_are_final(), unit_of_work(self._engine) as session:
            claims = ClaimRepository(session)
            claims.append_event(
                record.claim_id,
                event_key=record.event_key,
                kind=record.kind,
                state=record.state.value,
                actor=record.actor,
                at=record.at,
                detail=record.detail,
            )
            if record.benefit_fen is not None:
                claims.set_benefit(record.claim_id, record.benefit_fen)
            if record.set_period:
                claims.assign_period(record.claim_id, record.period_id)

    @activity.defn(name=msg.RECORD_VOTES)
    def record_votes(self, batch: msg.VoteBatch) -> msg.VoteReceipt:
        """Check each juror against the jury rules on the voting day and record the valid
        votes in SQL. A juror's second vote is not counted; the first stands."""
        plan_id = batch.terms.plan_id
        refusals: list[msg.RefusedVote] = []
        eligible: list[Vote] = []
        seen: set[int] = set()
        repeated = 0
        # Look the jurors up in a reading transaction first (each shard read once for the
        # batch): the write that follows holds the database for a moment only.
        with refusals_are_final(), reading(self._engine) as session:
            qualified = JuryRepository(session).qualified(
                plan_id, {v.juror_id for v in batch.votes}, on=batch.on
            )
            jurors = current_members(
                self._store_root, session, plan_id, (v.juror_id for v in batch.votes)
            )
            for vote in batch.votes:
                if vote.juror_id in seen:
                    repeated += 1
                    continue
                seen.add(vote.juror_id)
                juror = jurors[vote.juror_id]
                refusal = juror_refusal(
                    batch.terms,
                    juror,
                    qualified=vote.juror_id in qualified,
                    on=batch.on,
                    claimant=batch.claimant,
                )
                if refusal is not None:
                    refusals.append(
                        msg.RefusedVote(
                            juror_id=vote.juror_id, code=refusal.code.value, detail=refusal.detail
                        )
                    )
                    continue
                eligible.append(Vote(juror_id=vote.juror_id, approve=vote.approve, at=batch.at))
        with refusals_are_final(), unit_of_work(self._engine) as session:
            counted = JuryRepository(session).record_batch(batch.claim_id, batch.round, eligible)
        return msg.VoteReceipt(
            counted=len(counted),
            repeated=repeated + len(eligible) - len(counted),
            refused=tuple(refusals),
            round=batch.round,
        )

    @activity.defn(name=msg.TALLY_JURY)
    def tally_jury(self, request: msg.TallyRequest) -> msg.JuryTally:
        with refusals_are_final(), unit_of_work(self._engine) as session:
            tally = JuryRepository(session).tally(request.claim_id, request.round)
        return msg.JuryTally(valid_votes=tally.valid, approvals=tally.approve)

    @activity.defn(name=msg.RECORD_OBJECTION)
    def record_objection(self, record: msg.ObjectionRecord) -> None:
        """Record a member's objection; someone who is not a current member of the plan is
        refused (non-retryable) and nothing is written."""
        with refusals_are_final(), unit_of_work(self._engine) as session:
            objector = current_member(self._store_root, session, record.plan_id, record.objector_id)
            if objector is None or objector.status is not MemberStatus.COVERED:
                raise refused(
                    f"objector={record.objector_id}: is not a current member of plan "
                    f"{record.plan_id}",
                    kind="NotAMember",
                )
            ObjectionRepository(session).add(
                claim_id=record.claim_id,
                period_id=record.period_id,
                objector_id=record.objector_id,
                reason=record.reason,
                at=record.at,
            )

    @activity.defn(name=msg.QUEUE_EXIT)
    def queue_exit(self, exit_: msg.MemberExit) -> bool:
        """Queue the member's exit for the member store (once per change key)."""
        with refusals_are_final(), unit_of_work(self._engine) as session:
            return MemberChangeRepository(session).queue(
                MemberChange(
                    plan_id=exit_.plan_id,
                    member_id=exit_.member_id,
                    kind=ChangeKind.EXIT,
                    effective_on=exit_.effective_on,
                    exit_reason=exit_.reason,
                ),
                change_key=exit_.change_key,
                at=exit_.at,
            )
