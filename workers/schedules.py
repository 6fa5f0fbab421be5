"""Temporal Schedules that start each plan's periods at 00:00 Asia/Shanghai on the 7th and
21st. `apply` creates or updates them (idempotent); `backfill` starts missed days.

Each firing starts `PeriodTrigger`, which starts `period-<plan>-<publicity date>` under its
canonical id; a day fired twice (overlap, catch-up, backfill, an operator) finds the period
already started, and the SQL unique key on (plan, publicity date) backs that up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from messages import periods as msg
from mutualaid.calendar import PUBLICITY_DAYS, start_of_day
from mutualaid.errors import InputError, RefusedError

# A day missed while the cluster was down is still started when it comes back within this.
CATCHUP_WINDOW = timedelta(days=7)


def schedule_id(plan_id: str) -> str:
    return f"periods-{plan_id}"


def period_schedule(plan_id: str, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            msg.TRIGGER_NAME,
            msg.TriggerInput(plan_id=plan_id),
            id=f"period-trigger-{plan_id}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
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
        ),
        # Triggers are short and deduplicate by id: queue overlapping firings, never drop one.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    plan_id: str
    schedule_id: str
    created: bool


async def apply_schedules(client: Client, plan_ids: list[str], task_queue: str) -> list[Applied]:
    applied = []
    for plan_id in plan_ids:
        schedule = period_schedule(plan_id, task_queue)
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


async def backfill(client: Client, plan_id: str, first: date, last: date) -> None:
    """Start the periods of every publicity day in [first, last] (already started: no-op)."""
    if last < first:
        raise InputError("to", last.isoformat(), f"is before from {first.isoformat()}")
    try:
        await client.get_schedule_handle(schedule_id(plan_id)).backfill(
            ScheduleBackfill(
                start_at=start_of_day(first) - timedelta(seconds=1),
                end_at=start_of_day(last) + timedelta(seconds=1),
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
