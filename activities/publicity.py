"""The period's publicity steps, in SQL: gather the approved cases, publish the list, close the
objection window. Each heartbeats per case (`activities.heartbeats`).

A period's publicity list, once in SQL, is the list: gathering or publishing again returns it,
never other cases, so a restarted period never republishes. An empty list leaves no entry in
SQL: it is known published by its file, or by a share fixed after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio import activity

from activities.failures import refusals_are_final
from activities.heartbeats import beat, pulsing
from infra.db import reading, unit_of_work
from infra.models import ClaimRow, PeriodRow
from infra.repositories import (
    ClaimRepository,
    ObjectionRepository,
    PeriodRepository,
    PublicityEntry,
    PublicityRepository,
)
from infra.states import PeriodStage, PublicityOutcome
from messages import periods as msg
from mutualaid.calendar import age_on, roster_cutoff
from mutualaid.claim import TERMINAL, ClaimState
from mutualaid.masking import mask_hospital, mask_id_number
from mutualaid.plan import Plan
from mutualaid.share import share_for_cases
from settlement.members import current_members

# Claim states (the claim's own, as its SQL record holds them) that take a case off its list.
_OBJECTED = {ClaimState.REINVESTIGATING.value, ClaimState.FINALLY_DENIED.value}
# Period states (SQL) at which the publicity list is fixed (published, possibly empty).
_LIST_FIXED = {PeriodStage.SHARE_FIXED, PeriodStage.DEBITING, PeriodStage.CLOSED}


class PublicityActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        store_root: str,
        plans: Mapping[str, Plan],
        publicity_dir: Path,
    ) -> None:
        self._engine = engine
        self._store_root = store_root
        self._plans = dict(plans)
        self._publicity_dir = publicity_dir

    @activity.defn(name=msg.GATHER)
    @pulsing
    def gather(self, request: msg.GatherRequest) -> msg.Gathered:
        """The approved cases this period publicises, masked for the public list. Once the
        period's list is in SQL it is the list: gathering again returns it.

        Which claims are approved, and when, is read from the claims' SQL history, not asked
        of the claim workflows. That history is not a copy kept by hand beside Temporal's: each
        claim writes it itself, one event per transition, through its own activity
        (`ClaimActivities.record_event`, keyed by the claim's step so a retry writes once),
        inside the step that moves it and under the claim's lock. So the claim takes no further
        step until SQL holds the one it took, and a reviewer's approval returns only once it is
        written; the event carries the program moment of the approval, which is what the
        cut-off compares. Temporal's visibility (the `ClaimState` search attribute) is
        eventually consistent and could omit a claim approved just before the cut-off, and a
        query needs a list of claims to ask, which only this history or visibility can give.
        The one window left is a write still in flight when this step reads (an approval in
        the last instant before 00:00, the database slow for longer than the lock took): that
        claim stays AwaitingPublicity and the next period publicises it; it is never lost or
        listed twice."""
        return msg.Gathered(cases=self._gather(request))

    def _gather(self, request: msg.GatherRequest) -> tuple[msg.Case, ...]:
        beat("gather")
        cases = []
        with refusals_are_final(), reading(self._engine) as session:
            published = self._published(session, request.period_id)
            if published is not None:
                return published
            claims = PublicityRepository(session).approved_before(request.plan_id, request.cutoff)
            # One read of each shard for all the claimants, not one store open per case.
            members = current_members(
                self._store_root, session, request.plan_id, [c.member_id for c in claims]
            )
            for number, claim in enumerate(claims, 1):
                beat(f"gather: {number}/{len(claims)}")
                member = members[claim.member_id]
                if claim.benefit_fen is None or member is None:
                    continue  # never approved with a benefit: not a case for a list
                cases.append(
                    msg.Case(
                        claim_id=claim.id,
                        masked_member=mask_id_number(f"{claim.member_id:08d}"),
                        age=age_on(member.birth_date, claim.diagnosis_date),
                        condition=claim.condition,
                        hospital=mask_hospital(claim.hospital),
                        benefit_fen=claim.benefit_fen,
                    )
                )
        return tuple(cases)

    @activity.defn(name=msg.LIST_CASES)
    @pulsing
    def list_cases(self, request: msg.ListRequest) -> msg.Listed:
        """`gather` and `publish` in one step, for periods of thousands of cases: what it
        returns is the ids and benefits only (about 40 bytes a case), so the cases' details
        never enter the period's history. Idempotent as the two are: a list once in SQL is
        the list."""
        cases = self._gather(
            msg.GatherRequest(
                plan_id=request.plan_id, period_id=request.period_id, cutoff=request.cutoff
            )
        )
        published = self._publish(
            msg.PublishRequest(
                plan_id=request.plan_id,
                period_id=request.period_id,
                publicity_date=request.publicity_date,
                cases=cases,
                now=request.now,
            )
        )
        return msg.Listed(
            claim_ids=tuple(c.claim_id for c in cases),
            benefits_fen=tuple(c.benefit_fen for c in cases),
            provisional_share_fen=published.provisional_share_fen,
            list_file=published.list_file,
        )

    def _published(self, session: Session, period_id: int) -> tuple[msg.Case, ...] | None:
        """The period's list as published (None: not published yet)."""
        entries = PublicityRepository(session).entries(period_id)
        if entries:
            return tuple(
                msg.Case(
                    claim_id=e.claim_id,
                    masked_member=e.masked_member,
                    age=e.age,
                    condition=e.condition,
                    hospital=e.hospital,
                    benefit_fen=e.benefit_fen,
                )
                for e in entries
            )
        period = PeriodRepository(session).by_id(period_id)
        if period.state in _LIST_FIXED or self._list_file(period).exists():
            return ()
        return None

    def _list_file(self, period: PeriodRow) -> Path:
        return self._publicity_dir / period.plan_id / f"{period.publicity_date.isoformat()}.json"

    @activity.defn(name=msg.PUBLISH)
    @pulsing
    def publish(self, request: msg.PublishRequest) -> msg.Published:
        """The list in SQL and as a JSON file, with the provisional share (all cases cleared,
        the previous period's surplus carried). Published once: publishing again returns the
        list already published (and rewrites its file only if it was lost)."""
        return self._publish(request)

    def _publish(self, request: msg.PublishRequest) -> msg.Published:
        beat("publish")
        plan = self._plans[request.plan_id]
        with refusals_are_final(), unit_of_work(self._engine) as session:
            periods = PeriodRepository(session)
            period = periods.by_id(request.period_id)
            publicity = PublicityRepository(session)
            already = publicity.entries(request.period_id)
            if already:
                cases = self._published(session, request.period_id) or ()
                share_fen = already[0].provisional_share_fen
            else:
                previous = periods.previous(request.plan_id, request.publicity_date)
                surplus = previous.surplus_out_fen or 0 if previous is not None else 0
                provisional = share_for_cases(
                    [c.benefit_fen for c in request.cases],
                    surplus_in_fen=surplus,
                    members=period.members or 0,
                    fee_rate=plan.sharing.fee_rate,
                    per_case_cap_fen=plan.sharing.case_cap_fen,
                )
                cases, share_fen = request.cases, provisional.share.share_fen
                publicity.publish(
                    request.period_id,
                    # A case on the list is the same record as its SQL entry.
                    [PublicityEntry(**asdict(c)) for c in cases],
                    share_fen=share_fen,
                    at=request.now or roster_cutoff(request.publicity_date),
                )
            path = self._list_file(period)
            members = period.members or 0
        if already and path.exists():
            return msg.Published(provisional_share_fen=share_fen, list_file=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "plan": request.plan_id,
            "publicity_date": request.publicity_date.isoformat(),
            "members": members,
            "provisional_share_fen": share_fen,
            "cases": [asdict(c) for c in cases],
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        temporary.replace(path)
        return msg.Published(provisional_share_fen=share_fen, list_file=str(path))

    @staticmethod
    def _outcome(claim: ClaimRow | None, *, objected: bool) -> PublicityOutcome:
        """A listed case clears only while its claim is still waiting on the list: one that
        an objection moved, or that left the program after it was gathered (withdrawn before
        its publicised signal landed), is not funded, or its benefit would be shared and then
        never paid."""
        if objected or (claim is not None and claim.state in _OBJECTED):
            return PublicityOutcome.OBJECTED
        if claim is None or ClaimState(claim.state) in TERMINAL:
            return PublicityOutcome.LEFT
        return PublicityOutcome.CLEARED

    @activity.defn(name=msg.CLOSE_WINDOW)
    @pulsing
    def close_window(self, request: msg.CloseWindowRequest) -> msg.WindowClosed:
        """Which cases an objection took out of the period (the claim moved to
        re-investigation, or an objection is on file) and which cleared. Read from SQL for
        the reason `gather` gives; an objection is written there by the claim's own activity
        before the claim moves at all, so every objection a claim has acted on is seen."""
        beat("close window")
        cleared: list[str] = []
        objected: list[str] = []
        with refusals_are_final(), unit_of_work(self._engine) as session:
            objections = ObjectionRepository(session)
            publicity = PublicityRepository(session)
            claims = ClaimRepository(session)
            decided = {
                e.claim_id: e.outcome
                for e in publicity.entries(request.period_id)
                if e.outcome != PublicityOutcome.PUBLICISED  # not closed yet
            }
            for number, claim_id in enumerate(request.claim_ids, 1):
                beat(f"close window: {number}/{len(request.claim_ids)}")
                if claim_id in decided:  # closed before: the outcome stands
                    cleared_before = decided[claim_id] == PublicityOutcome.CLEARED
                    (cleared if cleared_before else objected).append(claim_id)
                    continue
                outcome = self._outcome(
                    claims.get(claim_id),
                    objected=objections.count(claim_id=claim_id, period_id=request.period_id) > 0,
                )
                cleared_now = outcome is PublicityOutcome.CLEARED
                (cleared if cleared_now else objected).append(claim_id)
                publicity.set_outcome(request.period_id, claim_id, outcome)
        return msg.WindowClosed(cleared=tuple(cleared), objected=tuple(objected))
