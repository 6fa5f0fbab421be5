"""The sharing-day debit and its daily retries: every check first (the day, the attempt
before, the share, the input snapshot), then the commit protocol (`settlement.commit`)
writes the attempt. A committed attempt asked for again returns what it did and writes
nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.orm import Session

from infra.db import reading
from infra.models import PeriodRow
from infra.repositories import DebitRunRepository
from infra.states import DebitRunState
from mutualaid.calendar import debit_day, publicity_day_for, start_of_day
from mutualaid.errors import InputError, NotYetError
from settlement import chain
from settlement.commit import commit_attempt
from settlement.context import Settlement, period_row
from settlement.results import RunResult, run_result
from settlement.sharing import fix_share, share_for, share_of
from settlement.snapshots import attempt_snapshots


def debit(
    ctx: Settlement,
    sharing_date: date,
    *,
    now: datetime,
    cases_fen: Sequence[int] | None = None,
    aid_fen: int | None = None,
) -> RunResult:
    """The sharing-day debit (attempt 0): every roster member owes the period's share. The
    share, the roster and the store are all checked before the share is fixed."""
    publicity_date = publicity_day_for(sharing_date)
    due = start_of_day(sharing_date)
    if now < due:
        raise NotYetError(
            "sharing_date",
            sharing_date.isoformat(),
            "has not come yet",
            waiting_for=due.isoformat(),
        )
    with reading(ctx.db) as session:
        share, fixed = share_for(session, ctx, publicity_date, cases_fen, aid_fen)
        done = _committed_result(session, ctx, publicity_date, 0)
    if done is not None:
        return done
    _check_input(ctx, publicity_date, 0)
    if not fixed:
        fix_share(ctx, publicity_date, cases_fen=cases_fen, aid_fen=aid_fen)
    return commit_attempt(ctx, publicity_date, attempt=0, share=share.share, now=now)


def retry(
    ctx: Settlement, sharing_date: date, *, now: datetime, attempt: int | None = None
) -> RunResult:
    """The next debit retry (1..retry days) of a period, touching only what is unpaid; the last
    one removes members still unpaid and closes the period."""
    publicity_date = publicity_day_for(sharing_date)
    last = ctx.plan.sharing.debit_retry_days
    if attempt is not None and not 1 <= attempt <= last:
        raise InputError("attempt", attempt, f"must be between 1 and {last}")
    with reading(ctx.db) as session:
        period = period_row(session, ctx.plan.id, publicity_date)
        committed = _committed_attempts(session, period, sharing_date)
        wanted = attempt if attempt is not None else min(max(committed) + 1, last)
        done = _committed_result(session, ctx, publicity_date, wanted)
        share = share_of(period)
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
    due = start_of_day(debit_day(sharing_date, wanted))
    if now < due:
        raise NotYetError(
            "attempt", wanted, f"is due on {due.date().isoformat()}", waiting_for=due.isoformat()
        )
    _check_input(ctx, publicity_date, wanted)
    return commit_attempt(ctx, publicity_date, attempt=wanted, share=share, now=now)


def next_retry_attempt(ctx: Settlement, sharing_date: date) -> int:
    """The retry a plain `settle retry` runs: the one after the last committed attempt (the
    last attempt again, a no-op, once all are done)."""
    with reading(ctx.db) as session:
        period = period_row(session, ctx.plan.id, publicity_day_for(sharing_date))
        committed = _committed_attempts(session, period, sharing_date)
    return min(max(committed) + 1, ctx.plan.sharing.debit_retry_days)


def _committed_attempts(session: Session, period: PeriodRow, sharing_date: date) -> list[int]:
    """The period's committed attempts; a retry waits until attempt 0 is committed."""
    committed = [r.attempt for r in DebitRunRepository(session).committed(period.id)]
    if 0 not in committed:
        raise NotYetError(
            "sharing_date",
            sharing_date.isoformat(),
            "has no committed debit yet",
            waiting_for=f"{period.workflow_id} attempt 0",
        )
    return committed


def _check_input(ctx: Settlement, publicity_date: date, attempt: int) -> None:
    """The input snapshot must be committed, of this plan, with all its files, each matching
    its checksum: checked before anything of the run is written."""
    store = ctx.store()
    source, _ = attempt_snapshots(publicity_date, attempt)
    manifest = store.manifest(source)
    store.check_files(manifest)
    # A retry reads only the families owing and the patch (`settlement.tasks.debit_task`),
    # unless its input was written before there were any: then it reads the whole shards.
    has_parts = any(entry.parts() for entry in manifest.shards)
    chain.verify_snapshot(ctx, source, whole=attempt == 0 or not has_parts)


def _committed_result(
    session: Session, ctx: Settlement, publicity_date: date, attempt: int
) -> RunResult | None:
    """What a committed attempt did, for a re-run that must change nothing; None when the
    attempt is not committed. (HEAD is moved only if a killed run left it behind.)"""
    period = period_row(session, ctx.plan.id, publicity_date)
    runs = DebitRunRepository(session)
    existing = runs.get(period.id, attempt)
    if existing is None or existing.state != DebitRunState.COMMITTED:
        return None
    _, output = attempt_snapshots(publicity_date, attempt)
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
