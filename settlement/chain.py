"""The chain checks: a period's roster is built on the previous period's closed, final
snapshot, never beside it; a step's input is proven sound before the step writes anything.

A lock that comes early waits (NotYetError naming what it waits for), a lock of an earlier
day than the plan's latest is refused, and a lock already committed is a no-op that only
finishes a HEAD a killed lock left behind.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from infra.repositories import PeriodRepository
from infra.states import PeriodStage
from messages.periods import workflow_id as period_workflow_id
from mutualaid.calendar import publicity_days_between
from mutualaid.errors import InputError, IntegrityError, NotYetError, RefusedError
from settlement.context import Settlement
from settlement.period_close import final_snapshot
from settlement.results import LockResult
from settlement.snapshots import roster_snapshot
from settlement.store import MemberStore
from settlement.tasks import verify_shard_task


def locked_already(
    session: Session, store: MemberStore, plan_id: str, publicity_date: date
) -> LockResult | None:
    """The lock's result when the roster is committed (a re-run writes nothing, but finishes
    a HEAD a killed lock left behind); refusals for a cancelled day and a lost roster."""
    period = PeriodRepository(session).get(plan_id, publicity_date)
    snapshot = roster_snapshot(publicity_date)
    if period is None:
        return None
    if period.state == PeriodStage.CANCELLED:
        raise RefusedError(
            "period", period.workflow_id, "was cancelled; its cases go to the next period"
        )
    if period.members is None:
        return None
    if not store.has_manifest(snapshot):
        raise IntegrityError(
            "snapshot", snapshot, f"is missing, but {period.workflow_id} is locked in SQL"
        )
    store.advance_head(snapshot)
    return LockResult(
        period=publicity_date.isoformat(),
        snapshot=snapshot,
        members=period.members,
        joined=0,
        exited=0,
        aged_out=0,
        already_done=True,
    )


def chain_parent(session: Session, plan_id: str, publicity_date: date) -> str | None:
    """The final snapshot of the period before this one on the calendar, from SQL (None for a
    plan's first period). Every publicity day between must have run and closed, or have been
    cancelled: a lock never skips a day and never builds beside an open period."""
    periods = PeriodRepository(session)
    latest = periods.latest(plan_id)
    if latest is not None and latest.publicity_date > publicity_date:
        raise RefusedError(
            "publicity_date",
            publicity_date.isoformat(),
            f"is before the plan's latest period {latest.workflow_id}; periods run in order",
        )
    previous = periods.previous(plan_id, publicity_date)
    if previous is None:
        return None
    between = publicity_days_between(
        previous.publicity_date + timedelta(days=1), publicity_date - timedelta(days=1)
    )
    for day in between:
        if periods.get(plan_id, day) is None:
            missing = period_workflow_id(plan_id, day)
            raise NotYetError(
                "period",
                period_workflow_id(plan_id, publicity_date),
                f"waits for {missing} (not started) to run and close, or to be cancelled: "
                "periods never skip a publicity day",
                waiting_for=missing,
            )
    if previous.closed_at is None:
        raise NotYetError(
            "period",
            period_workflow_id(plan_id, publicity_date),
            f"waits for {previous.workflow_id} ({previous.state}) to close: a roster is "
            "built on the previous period's final snapshot",
            waiting_for=previous.workflow_id,
        )
    return final_snapshot(session, previous)


def roster_parent(store: MemberStore, plan_id: str, publicity_date: date, chain: str | None) -> str:
    """The snapshot a period's roster is built on: the previous period's final snapshot
    (`chain`, from `chain_parent`), or the population when the plan has no period yet.
    Checks that the parent's files are all there."""
    parent = chain
    if parent is None:
        parent = store.head()
        if parent is None:
            raise InputError(
                "store", store.base, "has no population; run `population generate` first"
            )
        first = store.manifest(parent)
        if first.kind != "population":
            raise IntegrityError(
                "store HEAD",
                parent,
                f"is a {first.kind} snapshot, but SQL has no period of plan {plan_id} before "
                f"{publicity_date}: the store and the database do not belong together",
            )
    store.check_files(store.manifest(parent))
    return parent


def verify_snapshot(ctx: Settlement, snapshot: str, *, whole: bool = True) -> None:
    """Every shard of a snapshot matches its manifest's checksums (read in parallel on the
    executor): a step's input is proven sound before the step writes anything. `whole` false
    checks only the small parts a debit retry reads, not the full files."""
    store = ctx.store()
    problems = ctx.executor.map(
        verify_shard_task,
        [(ctx.store_root, ctx.plan.id, snapshot, s, whole) for s in range(store.shards)],
        on_done=ctx.progress_of(f"verify {snapshot}"),
    )
    for problem in problems:
        if problem is not None:
            raise IntegrityError("shard", problem.path, problem.reason)
