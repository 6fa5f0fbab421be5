"""A stand-in for the period workflow's side of a claim: its three signals (publicised,
cleared, funded), each sent on the program day the period would send it.

Used where no period runs (a load test of claims, `mutualaid claims standin`): the period row
is opened in SQL as the period would open it (publicity, objections and payouts refer to it),
and the signals carry what the period's would carry."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine

from infra.db import unit_of_work
from infra.repositories import PeriodRepository
from messages import claims as msg
from mutualaid.calendar import sharing_day_for, start_of_day
from mutualaid.claim_deadlines import objection_window_end
from mutualaid.plan import Plan


def open_period(engine: Engine, plan: Plan, day: date) -> int:
    """The period of a publicity day, opened in SQL on first call (as the period would)."""
    with unit_of_work(engine) as session:
        period, _ = PeriodRepository(session).open(
            plan.id, day, rules_version=plan.rules_version, at=datetime.now(UTC)
        )
        return period.id


def publicised(plan: Plan, period_id: int, day: date) -> msg.Publicised:
    """The signal that puts a claim on the publicity list of a day."""
    return msg.Publicised(
        period_id=period_id,
        publicity_date=day,
        objection_window_end=objection_window_end(day, plan.sharing.objection_window_days),
    )


class StandinPeriods:
    """Periods as the claims see them, one SQL row per publicity day, opened once."""

    def __init__(self, *, engine: Engine, plan: Plan) -> None:
        self._engine = engine
        self._plan = plan
        self._opened: dict[date, int] = {}

    def period(self, day: date) -> int:
        if day not in self._opened:
            self._opened[day] = open_period(self._engine, self._plan, day)
        return self._opened[day]

    def publicised(self, day: date) -> msg.Publicised:
        return publicised(self._plan, self.period(day), day)

    def window_end(self, day: date) -> datetime:
        """When the members' objection window of a publicity day closes (program moment)."""
        return objection_window_end(day, self._plan.sharing.objection_window_days)

    def sharing_moment(self, day: date) -> datetime:
        """00:00 on the sharing day of a publicity day: the debit runs, money comes in."""
        return start_of_day(sharing_day_for(day))
