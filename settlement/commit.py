"""The commit protocol: how a checked step (a roster lock, a debit attempt) writes.

Every step writes in the same order, each write idempotent:

1. freeze the run's plan before any shard runs (a plan file in the store for a lock, the
   debit run's row in SQL for a debit); a resumed step reads the frozen plan back;
2. run one task per shard, each writing its outputs atomically with a done marker last;
3. verify what was written (a debit is reconciled from its ledger files);
4. write the snapshot's manifest;
5. commit in one SQL transaction (a conditional update: of two racing drivers one commits);
6. move HEAD.

A crash at any point leaves a state from which running the same step again finishes it with
the same bytes; a committed step run again writes no row and no file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TypeVar

from infra.db import reading, unit_of_work
from infra.repositories import (
    DebitRunRepository,
    MemberChangeRepository,
    PeriodRepository,
    ShardTotals,
)
from infra.states import DebitRunState
from mutualaid.calendar import debit_day, sharing_day_for, start_of_day
from mutualaid.errors import ConflictError, InvariantError
from mutualaid.membership import MemberChange
from mutualaid.share import Share
from settlement import chain
from settlement.context import Settlement, period_row
from settlement.period_close import record_period_money
from settlement.reconcile import RunTotals, check_run, reconcile_shards
from settlement.results import LockResult, RunResult, run_result
from settlement.run_plan import (
    DebitShardOutcome,
    DebitShardTask,
    LockPlan,
    LockShardOutcome,
    LockShardTask,
    RunPlan,
    decode,
    encode,
)
from settlement.snapshots import attempt_snapshots
from settlement.store import Manifest, MemberStore
from settlement.tasks import debit_task, lock_task

Task = TypeVar("Task", LockShardTask, DebitShardTask)
Outcome = TypeVar("Outcome", LockShardOutcome, DebitShardOutcome)

# -- the roster lock -----------------------------------------------------------------------


def commit_roster(
    ctx: Settlement, plan: LockPlan, *, chain_end: str | None, now: datetime
) -> LockResult:
    """Write a checked lock: open the period (re-checking the chain under the plan's lock),
    freeze the plan, fold each shard, write the manifest, record N, move HEAD."""
    store = ctx.store()
    _open_period(ctx, store, plan, chain_end=chain_end, now=now)
    store.clear_staging(plan.snapshot, store.snapshot_dir(plan.snapshot))
    plan = _freeze_lock_plan(store, plan)
    outcomes = _run_lock_shards(ctx, store, plan)
    _write_manifest(
        ctx,
        store,
        plan.snapshot,
        plan.period,
        kind="roster",
        parent=plan.parent,
        created_at=plan.frozen_at,
        outcomes=outcomes,
    )
    members = _record_roster(ctx, plan, outcomes)
    store.advance_head(plan.snapshot)
    return LockResult(
        period=plan.period.isoformat(),
        snapshot=plan.snapshot,
        members=members,
        joined=sum(o.stats.joined for o in outcomes),
        exited=sum(o.stats.exited for o in outcomes),
        aged_out=sum(o.stats.aged_out for o in outcomes),
        already_done=False,
    )


def frozen_lock_plan(store: MemberStore, snapshot: str) -> LockPlan | None:
    """A lock's frozen plan, when an earlier (killed) run of the same lock wrote it."""
    path = _lock_plan_path(store, snapshot)
    stored = store.read_file(path)
    if stored is None:
        return None
    return LockPlan.from_json(decode(stored, source=path), source=path)


def _open_period(
    ctx: Settlement, store: MemberStore, plan: LockPlan, *, chain_end: str | None, now: datetime
) -> None:
    """The lock's first write. The chain is checked again under the plan's lock in the
    transaction that opens the period, so two locks of different days racing each other can
    never both build on the same parent."""
    with unit_of_work(ctx.db) as session:
        PeriodRepository(session).lock_plan(ctx.plan.id)
        if chain.chain_parent(session, ctx.plan.id, plan.period) != chain_end:
            raise ConflictError(
                "publicity_date", plan.period.isoformat(), "the chain moved while locking"
            )
        chain.locked_already(session, store, ctx.plan.id, plan.period)  # cancelled meanwhile?
        PeriodRepository(session).open(
            ctx.plan.id, plan.period, rules_version=ctx.plan.rules_version, at=now
        )


def _freeze_lock_plan(store: MemberStore, plan: LockPlan) -> LockPlan:
    """Of two drivers of the same lock, the first plan written is the one both follow."""
    path = _lock_plan_path(store, plan.snapshot)
    store.write_if_absent(path, encode(plan.to_json()), step=plan.snapshot)
    return frozen_lock_plan(store, plan.snapshot) or plan


def _run_lock_shards(ctx: Settlement, store: MemberStore, plan: LockPlan) -> list[LockShardOutcome]:
    with reading(ctx.db) as session:
        changes = MemberChangeRepository(session).by_ids(plan.change_ids)
    by_shard: dict[int, list[MemberChange]] = {s: [] for s in range(store.shards)}
    for _, change in changes:
        by_shard[store.shard_of(change.member_id)].append(change)
    tasks = [
        LockShardTask(store_root=ctx.store_root, plan=plan, shard=s, changes=tuple(by_shard[s]))
        for s in range(store.shards)
    ]
    return _run_shards(ctx, lock_task, tasks, f"lock {plan.period}")


def _record_roster(ctx: Settlement, plan: LockPlan, outcomes: Sequence[LockShardOutcome]) -> int:
    members = sum(o.stats.on_roster for o in outcomes)
    with unit_of_work(ctx.db) as session:
        period = period_row(session, ctx.plan.id, plan.period)
        PeriodRepository(session).record_roster(period, members=members)
        MemberChangeRepository(session).mark_applied(plan.change_ids, snapshot=plan.snapshot)
    return members


def _lock_plan_path(store: MemberStore, snapshot: str) -> str:
    return f"{store.snapshot_dir(snapshot)}/plan.json"


# -- a debit attempt -----------------------------------------------------------------------


def commit_attempt(
    ctx: Settlement, publicity_date: date, *, attempt: int, share: Share, now: datetime
) -> RunResult:
    """Write a checked debit attempt: freeze its plan in SQL, debit each shard, reconcile the
    ledgers, write the manifest, commit the run (closing the period on the last attempt),
    move HEAD."""
    store = ctx.store()
    plan, history = _freeze_run_plan(ctx, store, publicity_date, attempt, share, now)
    store.clear_staging(
        plan.output_snapshot,
        store.snapshot_dir(plan.output_snapshot),
        store.ledger_dir(plan.period.isoformat(), attempt),
    )
    outcomes = _run_debit_shards(ctx, plan)
    totals = _reconcile(ctx, plan, outcomes, history)
    _write_manifest(
        ctx,
        store,
        plan.output_snapshot,
        plan.period,
        kind="debit",
        parent=plan.input_snapshot,
        created_at=plan.created_at,
        outcomes=outcomes,
    )
    result = _commit_run(ctx, plan, outcomes, totals, share, now)
    store.advance_head(plan.output_snapshot)
    return result


def _freeze_run_plan(
    ctx: Settlement,
    store: MemberStore,
    publicity_date: date,
    attempt: int,
    share: Share,
    now: datetime,
) -> tuple[RunPlan, list[list[str]]]:
    """Freeze the attempt's plan in SQL before any shard runs (a resumed run finds it frozen
    and follows it); also the ledger checksums of the committed attempts before it."""
    sharing_date = sharing_day_for(publicity_date)
    last = ctx.plan.sharing.debit_retry_days
    input_snapshot, output_snapshot = attempt_snapshots(publicity_date, attempt)
    plan = RunPlan(
        plan_id=ctx.plan.id,
        period=publicity_date,
        sharing_date=sharing_date,
        attempt=attempt,
        share_fen=share.share_fen,
        members=share.members,
        annual_cap_fen=ctx.plan.sharing.annual_cap_fen,
        year=sharing_date.year,
        rules_version=ctx.plan.rules_version,
        input_snapshot=input_snapshot,
        output_snapshot=output_snapshot,
        shards=store.shards,
        remove_unpaid_on=debit_day(sharing_date, attempt) if attempt == last else None,
        # The run's moment on the program calendar, not the clock: a resumed run writes
        # the same manifest as a clean one, whatever --as-of it was given.
        created_at=start_of_day(debit_day(sharing_date, attempt)),
    )
    with unit_of_work(ctx.db) as session:
        period = period_row(session, ctx.plan.id, publicity_date)
        runs = DebitRunRepository(session)
        history = _ledger_history(runs, period.id, attempt, store.shards)
        run, _ = runs.freeze(
            period_id=period.id,
            attempt=attempt,
            share_fen=share.share_fen,
            members=share.members,
            input_snapshot=input_snapshot,
            frozen_plan=plan.to_json(),
            at=now,
        )
        source = f"debit run {period.workflow_id} attempt {attempt}"
        return RunPlan.from_json(run.frozen_plan, source=source), history


def _ledger_history(
    runs: DebitRunRepository, period_id: int, attempt: int, shards: int
) -> list[list[str]]:
    """For each shard, the ledger checksums of the committed attempts before this one."""
    history: list[list[str]] = [[] for _ in range(shards)]
    for earlier in range(attempt):
        run = runs.get(period_id, earlier)
        if run is None or run.state != DebitRunState.COMMITTED:
            raise InvariantError(f"attempt {earlier} of period {period_id} is not committed")
        for shard in runs.shards(run):
            history[shard.shard].append(shard.ledger_sha256)
    return history


def _run_debit_shards(ctx: Settlement, plan: RunPlan) -> list[DebitShardOutcome]:
    tasks = [
        DebitShardTask(store_root=ctx.store_root, plan=plan, shard=s) for s in range(plan.shards)
    ]
    return _run_shards(ctx, debit_task, tasks, f"debit {plan.period} attempt {plan.attempt}")


def _reconcile(
    ctx: Settlement,
    plan: RunPlan,
    outcomes: Sequence[DebitShardOutcome],
    history: Sequence[Sequence[str]],
) -> RunTotals:
    """Reconcile the attempt from the ledger files it wrote, never from memory; raises
    before anything is committed when they do not balance."""
    totals = reconcile_shards(
        ctx.executor,
        ctx.store_root,
        plan,
        outcomes,
        history=history,
        on_done=ctx.progress_of(f"reconcile {plan.period} attempt {plan.attempt}"),
    )
    check_run(plan, totals)
    return totals


def _commit_run(
    ctx: Settlement,
    plan: RunPlan,
    outcomes: Sequence[DebitShardOutcome],
    totals: RunTotals,
    share: Share,
    now: datetime,
) -> RunResult:
    """One SQL transaction: the shards' rows, the run committed (by one driver only), and the
    period's money; the last attempt closes the period."""
    final = plan.attempt == ctx.plan.sharing.debit_retry_days
    with unit_of_work(ctx.db) as session:
        period = period_row(session, ctx.plan.id, plan.period)
        runs = DebitRunRepository(session)
        run = runs.get(period.id, plan.attempt)
        if run is None:
            raise InvariantError(f"debit run {period.workflow_id}/{plan.attempt} vanished")
        for outcome in outcomes:
            runs.record_shard(run, _shard_totals(outcome))
        committed_now = runs.commit(run, at=now)
        if committed_now:
            record_period_money(
                session, period, share, final=final, removed=totals.removed, now=now
            )
        return run_result(
            run,
            plan.period.isoformat(),
            plan.output_snapshot,
            rows=totals.rows,
            removed=totals.removed,
            already_done=not committed_now,
            closed=period.closed_at is not None,
        )


def _shard_totals(outcome: DebitShardOutcome) -> ShardTotals:
    return ShardTotals(
        shard=outcome.shard,
        rows=outcome.stats.rows,
        paid_fen=outcome.stats.paid_fen,
        unpaid_fen=outcome.stats.unpaid_fen,
        subsidy_fen=outcome.stats.subsidy_fen,
        ledger_path=outcome.ledger.path,
        ledger_sha256=outcome.ledger.sha256,
    )


# -- the steps both share ------------------------------------------------------------------


def _run_shards(
    ctx: Settlement, task: Callable[[Task], Outcome], tasks: Sequence[Task], label: str
) -> list[Outcome]:
    return ctx.executor.map(task, [(t,) for t in tasks], on_done=ctx.progress_of(label))


def _write_manifest(
    ctx: Settlement,
    store: MemberStore,
    snapshot: str,
    period: date,
    *,
    kind: str,
    parent: str,
    created_at: datetime,
    outcomes: Sequence[LockShardOutcome] | Sequence[DebitShardOutcome],
) -> None:
    """The snapshot's manifest (of a snapshot of `kind` built on `parent`), after all its
    shards and before SQL; HEAD moves last."""
    manifest = Manifest(
        snapshot=snapshot,
        plan_id=ctx.plan.id,
        kind=kind,
        parent=parent,
        rules_version=ctx.plan.rules_version,
        period=period.isoformat(),
        shards=tuple(o.file for o in outcomes),
        created_at=created_at.isoformat(),
    )
    store.commit_snapshot(manifest, move_head=False)
