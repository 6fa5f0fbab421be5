"""The period workflow's activities: thin adapters over the settlement engine and SQL.

Each is idempotent: the engine's steps are no-ops once committed and resume the same run
after a crash; SQL writes go through unique keys. Long steps heartbeat from the engine's
progress, so a dead worker is noticed and the step resumes on another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from activities.failures import refusals_are_final
from infra.db import reading, unit_of_work
from infra.repositories import (
    ClaimRepository,
    ObjectionRepository,
    PayoutRepository,
    PeriodRepository,
    PublicityEntry,
    PublicityRepository,
)
from mutualaid.calendar import age_on
from mutualaid.claim import ClaimState
from mutualaid.masking import mask_hospital, mask_id_number
from mutualaid.plan import Plan
from mutualaid.share import compute_share, payable_under_case_cap
from settlement.engine import (
    DEFAULT_OPENING_FUNDS_FEN,
    Settlement,
    debit,
    fix_share,
    lock_roster,
    retry,
)
from settlement.executor import Executor
from settlement.members import current_member
from settlement.reconcile_period import reconcile_period
from workflows import period_messages as msg

_OBJECTED = {ClaimState.REINVESTIGATING.value, ClaimState.FINALLY_DENIED.value}


class PeriodActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        store_root: str,
        plans: Mapping[str, Plan],
        executor: Callable[[], Executor],
        publicity_dir: Path,
        opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
    ) -> None:
        self._opening_funds_fen = opening_funds_fen
        self._engine = engine
        self._store_root = store_root
        self._plans = dict(plans)
        self._executor = executor
        self._publicity_dir = publicity_dir

    @property
    def all(self) -> list[Callable[..., Any]]:
        return [
            self.lock,
            self.gather,
            self.publish,
            self.close_window,
            self.fix_share,
            self.debit,
            self.retry,
            self.final_report,
        ]

    def _settlement(self, plan_id: str) -> Settlement:
        def heartbeat(label: str) -> Callable[[int, int], None]:
            return lambda done, total: activity.heartbeat(f"{label}: {done}/{total}")

        return Settlement(
            db=self._engine,
            store_root=self._store_root,
            plan=self._plans[plan_id],
            executor=self._executor(),
            progress=heartbeat,
        )

    @activity.defn(name=msg.LOCK)
    def lock(self, request: msg.LockRequest) -> msg.Locked:
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            result = lock_roster(
                ctx,
                request.publicity_date,
                now=request.now,
                opening_funds_fen=self._opening_funds_fen,
            )
            with unit_of_work(self._engine) as session:
                period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
                assert period is not None
                period_id = period.id
        sharing = ctx.plan.sharing
        return msg.Locked(
            period_id=period_id,
            members=result.members,
            objection_window_days=sharing.objection_window_days,
            retry_days=sharing.debit_retry_days,
            payout_deadline_days=sharing.payout_deadline_days,
        )

    @activity.defn(name=msg.GATHER)
    def gather(self, request: msg.GatherRequest) -> msg.Gathered:
        """The approved cases this period publicises, masked for the public list."""
        cases = []
        with refusals_are_final(), reading(self._engine) as session:
            for claim in PublicityRepository(session).approved_before(
                request.plan_id, request.cutoff
            ):
                member = current_member(self._store_root, session, claim.plan_id, claim.member_id)
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
        return msg.Gathered(cases=tuple(cases))

    @activity.defn(name=msg.PUBLISH)
    def publish(self, request: msg.PublishRequest) -> msg.Published:
        """The list in SQL and as a JSON file, with the provisional share (all cases cleared,
        the previous period's surplus carried)."""
        plan = self._plans[request.plan_id]
        with refusals_are_final(), unit_of_work(self._engine) as session:
            periods = PeriodRepository(session)
            period = periods.by_id(request.period_id)
            previous = periods.previous(request.plan_id, request.publicity_date)
            surplus = previous.surplus_out_fen or 0 if previous is not None else 0
            provisional = compute_share(
                aid_fen=sum(c.benefit_fen for c in request.cases),
                surplus_in_fen=surplus,
                members=period.members or 0,
                fee_rate=plan.sharing.fee_rate,
            )
            PublicityRepository(session).publish(
                request.period_id,
                [
                    PublicityEntry(
                        claim_id=c.claim_id,
                        masked_member=c.masked_member,
                        age=c.age,
                        condition=c.condition,
                        hospital=c.hospital,
                        benefit_fen=c.benefit_fen,
                    )
                    for c in request.cases
                ],
                share_fen=provisional.share_fen,
                at=datetime.now(UTC),
            )
        path = self._publicity_dir / request.plan_id / f"{request.publicity_date.isoformat()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "plan": request.plan_id,
            "publicity_date": request.publicity_date.isoformat(),
            "members": provisional.members,
            "provisional_share_fen": provisional.share_fen,
            "cases": [asdict(c) for c in request.cases],
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        temporary.replace(path)
        return msg.Published(provisional_share_fen=provisional.share_fen, list_file=str(path))

    @activity.defn(name=msg.CLOSE_WINDOW)
    def close_window(self, request: msg.CloseWindowRequest) -> msg.WindowClosed:
        """Which cases an objection took out of the period (the claim moved to
        re-investigation, or an objection is on file) and which cleared."""
        cleared, objected = [], []
        with refusals_are_final(), unit_of_work(self._engine) as session:
            objections = ObjectionRepository(session)
            publicity = PublicityRepository(session)
            claims = ClaimRepository(session)
            for claim_id in request.claim_ids:
                claim = claims.get(claim_id)
                out = (
                    claim is None
                    or claim.state in _OBJECTED
                    or objections.count(claim_id=claim_id, period_id=request.period_id) > 0
                )
                (objected if out else cleared).append(claim_id)
                publicity.set_outcome(request.period_id, claim_id, "objected" if out else "cleared")
        return msg.WindowClosed(cleared=tuple(cleared), objected=tuple(objected))

    @activity.defn(name=msg.FIX_SHARE)
    def fix_share(self, request: msg.ShareRequest) -> msg.ShareFixed:
        plan = self._plans[request.plan_id]
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            with unit_of_work(self._engine) as session:
                period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
                assert period is not None and period.members is not None
                members = period.members
            payouts = list(request.benefits_fen)
            if plan.sharing.per_case_cap_enabled:
                payouts = payable_under_case_cap(
                    payouts, members=members, per_member_cap_fen=plan.sharing.per_case_cap_fen
                )
            share = fix_share(ctx, request.publicity_date, aid_fen=sum(payouts))
        return msg.ShareFixed(
            aid_fen=share.aid_fen,
            fee_fen=share.fee_fen,
            surplus_in_fen=share.surplus_in_fen,
            members=share.members,
            share_fen=share.share_fen,
            payouts_fen=tuple(payouts),
        )

    @activity.defn(name=msg.DEBIT)
    def debit(self, request: msg.DebitRequest) -> msg.Debited:
        with refusals_are_final():
            result = debit(
                self._settlement(request.plan_id),
                request.sharing_date,
                aid_fen=request.aid_fen,
                now=request.now,
            )
        return _debited(result)

    @activity.defn(name=msg.RETRY)
    def retry(self, request: msg.DebitRequest) -> msg.Debited:
        with refusals_are_final():
            result = retry(
                self._settlement(request.plan_id),
                request.sharing_date,
                now=request.now,
                attempt=request.attempt,
            )
        return _debited(result)

    @activity.defn(name=msg.FINAL_REPORT)
    def final_report(self, request: msg.ReportRequest) -> msg.PeriodReport:
        """Reconcile the period again from its ledgers, count the payouts, store the report."""
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            check = reconcile_period(ctx, request.publicity_date)
            with unit_of_work(self._engine) as session:
                periods = PeriodRepository(session)
                period = periods.by_id(request.period_id)
                paid = {
                    p.claim_id: p.amount_fen
                    for p in PayoutRepository(session).for_period(request.period_id)
                    if p.state == "paid"
                }
                missing = tuple(c for c in request.funded_claims if c not in paid)
                report = msg.PeriodReport(
                    period=period.workflow_id,
                    members=period.members or 0,
                    cases=len(request.funded_claims),
                    aid_fen=period.aid_fen or 0,
                    fee_fen=period.fee_fen or 0,
                    surplus_in_fen=period.surplus_in_fen or 0,
                    share_fen=period.share_fen or 0,
                    collected_fen=period.collected_fen or 0,
                    unpaid_fen=period.unpaid_fen or 0,
                    subsidy_fen=period.subsidy_fen or 0,
                    surplus_out_fen=period.surplus_out_fen or 0,
                    payouts_made=len(paid),
                    payouts_fen=sum(paid.values()),
                    payouts_missing=missing,
                    balanced=check.balanced,
                )
                periods.add_to_report(
                    period,
                    {
                        "cases": report.cases,
                        "payouts_made": report.payouts_made,
                        "payouts_fen": report.payouts_fen,
                        "payouts_missing": list(missing),
                        "balanced": check.balanced,
                        "problems": check.problems,
                    },
                )
        return report


def _debited(result: Any) -> msg.Debited:
    return msg.Debited(
        attempt=result.attempt,
        paid_fen=result.paid_fen,
        unpaid_fen=result.unpaid_fen,
        subsidy_fen=result.subsidy_fen,
        removed=result.removed,
        period_closed=result.period_closed,
    )
