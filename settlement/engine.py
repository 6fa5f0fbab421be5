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
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from infra.db import reading, unit_of_work
from infra.models import DebitRunRow, PeriodRow
from infra.repositories import (
    DebitRunRepository,
    MemberChangeRepository,
    PeriodRepository,
    PublicityRepository,
    ShardTotals,
)
from infra.repositories.periods import CANCELLED
from mutualaid.calendar import (
    is_sharing_day,
    nth_day_after,
    publicity_day_for,
    publicity_days_between,
    roster_cutoff,
    sharing_day_for,
    start_of_day,
)
from mutualaid.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    InvariantError,
    NotYetError,
    RefusedError,
)
from mutualaid.membership import ChangeKind, change_to_record
from mutualaid.plan import Plan
from mutualaid.share import Share, compute_share, surplus_out
from settlement.executor import Executor, Progress
from settlement.reconcile import RunTotals, check_run, reconcile_shards
from settlement.store import Manifest, MemberStore
from settlement.tasks import debit_task, lock_task, shard_file_from, verify_shard_task

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
class CancelResult:
    period: str
    roster_removed: bool
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
    took effect before that day, remove members at the exit age, count N.

    The roster is built on the previous period's closed, final snapshot, never beside it:
    while that period is still open (in its retries, say) the lock raises NotYetError naming
    it, and writes nothing. Everything is checked before the first write."""
    cutoff = roster_cutoff(publicity_date)  # refuses a day that is not the 7th or 21st
    if now < cutoff:
        raise NotYetError(
            "publicity_date",
            publicity_date.isoformat(),
            "is in the future: the roster locks at 00:00",
            waiting_for=cutoff.isoformat(),
        )
    store = ctx.store()
    snapshot = f"roster-{publicity_date.isoformat()}"
    with reading(ctx.db) as session:
        done = _locked_already(session, store, ctx.plan.id, publicity_date)
        if done is not None:
            return done
        chain = _chain_parent(session, ctx.plan.id, publicity_date)
        parent = _roster_parent(store, ctx.plan.id, publicity_date, chain)
    verify_snapshot(ctx, parent)
    frozen = _stored_lock_plan(store, snapshot)
    if frozen is None:
        frozen = _lock_plan(ctx, store, publicity_date, snapshot, parent, opening_funds_fen)
    elif frozen["parent"] != parent:
        raise IntegrityError(
            "snapshot",
            snapshot,
            f"was frozen on parent {frozen['parent']}, but the chain ends at {parent}",
        )
    # Validated: from here on the lock writes. The chain is checked again under the plan's
    # lock in the transaction that opens the period, so two locks of different days racing
    # each other can never both build on the same parent.
    with unit_of_work(ctx.db) as session:
        PeriodRepository(session).lock_plan(ctx.plan.id)
        if _chain_parent(session, ctx.plan.id, publicity_date) != chain:
            raise ConflictError(
                "publicity_date", publicity_date.isoformat(), "the chain moved while locking"
            )
        _locked_already(session, store, ctx.plan.id, publicity_date)  # cancelled meanwhile?
        PeriodRepository(session).open(
            ctx.plan.id, publicity_date, rules_version=ctx.plan.rules_version, at=now
        )
    store.clear_staging(snapshot, store.snapshot_dir(snapshot))
    # Of two drivers of the same lock, the first plan written is the one both follow.
    store.write_if_absent(
        _lock_plan_path(store, snapshot), json.dumps(frozen, sort_keys=True).encode(), step=snapshot
    )
    frozen = _stored_lock_plan(store, snapshot) or frozen
    with reading(ctx.db) as session:
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
    store.advance_head(snapshot)
    return LockResult(
        period=publicity_date.isoformat(),
        snapshot=snapshot,
        members=members,
        joined=sum(int(r["stats"]["joined"]) for r in results),
        exited=sum(int(r["stats"]["exited"]) for r in results),
        aged_out=sum(int(r["stats"]["aged_out"]) for r in results),
        already_done=False,
    )


def _locked_already(
    session: Any, store: MemberStore, plan_id: str, publicity_date: date
) -> LockResult | None:
    """The lock's result when the roster is committed (a re-run writes nothing, but finishes
    a HEAD a killed lock left behind); refusals for a cancelled day and a lost roster."""
    period = PeriodRepository(session).get(plan_id, publicity_date)
    snapshot = f"roster-{publicity_date.isoformat()}"
    if period is None:
        return None
    if period.state == CANCELLED:
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


def _roster_parent(
    store: MemberStore, plan_id: str, publicity_date: date, chain: str | None
) -> str:
    """The snapshot a period's roster is built on: the previous period's final snapshot
    (`chain`, from `_chain_parent`), or the population when the plan has no period yet.
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


def _chain_parent(session: Any, plan_id: str, publicity_date: date) -> str | None:
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
            missing = f"period-{plan_id}-{day.isoformat()}"
            raise NotYetError(
                "period",
                f"period-{plan_id}-{publicity_date.isoformat()}",
                f"waits for {missing} (not started) to run and close, or to be cancelled: "
                "periods never skip a publicity day",
                waiting_for=missing,
            )
    if previous.closed_at is None:
        raise NotYetError(
            "period",
            f"period-{plan_id}-{publicity_date.isoformat()}",
            f"waits for {previous.workflow_id} ({previous.state}) to close: a roster is "
            "built on the previous period's final snapshot",
            waiting_for=previous.workflow_id,
        )
    return final_snapshot(session, previous)


def verify_snapshot(ctx: Settlement, snapshot: str) -> None:
    """Every shard of a snapshot matches its manifest's checksum (read in parallel on the
    executor): a step's input is proven sound before the step writes anything."""
    store = ctx.store()
    problems = ctx.executor.map(
        verify_shard_task,
        [(ctx.store_root, ctx.plan.id, snapshot, s) for s in range(store.shards)],
        on_done=ctx._progress(f"verify {snapshot}"),
    )
    for problem in problems:
        if problem["error"]:
            raise IntegrityError("shard", problem["path"], problem["error"])


def final_snapshot(session: Any, period: PeriodRow) -> str:
    """The last snapshot of a closed period: its last committed debit attempt's output."""
    committed = [r for r in DebitRunRepository(session).runs(period.id) if r.state == "committed"]
    if not committed:
        raise IntegrityError("period", period.workflow_id, "is closed but has no committed debit")
    return str(max(committed, key=lambda r: r.attempt).frozen_plan["output_snapshot"])


def _lock_plan_path(store: MemberStore, snapshot: str) -> str:
    return f"{store.snapshot_dir(snapshot)}/plan.json"


def _stored_lock_plan(store: MemberStore, snapshot: str) -> dict[str, Any] | None:
    """A lock's frozen plan, when an earlier (killed) run of the same lock wrote it."""
    stored = store.read_file(_lock_plan_path(store, snapshot))
    if stored is None:
        return None
    try:
        frozen: dict[str, Any] = json.loads(stored)
    except json.JSONDecodeError:
        raise IntegrityError("file", _lock_plan_path(store, snapshot), "is corrupt") from None
    return frozen


def _lock_plan(
    ctx: Settlement,
    store: MemberStore,
    publicity_date: date,
    snapshot: str,
    parent: str,
    opening_funds: int,
) -> dict[str, Any]:
    """The lock's frozen plan: its parent snapshot and the exact changes it folds. Written
    once before any shard runs; a resumed lock reads it back instead of looking again. Every
    value comes from the calendar and the records, never the clock, so a resumed lock writes
    the same bytes as a clean one."""
    with reading(ctx.db) as session:
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
    return {
        "plan_id": ctx.plan.id,
        "period": publicity_date.isoformat(),
        "snapshot": snapshot,
        "parent": parent,
        "change_ids": [change_id for change_id, _ in pending],
        "exit_age_years": ctx.plan.joining.exit_age_years,
        "opening_funds_fen": opening_funds,
        "rules_version": ctx.plan.rules_version,
        "frozen_at": roster_cutoff(publicity_date).isoformat(),
    }


def fix_share(ctx: Settlement, publicity_date: date, *, aid_fen: int) -> Share:
    """Fix the period's share from the aid of its cleared cases, the fee and the surplus or
    deficit the previous period carried. Fixing it again with the same aid gives the same
    share and writes nothing; with another aid it is refused."""
    with reading(ctx.db) as session:
        share, fixed = _share_for(session, ctx, publicity_date, aid_fen=aid_fen)
    if not fixed:
        with unit_of_work(ctx.db) as session:
            PeriodRepository(session).record_share(
                _period(session, ctx.plan.id, publicity_date), share
            )
    return share


def _share_for(
    session: Any, ctx: Settlement, publicity_date: date, *, aid_fen: int
) -> tuple[Share, bool]:
    """The period's share for this aid, checked but not written; and whether it is fixed."""
    if aid_fen < 0:
        raise InputError("aid_fen", aid_fen, "must not be negative")
    periods = PeriodRepository(session)
    period = _period(session, ctx.plan.id, publicity_date)
    if period.share_fen is not None:
        if period.aid_fen != aid_fen:
            raise ConflictError(
                "aid_fen",
                aid_fen,
                f"the share of {period.workflow_id} was fixed with aid {period.aid_fen}",
            )
        return _share_of(period), True
    if period.members is None:
        raise NotYetError(
            "period",
            period.workflow_id,
            "has no locked roster; run `settle lock` first",
            waiting_for=period.workflow_id,
        )
    previous = periods.previous(ctx.plan.id, publicity_date)
    if previous is None:
        surplus_in = 0
    elif previous.surplus_out_fen is None:
        raise NotYetError(
            "period",
            previous.workflow_id,
            "is not closed yet, so its surplus is unknown",
            waiting_for=previous.workflow_id,
        )
    else:
        surplus_in = previous.surplus_out_fen
    share = compute_share(
        aid_fen=aid_fen,
        surplus_in_fen=surplus_in,
        members=period.members,
        fee_rate=ctx.plan.sharing.fee_rate,
    )
    return share, False


def debit(ctx: Settlement, sharing_date: date, *, aid_fen: int, now: datetime) -> RunResult:
    """The sharing-day debit (attempt 0): every roster member owes the period's share. The
    share, the roster and the store are all checked before the share is fixed."""
    publicity_date = _publicity_for(sharing_date)
    due = start_of_day(sharing_date)
    if now < due:
        raise NotYetError(
            "sharing_date",
            sharing_date.isoformat(),
            "has not come yet",
            waiting_for=due.isoformat(),
        )
    with reading(ctx.db) as session:
        share, fixed = _share_for(session, ctx, publicity_date, aid_fen=aid_fen)
        done = _committed_result(session, ctx, publicity_date, 0)
    if done is not None:
        return done
    _check_input(ctx, publicity_date, 0)
    if not fixed:
        fix_share(ctx, publicity_date, aid_fen=aid_fen)
    return _run(ctx, publicity_date, attempt=0, share=share, now=now)


def retry(
    ctx: Settlement, sharing_date: date, *, now: datetime, attempt: int | None = None
) -> RunResult:
    """The next debit retry (1..retry days) of a period, touching only what is unpaid; the last
    one removes members still unpaid and closes the period."""
    publicity_date = _publicity_for(sharing_date)
    last = ctx.plan.sharing.debit_retry_days
    if attempt is not None and not 1 <= attempt <= last:
        raise InputError("attempt", attempt, f"must be between 1 and {last}")
    with reading(ctx.db) as session:
        period = _period(session, ctx.plan.id, publicity_date)
        committed = _committed_attempts(session, period)
        if 0 not in committed:
            raise NotYetError(
                "sharing_date",
                sharing_date.isoformat(),
                "has no committed debit yet",
                waiting_for=f"{period.workflow_id} attempt 0",
            )
        wanted = attempt if attempt is not None else min(max(committed) + 1, last)
        done = _committed_result(session, ctx, publicity_date, wanted)
        share = _share_of(period)
        workflow_id = period.workflow_id
    if done is not None:
        return done
    if wanted - 1 not in committed:
        raise NotYetError(
            "attempt",
            wanted,
            f"attempt {wanted - 1} is not committed yet",
            waiting_for=f"{workflow_id} attempt {wanted - 1}",
        )
    due = start_of_day(retry_day(sharing_date, wanted))
    if now < due:
        raise NotYetError(
            "attempt", wanted, f"is due on {due.date().isoformat()}", waiting_for=due.isoformat()
        )
    _check_input(ctx, publicity_date, wanted)
    return _run(ctx, publicity_date, attempt=wanted, share=share, now=now)


def retry_day(sharing_date: date, attempt: int) -> date:
    """The day debit attempt n runs: the sharing day itself, then one retry a day."""
    return nth_day_after(sharing_date, attempt)


def next_retry_attempt(ctx: Settlement, sharing_date: date) -> int:
    """The retry a plain `settle retry` runs: the one after the last committed attempt (the
    last attempt again, a no-op, once all are done)."""
    with reading(ctx.db) as session:
        period = _period(session, ctx.plan.id, _publicity_for(sharing_date))
        committed = _committed_attempts(session, period)
        workflow_id = period.workflow_id
    if 0 not in committed:
        raise NotYetError(
            "sharing_date",
            sharing_date.isoformat(),
            "has no committed debit yet",
            waiting_for=f"{workflow_id} attempt 0",
        )
    return min(max(committed) + 1, ctx.plan.sharing.debit_retry_days)


def _committed_attempts(session: Any, period: PeriodRow) -> list[int]:
    return [
        r.attempt for r in DebitRunRepository(session).runs(period.id) if r.state == "committed"
    ]


def _snapshots(publicity_date: date, attempt: int) -> tuple[str, str]:
    """A debit attempt's input and output snapshots."""
    key = publicity_date.isoformat()
    source = f"roster-{key}" if attempt == 0 else f"debit-{key}-a{attempt - 1}"
    return source, f"debit-{key}-a{attempt}"


def _check_input(ctx: Settlement, publicity_date: date, attempt: int) -> None:
    """The input snapshot must be committed, of this plan, with all its files, each matching
    its checksum: checked before anything of the run is written."""
    store = ctx.store()
    source, _ = _snapshots(publicity_date, attempt)
    store.check_files(store.manifest(source))
    verify_snapshot(ctx, source)


def _committed_result(
    session: Any, ctx: Settlement, publicity_date: date, attempt: int
) -> RunResult | None:
    """What a committed attempt did, for a re-run that must change nothing; None when the
    attempt is not committed. (HEAD is moved only if a killed run left it behind.)"""
    period = _period(session, ctx.plan.id, publicity_date)
    runs = DebitRunRepository(session)
    existing = runs.get(period.id, attempt)
    if existing is None or existing.state != "committed":
        return None
    _, output = _snapshots(publicity_date, attempt)
    ctx.store().advance_head(output)
    return run_result(
        existing,
        publicity_date.isoformat(),
        output,
        rows=sum(shard.rows for shard in runs.shards(existing)),
        removed=None,
        already_done=True,
        closed=period.closed_at is not None,
    )


def _run(
    ctx: Settlement, publicity_date: date, *, attempt: int, share: Share, now: datetime
) -> RunResult:
    store = ctx.store()
    period_key = publicity_date.isoformat()
    sharing_date = sharing_day_for(publicity_date)
    last = ctx.plan.sharing.debit_retry_days
    input_snapshot, output_snapshot = _snapshots(publicity_date, attempt)
    with unit_of_work(ctx.db) as session:
        period = _period(session, ctx.plan.id, publicity_date)
        runs = DebitRunRepository(session)
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
            "remove_unpaid_on": retry_day(sharing_date, attempt).isoformat()
            if attempt == last
            else None,
            # The run's moment on the program calendar, not the clock: a resumed run writes
            # the same manifest as a clean one, whatever --as-of it was given.
            "created_at": start_of_day(retry_day(sharing_date, attempt)).isoformat(),
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
    store.clear_staging(
        output_snapshot, store.snapshot_dir(output_snapshot), store.ledger_dir(period_key, attempt)
    )
    results = ctx.executor.map(
        debit_task,
        [(ctx.store_root, ctx.plan.id, frozen, s) for s in range(store.shards)],
        on_done=ctx._progress(f"debit {period_key} attempt {attempt}"),
    )
    totals = reconcile_shards(
        ctx.executor,
        ctx.store_root,
        ctx.plan.id,
        frozen,
        results,
        history=history,
        on_done=ctx._progress(f"reconcile {period_key} attempt {attempt}"),
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
        created_at=str(frozen["created_at"]),
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
        result = run_result(
            run_row,
            period_key,
            output_snapshot,
            rows=totals.rows,
            removed=totals.removed,
            already_done=not committed_now,
            closed=period.closed_at is not None,
        )
    store.advance_head(output_snapshot)
    return result


def cancel_period(
    ctx: Settlement, publicity_date: date, *, reason: str, now: datetime
) -> CancelResult:
    """Cancel a period an operator opened by mistake, or skip a publicity day that will not
    run, before any money moved: the row stays (or is made) as `cancelled` with the reason; a
    locked roster leaves the chain (HEAD goes back to the roster's parent, and the member
    changes it folded wait for the next lock); the next period builds on the one before.
    Refused once a debit run exists (money may have moved), once the period's list is
    published (its cases are before the public), or when a later period is built on it.
    Cancelling again writes nothing (it only finishes a HEAD a killed cancel left behind)."""
    if not reason.strip():
        raise InputError("reason", reason, "must say why the period is cancelled")
    roster_cutoff(publicity_date)  # refuses a day that is not the 7th or 21st
    store = ctx.store()
    snapshot = f"roster-{publicity_date.isoformat()}"
    workflow_id = f"period-{ctx.plan.id}-{publicity_date.isoformat()}"
    roster_parent = store.manifest(snapshot).parent if store.has_manifest(snapshot) else None
    with unit_of_work(ctx.db) as session:
        periods = PeriodRepository(session)
        periods.lock_plan(ctx.plan.id)  # checks and writes in one serialised transaction
        period = periods.get(ctx.plan.id, publicity_date)
        if period is not None and period.state == CANCELLED:
            already = True
        else:
            already = False
            _check_cancel(session, ctx.plan.id, publicity_date, period)
            if period is None:
                period, _ = periods.open(
                    ctx.plan.id, publicity_date, rules_version=ctx.plan.rules_version, at=now
                )
            periods.cancel(period, reason=reason, at=now)
            if roster_parent is not None:
                MemberChangeRepository(session).unapply(snapshot=snapshot)
    if roster_parent is not None and store.head() == snapshot:
        store.set_head(roster_parent)
    return CancelResult(
        period=workflow_id,
        roster_removed=roster_parent is not None and not already,
        already_done=already,
    )


def _check_cancel(
    session: Any, plan_id: str, publicity_date: date, period: PeriodRow | None
) -> None:
    workflow_id = f"period-{plan_id}-{publicity_date.isoformat()}"
    later = PeriodRepository(session).latest(plan_id)
    if later is not None and later.publicity_date > publicity_date:
        raise RefusedError(
            "period", workflow_id, f"has a later period {later.workflow_id} built after it"
        )
    if period is None:
        return
    runs = DebitRunRepository(session).runs(period.id)
    if runs:
        raise RefusedError(
            "period",
            workflow_id,
            f"has a debit run (attempt {runs[0].attempt}, {runs[0].state}): money may have "
            "moved, so it cannot be cancelled",
        )
    if PublicityRepository(session).entries(period.id):
        raise RefusedError(
            "period",
            workflow_id,
            "has published its list of cases: they are before the public, so it runs on",
        )


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


def run_result(
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


def _publicity_for(sharing_date: date) -> date:
    if not is_sharing_day(sharing_date):
        raise InputError("sharing_date", sharing_date.isoformat(), "is not the 14th or 28th")
    return publicity_day_for(sharing_date)


def _period(session: Any, plan_id: str, publicity_date: date) -> PeriodRow:
    period = PeriodRepository(session).get(plan_id, publicity_date)
    workflow_id = f"period-{plan_id}-{publicity_date.isoformat()}"
    if period is None:
        raise NotYetError(
            "period", workflow_id, "does not exist; lock it first", waiting_for=workflow_id
        )
    if period.state == CANCELLED:
        raise RefusedError("period", workflow_id, "was cancelled")
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
