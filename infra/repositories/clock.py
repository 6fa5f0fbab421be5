"""The deployment's program clock in SQL: recorded once, read by everything that starts a
workflow or asks what day it is."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from sqlalchemy.orm import Session

from infra.models import ProgramClockRow
from infra.repositories._common import insert_or_find
from mutualaid.clock import ProgramClock

_ONLY = 1


class ProgramClockRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self) -> ProgramClock | None:
        row = self._session.get(ProgramClockRow, _ONLY)
        return _clock(row) if row is not None else None

    def record(self, clock: ProgramClock, *, at: datetime) -> tuple[ProgramClock, bool]:
        """Record the clock if the deployment has none yet; either way return the recorded
        one (a concurrent first set-up loses the race and reads the winner's). Returns
        (clock, recorded now)."""
        row, created = insert_or_find(
            self._session,
            ProgramClockRow(
                id=_ONLY,
                seconds_per_day=str(clock.seconds_per_day),
                origin_real=clock.origin_real,
                origin_program=clock.origin_program,
                recorded_at=at,
            ),
            lambda: self._session.get(ProgramClockRow, _ONLY),
        )
        return _clock(row), created


def _clock(row: ProgramClockRow) -> ProgramClock:
    return ProgramClock(
        seconds_per_day=Fraction(row.seconds_per_day),
        origin_real=row.origin_real,
        origin_program=row.origin_program,
    )
