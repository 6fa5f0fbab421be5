"""A workflow that only waits: it proves the time-skipping harness and the program clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mutualaid.calendar import program_date
    from mutualaid.clock import ProgramClock


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloInput:
    program_days: int
    seconds_per_day: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloResult:
    started: datetime
    finished: datetime
    started_program_date: str
    finished_program_date: str


@workflow.defn(name="Hello")
class HelloWorkflow:
    @workflow.run
    async def run(self, request: HelloInput) -> HelloResult:
        clock = ProgramClock(seconds_per_day=Fraction(request.seconds_per_day))
        started = workflow.now()
        await workflow.sleep(clock.real_duration(timedelta(days=request.program_days)))
        finished = workflow.now()
        return HelloResult(
            started=started,
            finished=finished,
            started_program_date=program_date(started).isoformat(),
            finished_program_date=program_date(finished).isoformat(),
        )
