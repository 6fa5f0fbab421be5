"""Which publicity days the demo's periods take: the next ones its claims can reach, after
every period SQL already holds; the days it was not running for are skipped on the record, so
the chain of periods never waits for a day that will not come."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import PeriodRepository
from mutualaid.calendar import next_publicity_day, publicity_days_between, start_of_day
from mutualaid.clock import ProgramClock
from mutualaid.plan import Plan
from settlement.engine import Settlement, cancel_period
from settlement.executor import InlineExecutor
from workers.output import errors as console

# How far ahead of the program's today the first period's publicity day lies at least.
LEAD = timedelta(days=12)


def choose_days(engine: Engine, clock: ProgramClock, plan_id: str, count: int) -> list[date]:
    """Claims take program days to review and investigate: the first period is the first
    publicity day at least LEAD ahead, so this run's claims can reach it, and after every
    period SQL already holds (the chain only goes forward)."""
    first = next_publicity_day(clock.program_now(datetime.now(UTC)) + LEAD)
    known = _known_days(engine, plan_id)
    if known and first <= max(known):
        first = next_publicity_day(start_of_day(max(known)) + timedelta(days=1))
    days = [first]
    while len(days) < count:
        days.append(next_publicity_day(start_of_day(days[-1]) + timedelta(days=1)))
    return days


def skip_days_missed(settings: Settings, engine: Engine, plan: Plan, first: date) -> None:
    """Periods never skip a publicity day: the days between the last period in SQL and this
    run's first (the program clock ran on while the demo was stopped) are skipped on the
    record, as an operator would with `settle cancel`."""
    known = _known_days(engine, plan.id)
    if not known:
        return
    ctx = Settlement(
        db=engine, store_root=settings.store_root, plan=plan, executor=InlineExecutor()
    )
    for day in publicity_days_between(max(known) + timedelta(days=1), first - timedelta(days=1)):
        cancel_period(
            ctx, day, reason="the demo was not running on this publicity day", now=datetime.now(UTC)
        )
        console.print(f"period {day}: skipped (the demo was not running on that day)")


def locked(engine: Engine, plan_id: str, day: date) -> bool:
    """Whether the period of that day has locked its roster (its claims list is closed)."""
    with unit_of_work(engine) as session:
        period = PeriodRepository(session).get(plan_id, day)
        return period is not None and period.members is not None


def _known_days(engine: Engine, plan_id: str) -> list[date]:
    with unit_of_work(engine) as session:
        return [p.publicity_date for p in PeriodRepository(session).list(plan_id=plan_id)]
