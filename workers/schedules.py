"""Temporal Schedules that start each plan's periods at 00:00 Asia/Shanghai on the 7th and
21st. `apply` creates or updates them (idempotent); `backfill` starts missed days.

Each firing starts `PeriodTrigger`, which starts `period-<plan>-<publicity date>` under its
canonical id; a day fired twice (overlap, catch-up, backfill, an operator) finds the period
already started, and the SQL unique key on (plan, publicity date) backs that up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from messages import periods as msg
from messages.periods import TriggerInput
from mutualaid.calendar import PUBLICITY_DAYS, program_date, start_of_day
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError, RefusedError

# A day missed while the cluster was down is still started when it comes back within this
# (program time; in real time never under Temporal's minimum).
CATCHUP_WINDOW = timedelta(days=7)
MIN_CATCHUP_WINDOW = timedelta(seconds=10)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def schedule_id(plan_id: str) -> str:
    return f"periods-{plan_id}"


def period_schedule(plan_id: str, task_queue: str, clock: ProgramClock) -> Schedule:
    """On real time, a calendar: 00:00 Shanghai on the publicity days. On a compressed clock
    the calendar cannot be written in real time (a program month is minutes long), so the
    Schedule fires at 00:00 of every program day, an interval of one program day in real
    time, and the trigger starts a period only on the 7th and 21st."""
    trigger = TriggerInput(plan_id=plan_id)
    if not clock.is_real:
        trigger = TriggerInput(
            plan_id=plan_id,
            seconds_per_day=str(clock.seconds_per_day),
            clock_origin=clock.origin_real,
            program_origin=clock.origin_program,
        )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            msg.TRIGGER_NAME,
            trigger,
            id=f"period-trigger-{plan_id}",
            task_queue=task_queue,
        ),
        spec=_calendar() if clock.is_real else _every_program_day(clock),
        # Triggers are short and deduplicate by id: queue overlapping firings, never drop one.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL,
            catchup_window=max(clock.real_duration(CATCHUP_WINDOW), MIN_CATCHUP_WINDOW),
        ),
    )


def _calendar() -> ScheduleSpec:
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                day_of_month=[ScheduleRange(day) for day in PUBLICITY_DAYS],
                hour=[ScheduleRange(0)],
                minute=[ScheduleRange(0)],
                second=[ScheduleRange(0)],
                comment="publicity days, 00:00 program time",
            )
        ],
        time_zone_name="Asia/Shanghai",
    )


def _every_program_day(clock: ProgramClock) -> ScheduleSpec:
    """Fire once a program day, at the first whole real second at or after program 00:00
    (Temporal fires on whole seconds; a day of at least one second keeps that on the day)."""
    every = clock.seconds_per_day
    if every.denominator != 1:
        raise RefusedError(
            "seconds_per_day",
            str(every),
            "is not a whole number of seconds: a Schedule cannot fire once a program day; "
            "start periods with `mutualaid periods start`",
        )
    some_midnight = clock.real_at(start_of_day(program_date(clock.origin_program)))
    since_epoch = some_midnight - _UNIX_EPOCH
    micros = (since_epoch.days * 86_400 + since_epoch.seconds) * 1_000_000
    micros += since_epoch.microseconds
    period = int(every) * 1_000_000
    offset_seconds = -(-(micros % period) // 1_000_000) % int(every)
    return ScheduleSpec(
        intervals=[
            ScheduleIntervalSpec(
                every=timedelta(seconds=int(every)), offset=timedelta(seconds=offset_seconds)
            )
        ],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    plan_id: str
    schedule_id: str
    created: bool


async def apply_schedules(
    client: Client, plan_ids: list[str], task_queue: str, clock: ProgramClock
) -> list[Applied]:
    applied = []
    for plan_id in plan_ids:
        schedule = period_schedule(plan_id, task_queue, clock)
        try:
            await client.create_schedule(schedule_id(plan_id), schedule)
            applied.append(Applied(plan_id=plan_id, schedule_id=schedule_id(plan_id), created=True))
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(schedule_id(plan_id)).update(replace)
            applied.append(
                Applied(plan_id=plan_id, schedule_id=schedule_id(plan_id), created=False)
            )
    return applied


async def backfill(
    client: Client, plan_id: str, first: date, last: date, clock: ProgramClock
) -> None:
    """Start the periods of every publicity day in [first, last] (program dates; already
    started: no-op)."""
    if last < first:
        raise InputError("to", last.isoformat(), f"is before from {first.isoformat()}")
    try:
        await client.get_schedule_handle(schedule_id(plan_id)).backfill(
            ScheduleBackfill(
                start_at=clock.real_at(start_of_day(first)) - timedelta(seconds=1),
                end_at=clock.real_at(start_of_day(last)) + timedelta(seconds=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise RefusedError(
            "plan",
            plan_id,
            f"has no Schedule {schedule_id(plan_id)} yet; run `mutualaid schedules apply` first",
        ) from None
