"""What a committed settlement step did, read back from the committed state alone.

A step run elsewhere (a Ray Job on a cluster) reports nothing its submitter trusts: the
submitter reads the step's result from SQL (the period row, the debit run and its shard rows)
and from the member store (the snapshot's manifest and the done markers its shards were
committed with). The figures are those a local run of the step returns when it commits it.

`already_done` is not a fact of the stored state but of the call: it says whether the step was
already committed before the caller asked for it (the caller reads the outcome once before it
submits and passes `already_done=True` when it found one). Unlike a local re-run, which
returns zero counts for a lock and `removed=None` for a debit it did not run, an outcome read
here always carries the committed counts, so a step asked for twice gives the same figures
twice.

Each function returns None when the step is not committed (nothing of it, or a run frozen but
not committed, or a cancelled period); it raises `IntegrityError` when SQL says committed and
the store does not agree.
"""

from __future__ import annotations

from datetime import date

from infra.db import reading
from infra.models import PeriodRow
from infra.repositories import DebitRunRepository, PeriodRepository
from infra.states import DebitRunState, PeriodStage
from mutualaid.errors import IntegrityError
from settlement.context import Settlement
from settlement.results import LockResult, RunResult, run_result
from settlement.run_plan import LockShardOutcome, RunPlan, decode
from settlement.snapshots import debit_snapshot, roster_snapshot
from settlement.store import Manifest, MemberStore, done_marker_name


def lock_outcome(
    ctx: Settlement, publicity_date: date, *, already_done: bool = False
) -> LockResult | None:
    """The committed lock of a period: N from the period row; joined, exited and aged out
    from the done markers of the roster's shards, each checked against the shard its manifest
    committed. None when the roster is not committed (or the period was cancelled)."""
    with reading(ctx.db) as session:
        period = PeriodRepository(session).get(ctx.plan.id, publicity_date)
        if period is None or period.state == PeriodStage.CANCELLED or period.members is None:
            return None
        members = period.members
    store = ctx.store()
    snapshot = roster_snapshot(publicity_date)
    if not store.has_manifest(snapshot):
        return None
    outcomes = _lock_outcomes(store, store.manifest(snapshot))
    on_roster = sum(o.stats.on_roster for o in outcomes)
    if on_roster != members:
        raise IntegrityError(
            "snapshot", snapshot, f"counts {on_roster} members on its roster, SQL says N={members}"
        )
    return LockResult(
        period=publicity_date.isoformat(),
        snapshot=snapshot,
        members=members,
        joined=sum(o.stats.joined for o in outcomes),
        exited=sum(o.stats.exited for o in outcomes),
        aged_out=sum(o.stats.aged_out for o in outcomes),
        already_done=already_done,
    )


def run_outcome(
    ctx: Settlement, publicity_date: date, attempt: int, *, already_done: bool = False
) -> RunResult | None:
    """A committed debit attempt of a period: the money from its run row, the rows from its
    shard rows, whether the period is closed from the period row, and the members removed for
    non-payment from the period's closing report (only the final attempt removes anyone). None
    while the attempt is not committed."""
    snapshot = debit_snapshot(publicity_date, attempt)
    with reading(ctx.db) as session:
        period = PeriodRepository(session).get(ctx.plan.id, publicity_date)
        if period is None:
            return None
        runs = DebitRunRepository(session)
        run = runs.get(period.id, attempt)
        if run is None or run.state != DebitRunState.COMMITTED:
            return None
        rows = sum(shard.rows for shard in runs.shards(run))
        plan = RunPlan.from_json(
            run.frozen_plan, source=f"debit run {period.workflow_id} attempt {attempt}"
        )
        result = run_result(
            run,
            publicity_date.isoformat(),
            snapshot,
            rows=rows,
            removed=_removed(period, plan),
            already_done=already_done,
            closed=period.closed_at is not None,
        )
    store = ctx.store()
    if not store.has_manifest(snapshot):
        raise IntegrityError(
            "snapshot", snapshot, "is committed in SQL but has no manifest in the store"
        )
    return result


def _removed(period: PeriodRow, plan: RunPlan) -> int:
    """Members the attempt removed: only the final attempt (the one frozen with a removal
    day) removes anyone, and the period's closing report records how many."""
    if plan.remove_unpaid_on is None:
        return 0
    report = period.report or {}
    removed = report.get("removed_members")
    if not isinstance(removed, int):
        raise IntegrityError(
            "period",
            period.workflow_id,
            "has a committed final debit but no removed_members in its report",
        )
    return removed


def _lock_outcomes(store: MemberStore, manifest: Manifest) -> list[LockShardOutcome]:
    """What each shard of a committed roster did, from the done marker the shard was
    committed with (its checksum must be the manifest's)."""
    outcomes = []
    for entry in manifest.shards:
        path = f"{store.snapshot_dir(manifest.snapshot)}/{done_marker_name(entry.shard)}"
        raw = store.read_file(path)
        try:
            outcome = (
                LockShardOutcome.from_json(decode(raw, source=path), source=path)
                if raw is not None
                else None
            )
        except IntegrityError:
            outcome = None
        if outcome is None or outcome.file.sha256 != entry.sha256:
            raise IntegrityError(
                "shard marker", path, "is missing or does not match the committed shard"
            )
        outcomes.append(outcome)
    return outcomes
