"""The ceiling: a workflow that does nothing but what a typical claim asks of Temporal (the same
number of activities, updates, signals and timers), so the claims' sustained rate can be read
as a share of what the server and workers could carry with no program logic and no SQL.

The shape is counted from a real claim's history (`shape_of`); the driver sends the updates
and signals, each update runs one activity (as a claim's step records itself), the rest run in
the workflow, and each message is awaited under a timer (as a claim waits on its deadline)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.common import WorkflowIDReusePolicy

WORKFLOW_NAME = "LoadtestNoop"
ACTIVITY_NAME = "loadtest.noop"
UPDATE_NAME = "step"
SIGNAL_NAME = "nudge"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoopShape:
    """What one workflow does: activities in all, updates, signals, timers."""

    activities: int
    updates: int
    signals: int
    timers: int


# An approved claim paid out on the default scenario, counted with `shape_of` from its history
# (2026-12-01, 133 events): 13 activities, 3 updates, 3 signals, 5 timers. Each load test
# report counts a paid claim of its own run again (`claim_shape`).
TYPICAL_CLAIM = NoopShape(activities=13, updates=3, signals=3, timers=5)


def shape_of(history: WorkflowHistory) -> NoopShape:
    """Count a workflow's activities, updates, signals and timers from its history."""
    counts: dict[int, int] = {}
    for event in history.events:
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    return NoopShape(
        activities=counts.get(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, 0),
        updates=counts.get(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 0),
        signals=counts.get(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, 0),
        timers=counts.get(EventType.EVENT_TYPE_TIMER_STARTED, 0),
    )


@activity.defn(name=ACTIVITY_NAME)
async def noop_activity(step: int) -> int:
    return step


_ACTIVITY_TIMEOUT = timedelta(seconds=30)
_MESSAGE_WAIT = timedelta(hours=1)


@workflow.defn(name=WORKFLOW_NAME)
class NoopWorkflow:
    def __init__(self) -> None:
        self._updates = 0
        self._signals = 0

    @workflow.run
    async def run(self, shape: NoopShape) -> str:
        timers = shape.timers
        # Each message is awaited under a timer (cancelled when it comes), as a claim waits.
        for expected in range(1, shape.updates + shape.signals + 1):
            await workflow.wait_condition(
                lambda e=expected: self._updates + self._signals >= e,  # type: ignore[misc]
                timeout=_MESSAGE_WAIT if timers > 0 else None,
            )
            timers -= 1
        for step in range(max(0, shape.activities - shape.updates)):
            await workflow.execute_activity(
                noop_activity, step, start_to_close_timeout=_ACTIVITY_TIMEOUT
            )
        for _ in range(max(0, timers)):
            await workflow.sleep(timedelta(milliseconds=1))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "Completed"

    @workflow.update(name=UPDATE_NAME)
    async def step(self, step: int) -> int:
        done: int = await workflow.execute_activity(
            noop_activity, step, start_to_close_timeout=_ACTIVITY_TIMEOUT
        )
        self._updates += 1
        return done

    @workflow.signal(name=SIGNAL_NAME)
    def nudge(self) -> None:
        self._signals += 1


async def run_noop(client: Client, *, workflow_id: str, task_queue: str, shape: NoopShape) -> str:
    """One no-op workflow from start to result, its messages sent as a claim's are."""
    handle: Any = await client.start_workflow(
        WORKFLOW_NAME,
        shape,
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=str,
    )
    for step in range(shape.updates):
        await handle.execute_update(UPDATE_NAME, step, result_type=int)
    await asyncio.gather(*(handle.signal(SIGNAL_NAME) for _ in range(shape.signals)))
    result: str = await handle.result()
    return result
