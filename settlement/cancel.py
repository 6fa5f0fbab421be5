"""Cancelling a period before any money moved: the row stays, marked cancelled, and the
chain goes on from the period before it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from infra.db import unit_of_work
from infra.models import PeriodRow
from infra.repositories import (
    DebitRunRepository,
    MemberChangeRepository,
    PeriodRepository,
    PublicityRepository,
)
from infra.states import PeriodStage
from messages.periods import workflow_id as period_workflow_id
from mutualaid.calendar import roster_cutoff
from mutualaid.errors import InputError, RefusedError
from settlement.context import Settlement
from settlement.results import CancelResult
from settlement.snapshots import roster_snapshot


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
    snapshot = roster_snapshot(publicity_date)
    roster_parent = store.manifest(snapshot).parent if store.has_manifest(snapshot) else None
    with unit_of_work(ctx.db) as session:
        periods = PeriodRepository(session)
        periods.lock_plan(ctx.plan.id)  # checks and writes in one serialised transaction
        period = periods.get(ctx.plan.id, publicity_date)
        if period is not None and period.state == PeriodStage.CANCELLED:
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
        period=period_workflow_id(ctx.plan.id, publicity_date),
        roster_removed=roster_parent is not None and not already,
        already_done=already,
    )


def _check_cancel(
    session: Session, plan_id: str, publicity_date: date, period: PeriodRow | None
) -> None:
    workflow_id = period_workflow_id(plan_id, publicity_date)
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
