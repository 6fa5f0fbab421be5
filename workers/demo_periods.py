"""The demo's periods as Temporal workflows: each started once under its id, then watched
(its progress printed as it moves) until its roster is locked or its report is in; an
outage of the server is waited out."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from messages import periods as period_msg
from mutualaid.clock import ProgramClock
from simulation.outages import patiently
from workers.demo_report import progress_line
from workers.output import errors as console
from workflows.period import PeriodWorkflow


async def start_period(
    client: Client, task_queue: str, clock: ProgramClock, plan_id: str, day: date
) -> WorkflowHandle[Any, Any]:
    """Start the period under its id, once: a period that runs or ran is watched, not run
    again (its id is never reused; one whose history is lost returns its report from SQL)."""
    try:
        handle: WorkflowHandle[Any, Any] = await patiently(
            lambda: client.start_workflow(
                PeriodWorkflow.run,
                period_msg.PeriodInput(
                    plan_id=plan_id,
                    publicity_date=day,
                    seconds_per_day=str(clock.seconds_per_day),
                    clock_origin=clock.origin_real,
                    program_origin=clock.origin_program,
                ),
                id=period_msg.workflow_id(plan_id, day),
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        )
        return handle
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(period_msg.workflow_id(plan_id, day))


async def watch(
    handle: WorkflowHandle[Any, Any], day: date, *, until_locked: bool
) -> period_msg.PeriodReport | None:
    """Print the period's state as it moves; return its report (None when asked to return
    once the roster is locked). An outage of the server is waited out."""
    last = ""
    result: asyncio.Task[Any] = asyncio.create_task(handle.result())
    while True:
        if result.done():
            failure = result.exception()
            if failure is None:
                break
            if isinstance(failure, WorkflowFailureError):
                raise failure
            # The server went away while we waited for the result: ask again.
            await asyncio.sleep(1.0)
            result = asyncio.create_task(handle.result())
        try:
            status: period_msg.PeriodStatus = await handle.query(
                period_msg.STATUS, result_type=period_msg.PeriodStatus
            )
            line = progress_line(day, status)
            if line != last:
                console.print(line)
                last = line
            if until_locked and status.members is not None:
                result.cancel()
                return None
        except (RPCError, WorkflowQueryFailedError):
            pass
        await asyncio.wait({result}, timeout=1.0)
    report: period_msg.PeriodReport = period_msg.PeriodReport(**_as_dict(result.result()))
    return report


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {name: getattr(value, name) for name in period_msg.PeriodReport.__slots__}
