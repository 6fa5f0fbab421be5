"""A real period at volume: the load test's claims, approved and waiting for publicity, are
taken by the period workflow itself (not the stand-in) from the roster lock to the final
report, on the run's compressed clock.

What it reports is what the period's scale puts at risk: the wall time of each step (from the
period's own history: each activity from its first scheduling to its completion, retries
included), the period's history (events and bytes, against Temporal's limits of 51,200 events
and 50 MB), and the period's report (cases, payouts made).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from messages import periods as msg
from mutualaid.calendar import next_publicity_day
from mutualaid.clock import ProgramClock
from workers.demo_periods import start_period

# Temporal's default limits on one workflow's history.
HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 2**20


async def run_period(
    client: Client, *, task_queue: str, clock: ProgramClock, plan_id: str, timeout_s: float
) -> dict[str, Any]:
    """Start the period of the next publicity day, wait for its final report, and measure it."""
    day = next_publicity_day(clock.program_now(datetime.now(UTC)))
    await _refuse_if_taken(client, msg.workflow_id(plan_id, day))
    handle = await start_period(client, task_queue, clock, plan_id, day)
    began = time.monotonic()
    report = await asyncio.wait_for(
        client.get_workflow_handle(handle.id, result_type=msg.PeriodReport).result(),
        timeout=timeout_s,
    )
    wall = time.monotonic() - began
    history = await client.get_workflow_handle(handle.id).fetch_history()
    return {
        "workflow_id": handle.id,
        "publicity_date": day.isoformat(),
        "wall_s": round(wall, 1),
        "members": report.members,
        "cases_cleared": report.cases,
        "share_fen": report.share_fen,
        "payouts_made": report.payouts_made,
        "payouts_missing": len(report.payouts_missing),
        "balanced": report.balanced,
        **history_size(history),
        "steps": step_times(history),
    }


async def _refuse_if_taken(client: Client, workflow_id: str) -> None:
    """A period's id is its plan and day, on the whole server: one left there by another
    deployment (an earlier run on the same server, whose clock read the same day) would be
    watched instead of run. Refuse, and say how to remove it."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return
        raise
    raise PeriodTakenError(
        f"{workflow_id} is already on this Temporal server: an earlier load test's "
        "(`mutualaid loadtest clean <its run id>` removes it) or another deployment's"
    )


class PeriodTakenError(Exception):
    """The period's id is taken on the server by another deployment's period."""


def history_size(history: WorkflowHistory) -> dict[str, int | float]:
    events = history.events
    size = sum(event.ByteSize() for event in events)
    return {
        "history_events": len(events),
        "history_bytes": size,
        "history_events_share_of_limit": round(len(events) / HISTORY_EVENT_LIMIT, 4),
        "history_bytes_share_of_limit": round(size / HISTORY_BYTES_LIMIT, 4),
    }


def step_times(history: WorkflowHistory) -> list[dict[str, Any]]:
    """Each activity type's wall time (first scheduled to last completed, over all its calls)
    and how many calls it took, in the order the period first ran them."""
    scheduled: dict[int, tuple[str, datetime]] = {}
    spans: dict[str, list[datetime]] = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)
    order: list[str] = []
    for event in history.events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
            calls[name] += 1
            if name not in order:
                order.append(name)
            spans[name].append(at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, _ = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            spans[name].append(at)
    return [
        {
            "step": name,
            "calls": calls[name],
            "wall_s": round((max(spans[name]) - min(spans[name])).total_seconds(), 2),
        }
        for name in order
    ]
