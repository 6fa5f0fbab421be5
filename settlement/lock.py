"""The roster lock at 00:00 on the publicity day: every check first, then the commit protocol
(`settlement.commit`) writes it."""

from __future__ import annotations

from datetime import date, datetime

from infra.db import reading
from infra.repositories import MemberChangeRepository
from mutualaid.calendar import roster_cutoff
from mutualaid.errors import InputError, IntegrityError, NotYetError
from mutualaid.membership import ChangeKind
from settlement import chain
from settlement.commit import commit_roster, frozen_lock_plan
from settlement.context import Settlement
from settlement.results import LockResult
from settlement.run_plan import LockPlan
from settlement.snapshots import roster_snapshot
from settlement.store import MemberStore

# Simulated rail: what a newly joined member's linked account holds when first locked.
DEFAULT_OPENING_FUNDS_FEN = 100_00


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
    snapshot = roster_snapshot(publicity_date)
    with reading(ctx.db) as session:
        done = chain.locked_already(session, store, ctx.plan.id, publicity_date)
        if done is not None:
            return done
        chain_end = chain.chain_parent(session, ctx.plan.id, publicity_date)
        parent = chain.roster_parent(store, ctx.plan.id, publicity_date, chain_end)
    chain.verify_snapshot(ctx, parent)
    plan = frozen_lock_plan(store, snapshot)
    if plan is None:
        plan = _plan_lock(ctx, store, publicity_date, parent, opening_funds_fen)
    elif plan.parent != parent:
        raise IntegrityError(
            "snapshot",
            snapshot,
            f"was frozen on parent {plan.parent}, but the chain ends at {parent}",
        )
    # Validated: from here on the lock writes.
    return commit_roster(ctx, plan, chain_end=chain_end, now=now)


def _plan_lock(
    ctx: Settlement,
    store: MemberStore,
    publicity_date: date,
    parent: str,
    opening_funds_fen: int,
) -> LockPlan:
    """The lock's plan: its parent snapshot and the exact changes it folds. Frozen once
    before any shard runs; a resumed lock reads it back instead of looking again. Every
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
    return LockPlan(
        plan_id=ctx.plan.id,
        period=publicity_date,
        snapshot=roster_snapshot(publicity_date),
        parent=parent,
        change_ids=tuple(change_id for change_id, _ in pending),
        exit_age_years=ctx.plan.joining.exit_age_years,
        opening_funds_fen=opening_funds_fen,
        rules_version=ctx.plan.rules_version,
        frozen_at=roster_cutoff(publicity_date),
    )
