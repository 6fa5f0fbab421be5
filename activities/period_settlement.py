"""The period's money steps: lock the roster, fix the share, the debit and its retries. Thin
adapters over the settlement engine (`settlement.engine`, `settlement.steps`), which makes each
idempotent: a committed step is a no-op, a crashed one resumes the same run, never a second.
Each heartbeats per shard (`activities.heartbeats`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from temporalio import activity

from activities.failures import refusals_are_final
from activities.heartbeats import beat, pulsing, shard_progress
from infra.db import unit_of_work
from infra.repositories import PeriodRepository
from messages import periods as msg
from mutualaid.errors import InvariantError
from mutualaid.plan import Plan
from settlement.engine import DEFAULT_OPENING_FUNDS_FEN, RunResult, Settlement, fix_share
from settlement.executor import Executor
from settlement.steps import debit, lock_roster, retry


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementSource:
    """Where the engine's runs happen: SQL, the member store, the plans, the executor."""

    engine: Engine
    store_root: str
    plans: Mapping[str, Plan]
    executor: Callable[[], Executor]

    def open(self, plan_id: str) -> Settlement:
        """The engine for one plan, reporting each shard done to the running step's
        heartbeats. Call it inside the step (it takes the step's heartbeats)."""
        return Settlement(
            db=self.engine,
            store_root=self.store_root,
            plan=self.plans[plan_id],
            executor=self.executor(),
            progress=shard_progress(),
        )


class PeriodSettlementActivities:
    def __init__(
        self, *, source: SettlementSource, opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN
    ) -> None:
        self._source = source
        self._opening_funds_fen = opening_funds_fen

    @activity.defn(name=msg.LOCK)
    @pulsing
    def lock(self, request: msg.LockRequest) -> msg.Locked:
        with refusals_are_final():
            ctx = self._source.open(request.plan_id)
            result = lock_roster(
                ctx,
                request.publicity_date,
                now=request.now,
                opening_funds_fen=self._opening_funds_fen,
            )
            with unit_of_work(self._source.engine) as session:
                period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
                if period is None:
                    raise InvariantError(f"locked {request.publicity_date} but no period row")
                period_id = period.id
        sharing = ctx.plan.sharing
        return msg.Locked(
            period_id=period_id,
            members=result.members,
            objection_window_days=sharing.objection_window_days,
            retry_days=sharing.debit_retry_days,
            payout_deadline_days=sharing.payout_deadline_days,
        )

    @activity.defn(name=msg.FIX_SHARE)
    @pulsing
    def fix_share(self, request: msg.ShareRequest) -> msg.ShareFixed:
        """The share from the cleared cases; the engine applies the plan's per-case cap and
        says what each case is paid."""
        beat("fix share")
        with refusals_are_final():
            fixed = fix_share(
                self._source.open(request.plan_id),
                request.publicity_date,
                cases_fen=request.benefits_fen,
            )
        share = fixed.share
        return msg.ShareFixed(
            aid_fen=share.aid_fen,
            fee_fen=share.fee_fen,
            surplus_in_fen=share.surplus_in_fen,
            members=share.members,
            share_fen=share.share_fen,
            payouts_fen=fixed.payouts_fen,
        )

    @activity.defn(name=msg.DEBIT)
    @pulsing
    def debit(self, request: msg.DebitRequest) -> msg.Debited:
        beat("debit")
        with refusals_are_final():
            result = debit(
                self._source.open(request.plan_id),
                request.sharing_date,
                aid_fen=request.aid_fen,
                now=request.now,
            )
        return _debited(result)

    @activity.defn(name=msg.RETRY)
    @pulsing
    def retry(self, request: msg.DebitRequest) -> msg.Debited:
        beat(f"retry {request.attempt}")
        with refusals_are_final():
            result = retry(
                self._source.open(request.plan_id),
                request.sharing_date,
                now=request.now,
                attempt=request.attempt,
            )
        return _debited(result)


def _debited(result: RunResult) -> msg.Debited:
    return msg.Debited(
        attempt=result.attempt,
        paid_fen=result.paid_fen,
        unpaid_fen=result.unpaid_fen,
        subsidy_fen=result.subsidy_fen,
        removed=result.removed,
        period_closed=result.period_closed,
    )
