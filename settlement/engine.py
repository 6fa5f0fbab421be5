"""The settlement driver: the roster lock on publicity day, the debit on sharing day and the
daily retries, each under the commit protocol.

For every run: (1) freeze the run's plan before any shard runs (SQL for debits, a plan file
for the lock); (2) run one task per shard, each writing its outputs atomically with a done
marker; (3) reconcile from the written files; (4) write the snapshot manifest; (5) commit in
one SQL transaction; (6) move HEAD. A crash at any point leaves a state from which running
the same command again finishes the job with the same bytes; a committed run is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from infra.db import unit_of_work
from infra.models import DebitRunRow, PeriodRow
from infra.repositories import (
    DebitRunRepository,
    MemberChangeRepository,
    PeriodRepository,
    ShardTotals,
)
from mutualaid.calendar import (
    is_sharing_day,
    publicity_day_for,
    roster_cutoff,
    sharing_day_for,
    start_of_day,
)
from mutualaid.errors import InputError, InvariantError
from mutualaid.membership import ChangeKind, change_to_record
from mutualaid.plan import Plan
from mutualaid.share import Share, compute_share, surplus_out
from settlement.executor import Executor, Progress
from settlement.reconcile import RunTotals, check_run, reconcile_shards
from settlement.store import Manifest, MemberStore
from settlement.tasks import debit_task, lock_task, shard_file_from

# Simulated rail: what a newly joined member's linked account holds when first locked.
DEFAULT_OPENING_FUNDS_FEN = 100_00


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """What every run needs: the SQL engine, the member store, the plan, where tasks run."""

    db: Engine
    store_root: str
    plan: Plan
    executor: Executor
    progress: Callable[[str], Progress] | None = None

    def store(self) -> MemberStore:
        return MemberStore.open(self.store_root, self.plan.id)

    def _progress(self, label: str) -> Progress | None:
        return self.progress(label) if self.progress is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockResult:
    period: str
    snapshot: str
    members: int
    joined: int
    exited: int
    aged_out: int
    already_done: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    period: str
    attempt: int
    share_fen: int
    members: int
    rows: int
    charge_fen: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    removed: int | None
    snapshot: str
    already_done: bool
    period_closed: bool


def lock_roster(
    ctx: Settlement,
    publicity_date: date,
    *,
    now: datetime,
    opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
) -> LockResult:
    """Lock the period's roster at 00:00 on the publicity day: fold the member changes that
    took effect before that day, remove members at the exit age, count N."""
    roster_cutoff(publicity_date)  # refuses a day that is not the 7th or 21st
    if now < roster_cutoff(publicity_date):
        raise InputError(
            "publicity_date",
            publicity_date.isoformat(),
            "is in the future: the roster locks at 00:00",
        )
    store = ctx.store()
    snapshot = f"roster-{publicity_date.isoformat()}"
    with unit_of_work(ctx.db) as session:
        period, _ = PeriodRepository(session).open(
            ctx.plan.id, publicity_date, rules_version=ctx.plan.rules_version, at=now
        )
        locked_members = period.members
    frozen = _frozen_lock(ctx, store, publicity_date, snapshot, opening_funds_fen)
    if locked_members is not None and store.has_manifest(snapshot):
        _advance_head(store, frozen["parent"], snapshot)
        return LockResult(
            period=publicity_date.isoformat(),
            snapshot=snapshot,
            members=locked_members,
            joined=0,
            exited=0,
            aged_out=0,
            already_done=True,
        )
    with unit_of_work(ctx.db) as session:
        changes = MemberChangeRepository(session).by_ids(frozen["change_ids"])
    by_shard: dict[int, list[dict[str, Any]]] = {s: [] for s in range(store.shards)}
    for _, change in changes:
        by_shard[store.shard_of(change.member_id)].append(change_to_record(change))
    results = ctx.executor.map(
        lock_task,
        [(ctx.store_root, ctx.plan.id, frozen, s, by_shard[s]) for s in range(store.shards)],
        on_done=ctx._progress(f"lock {publicity_date}"),
    )
    members = sum(int(r["stats"]["on_roster"]) for r in results)
    manifest = Manifest(
        snapshot=snapshot,
        plan_id=ctx.plan.id,
        kind="roster",
        parent=frozen["parent"],
        rules_version=ctx.plan.rules_version,
        period=publicity_date.isoformat(),
        shards=tuple(shard_file_from(r) for r in results),
        created_at=frozen["frozen_at"],
    )
    store.commit_snapshot(manifest, move_head=False)
    with unit_of_work(ctx.db) as session:
        period_row = _period(session, ctx.plan.id, publicity_date)
        PeriodRepository(session).record_roster(period_row, members=members)
        MemberChangeRepository(session).mark_applied(frozen["change_ids"], snapshot=snapshot)
    _advance_head(store, frozen["parent"], snapshot)
    return LockResult(
        period=publicity_date.isoformat(),
        snapshot=snapshot,
        members=members,
        joined=sum(int(r["stats"]["joined"]) for r in results),
        exited=sum(int(r["stats"]["exited"]) for r in results),
        aged_out=sum(int(r["stats"]["aged_out"]) for r in results),
        already_done=False,
    )


def _frozen_lock(
    ctx: Settlement, store: MemberStore, publicity_date: date, snapshot: str, opening_funds: int
) -> dict[str, Any]:
    """The lock's frozen plan: its parent snapshot and the exact changes it folds. Written
    once before any shard runs; a resumed lock reads it back instead of looking again."""
    path = f"{store.snapshot_dir(snapshot)}/plan.json"
    stored = store.read_file(path)
    if stored is not None:
        frozen: dict[str, Any] = json.loads(stored)
        return frozen
    parent = store.head()
    if parent is not None:
        parent_manifest = store.manifest(parent)
        if (
            parent_manifest.period is not None
            and parent_manifest.period >= publicity_date.isoformat()
        ):
            raise InputError(
                "publicity_date",
                publicity_date.isoformat(),
                f"is not after the store's latest period {parent_manifest.period}",
            )
    if parent is not None:
        store.check_files(store.manifest(parent))
    with unit_of_work(ctx.db) as session:
        pending = MemberChangeRepository(session).pending(ctx.plan.id, before=publicity_date)
    for _, change in pending:
        if (
            change.kind is ChangeKind.JOIN
            and change.payer_id is not None
            and store.shard_of(change.payer_id) != store.shard_of(change.member_id)
        ):
            raise InputError(
                "payer_id",
                change.payer_id,
                f"pays for member {change.member_id} in another shard; family members get "
                "ids in their payer's shard",
            )
    frozen = {
        "plan_id": ctx.plan.id,
        "period": publicity_date.isoformat(),
        "snapshot": snapshot,
        "parent": parent,
        "change_ids": [change_id for change_id, _ in pending],
        "exit_age_years": ctx.plan.joining.exit_age_years,
        "opening_funds_fen": opening_funds,
        "rules_version": ctx.plan.rules_version,
        "frozen_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.write_file(path, json.dumps(frozen, sort_keys=True).encode())
    return frozen


def fix_share(ctx: Settlement, publicity_date: date, *, aid_fen: int) -> Share:
    """Fix the period's share from the aid of its cleared cases, the fee and the surplus or
    deficit the previous period carried. Fixing it again with the same aid gives the same
    share; with another aid it is refused."""
    if aid_fen < 0:
        raise InputError("aid_fen", aid_fen, "must not be negative")
    with unit_of_work(ctx.db) as session:
        periods = PeriodRepository(session)
        period = _period(session, ctx.plan.id, publicity_date)
        if period.members is None:
            raise InputError(
                "period", period.workflow_id, "has no locked roster; run `settle lock` first"
            )
        if period.share_fen is not None and period.aid_fen != aid_fen:
            raise InputError(
                "aid_fen",
                aid_fen,
                f"the share of {period.workflow_id} was fixed with aid {period.aid_fen}",
            )
        previous = periods.previous(ctx.plan.id, publicity_date)
        if previous is None:
            surplus_in = 0
        elif previous.surplus_out_fen is None:
            raise InputError(
                "period", previous.workflow_id, "is not closed yet, so its surplus is unknown"
            )
        else:
            surplus_in = previous.surplus_out_fen
        share = compute_share(
            aid_fen=aid_fen,
            surplus_in_fen=surplus_in,
            members=period.members,
            fee_rate=ctx.plan.sharing.fee_rate,
        )
        periods.record_share(period, share)
    return share


def debit(ctx: Settlement, sharing_date: date, *, aid_fen: int, now: datetime) -> RunResult:
    """The sharing-day debit (attempt 0): every roster member owes the period's share."""
    publicity_date = _publicity_for(sharing_date)
    if now < start_of_day(sharing_date):
        raise InputError("sharing_date", sharing_date.isoformat(), "has not come yet")
    share = fix_share(ctx, publicity_date, aid_fen=aid_fen)
    return _run(ctx, publicity_date, attempt=0, share=share, now=now)


def retry(
    ctx: Settlement, sharing_date: date, *, now: datetime, attempt: int | None = None
) -> RunResult:
    """The next debit retry (1..retry days) of a period, touching only what is unpaid; the last
    one removes members still unpaid and closes the period."""
    publicity_date = _publicity_for(sharing_date)
    last = ctx.plan.sharing.debit_retry_days
    with unit_of_work(ctx.db) as session:
        period = _period(session, ctx.plan.id, publicity_date)
        committed = _committed_attempts(session, period)
        share = _share_of(period)
    wanted = attempt if attempt is not None else next_retry_attempt(ctx, sharing_date)
    if not 1 <= wanted <= last:
        raise InputError("attempt", wanted, f"must be between 1 and {last}")
    if wanted - 1 not in committed:
        raise InputError("attempt", wanted, f"attempt {wanted - 1} is not committed yet")
    if now < start_of_day(sharing_date + timedelta(days=wanted)):
        raise InputError("attempt", wanted, f"is due on {sharing_date + timedelta(days=wanted)}")
    return _run(ctx, publicity_date, attempt=wanted, share=share, now=now)


def next_retry_attempt(ctx: Settlement, sharing_date: date) -> int:
    """The retry a plain `settle retry` runs: the one after the last committed attempt (the
    last attempt again, a no-op, once all are done)."""
    with unit_of_work(ctx.db) as session:
        period = _period(session, ctx.plan.id, _publicity_for(sharing_date))
        committed = _committed_attempts(session, period)
    if 0 not in committed:
        raise InputError("sharing_date", sharing_date.isoformat(), "has no committed debit yet")
    return min(max(committed) + 1, ctx.plan.sharing.debit_retry_days)


def _committed_attempts(session: Any, period: PeriodRow) -> list[int]:
    return [
        r.attempt for r in DebitRunRepository(session).runs(period.id) if r.state == "committed"
    ]


def _run(
    ctx: Settlement, publicity_date: date, *, attempt: int, share: Share, now: datetime
) -> RunResult:
    store = ctx.store()
    period_key = publicity_date.isoformat()
    sharing_date = sharing_day_for(publicity_date)
    last = ctx.plan.sharing.debit_retry_days
    input_snapshot = (
        f"roster-{period_key}" if attempt == 0 else f"debit-{period_key}-a{attempt - 1}"
    )
    output_snapshot = f"debit-{period_key}-a{attempt}"
    # The input must be committed, of this plan, and have all its files: checked before the
    # run is frozen, so bad input stops the run with nothing written.
    store.check_files(store.manifest(input_snapshot))
    with unit_of_work(ctx.db) as session:
        period = _period(session, ctx.plan.id, publicity_date)
        runs = DebitRunRepository(session)
        existing = runs.get(period.id, attempt)
        if existing is not None and existing.state == "committed":
            _advance_head(store, input_snapshot, output_snapshot)
            rows = sum(shard.rows for shard in runs.shards(existing))
            return _result(
                existing,
                period_key,
                output_snapshot,
                rows=rows,
                removed=None,
                already_done=True,
                closed=period.closed_at is not None,
            )
        history = _ledger_history(runs, period.id, attempt, store.shards)
        frozen = {
            "plan_id": ctx.plan.id,
            "period": period_key,
            "sharing_date": sharing_date.isoformat(),
            "attempt": attempt,
            "share_fen": share.share_fen,
            "members": share.members,
            "annual_cap_fen": ctx.plan.sharing.annual_cap_fen,
            "year": sharing_date.year,
            "rules_version": ctx.plan.rules_version,
            "input_snapshot": input_snapshot,
            "output_snapshot": output_snapshot,
            "shards": store.shards,
            "remove_unpaid_on": (sharing_date + timedelta(days=attempt)).isoformat()
            if attempt == last
            else None,
        }
        run, _ = runs.freeze(
            period_id=period.id,
            attempt=attempt,
            share_fen=share.share_fen,
            members=share.members,
            input_snapshot=input_snapshot,
            frozen_plan=frozen,
            at=now,
        )
        frozen = dict(run.frozen_plan)
        planned_at = run.planned_at
    results = ctx.executor.map(
        debit_task,
        [(ctx.store_root, ctx.plan.id, frozen, s) for s in range(store.shards)],
        on_done=ctx._progress(f"debit {period_key} attempt {attempt}"),
    )
    totals = reconcile_shards(
        ctx.executor, ctx.store_root, ctx.plan.id, frozen, results, history=history
    )
    check_run(frozen, totals)
    manifest = Manifest(
        snapshot=output_snapshot,
        plan_id=ctx.plan.id,
        kind="debit",
        parent=input_snapshot,
        rules_version=ctx.plan.rules_version,
        period=period_key,
        shards=tuple(shard_file_from(r) for r in results),
        created_at=planned_at.isoformat(timespec="seconds"),
    )
    store.commit_snapshot(manifest, move_head=False)
    with unit_of_work(ctx.db) as session:
        period = _period(session, ctx.plan.id, publicity_date)
        runs = DebitRunRepository(session)
        run_row = runs.get(period.id, attempt)
        if run_row is None:
            raise InvariantError(f"debit run {period.workflow_id}/{attempt} vanished")
        for r in results:
            runs.record_shard(
                run_row,
                ShardTotals(
                    shard=int(r["shard"]),
                    rows=int(r["stats"]["rows"]),
                    paid_fen=int(r["stats"]["paid_fen"]),
                    unpaid_fen=int(r["stats"]["unpaid_fen"]),
                    subsidy_fen=int(r["stats"]["subsidy_fen"]),
                    ledger_path=str(r["ledger"]["path"]),
                    ledger_sha256=str(r["ledger"]["sha256"]),
                ),
            )
        committed_now = runs.commit(run_row, at=now)
        if committed_now:
            _record_period_money(
                session, period, runs.runs(period.id), share, attempt == last, totals, now
            )
        result = _result(
            run_row,
            period_key,
            output_snapshot,
            rows=totals.rows,
            removed=totals.removed,
            already_done=not committed_now,
            closed=period.closed_at is not None,
        )
    _advance_head(store, input_snapshot, output_snapshot)
    return result


def _record_period_money(
    session: Any,
    period: PeriodRow,
    runs: list[DebitRunRow],
    share: Share,
    final: bool,
    totals: RunTotals,
    now: datetime,
) -> None:
    committed = [r for r in runs if r.state == "committed"]
    paid = sum(r.paid_fen or 0 for r in committed)
    subsidy = sum(r.subsidy_fen or 0 for r in committed)
    latest = max(committed, key=lambda r: r.attempt)
    unpaid = latest.unpaid_fen or 0
    collected = paid + subsidy
    periods = PeriodRepository(session)
    if not final:
        periods.record_collection(
            period, collected_fen=collected, unpaid_fen=unpaid, subsidy_fen=subsidy
        )
        return
    surplus = surplus_out(
        collected_fen=collected,
        aid_fen=share.aid_fen,
        fee_fen=share.fee_fen,
        surplus_in_fen=share.surplus_in_fen,
    )
    if collected + unpaid != share.billed_fen:
        raise InvariantError(
            f"period {period.workflow_id}: collected {collected} + unpaid {unpaid} "
            f"!= share x N {share.billed_fen}"
        )
    report = {
        "plan": period.plan_id,
        "publicity_date": period.publicity_date.isoformat(),
        "sharing_date": period.sharing_date.isoformat(),
        "rules_version": period.rules_version,
        "members": share.members,
        "aid_fen": share.aid_fen,
        "fee_fen": share.fee_fen,
        "surplus_in_fen": share.surplus_in_fen,
        "share_fen": share.share_fen,
        "billed_fen": share.billed_fen,
        "paid_by_members_fen": paid,
        "operator_subsidy_fen": subsidy,
        "collected_fen": collected,
        "unpaid_fen": unpaid,
        "surplus_out_fen": surplus,
        "removed_members": totals.removed,
        "attempts": len(committed),
    }
    periods.close(
        period,
        collected_fen=collected,
        unpaid_fen=unpaid,
        subsidy_fen=subsidy,
        surplus_out_fen=surplus,
        report=report,
        at=now,
    )


def _ledger_history(
    runs: DebitRunRepository, period_id: int, attempt: int, shards: int
) -> list[list[str]]:
    """For each shard, the ledger checksums of the committed attempts before this one."""
    history: list[list[str]] = [[] for _ in range(shards)]
    for earlier in range(attempt):
        run = runs.get(period_id, earlier)
        if run is None or run.state != "committed":
            raise InvariantError(f"attempt {earlier} of period {period_id} is not committed")
        for shard in runs.shards(run):
            history[shard.shard].append(shard.ledger_sha256)
    return history


def _result(
    run: DebitRunRow,
    period: str,
    snapshot: str,
    *,
    rows: int,
    removed: int | None,
    already_done: bool,
    closed: bool,
) -> RunResult:
    return RunResult(
        period=period,
        attempt=run.attempt,
        share_fen=run.share_fen,
        members=run.members,
        rows=rows,
        charge_fen=(run.paid_fen or 0) + (run.unpaid_fen or 0),
        paid_fen=run.paid_fen or 0,
        unpaid_fen=run.unpaid_fen or 0,
        subsidy_fen=run.subsidy_fen or 0,
        removed=removed,
        snapshot=snapshot,
        already_done=already_done,
        period_closed=closed,
    )


def _advance_head(store: MemberStore, expected_parent: str | None, snapshot: str) -> None:
    """Move HEAD to a committed snapshot, but only forward from its parent: a resumed old run
    never moves HEAD back over later work."""
    if store.head() == expected_parent:
        store.set_head(snapshot)


def _publicity_for(sharing_date: date) -> date:
    if not is_sharing_day(sharing_date):
        raise InputError("sharing_date", sharing_date.isoformat(), "is not the 14th or 28th")
    return publicity_day_for(sharing_date)


def _period(session: Any, plan_id: str, publicity_date: date) -> PeriodRow:
    period = PeriodRepository(session).get(plan_id, publicity_date)
    if period is None:
        raise InputError(
            "period",
            f"period-{plan_id}-{publicity_date.isoformat()}",
            "does not exist; lock it first",
        )
    return period


def _share_of(period: PeriodRow) -> Share:
    if (
        period.share_fen is None
        or period.members is None
        or period.aid_fen is None
        or period.fee_fen is None
        or period.surplus_in_fen is None
    ):
        raise InputError("period", period.workflow_id, "has no fixed share yet")
    return Share(
        aid_fen=period.aid_fen,
        fee_fen=period.fee_fen,
        surplus_in_fen=period.surplus_in_fen,
        need_fen=period.aid_fen + period.fee_fen - period.surplus_in_fen,
        members=period.members,
        share_fen=period.share_fen,
    )
