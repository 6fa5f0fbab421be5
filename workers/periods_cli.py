"""`mutualaid periods ...` and `mutualaid schedules ...`: periods as operators see them."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Annotated, Any

import typer
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from infra.config import Settings, load_settings
from infra.db import unit_of_work
from infra.plans import get_plan
from infra.repositories import PeriodRepository, PublicityRepository
from infra.temporal import connect
from messages import periods as msg
from messages.periods import PeriodState
from mutualaid.calendar import is_publicity_day, parse_date
from mutualaid.errors import InputError, RefusedError
from mutualaid.money import format_fen
from workers.exits import exits_explicitly
from workers.output import JsonFlag, emit
from workers.schedules import apply_schedules, backfill
from workers.stack import deployment_clock, plan_sources, prepare_database
from workflows.period import PeriodWorkflow

periods = typer.Typer(
    help="Sharing periods: status, reports, publicity lists.", no_args_is_help=True
)
schedules = typer.Typer(help="The Schedules that start each plan's periods.", no_args_is_help=True)

_PERIOD_ID = re.compile(r"period-(?P<plan>[A-Za-z0-9_-]+?)-(?P<day>\d{4}-\d{2}-\d{2})")


@periods.command("list")
def periods_list(
    plan_id: Annotated[str | None, typer.Option("--plan")] = None, as_json: JsonFlag = False
) -> None:
    """Every period with its state and figures."""
    settings = load_settings()
    if plan_id is not None:
        get_plan(plan_sources(settings), plan_id)
    engine = prepare_database(settings)
    with unit_of_work(engine) as session:
        rows: list[dict[str, Any]] = [
            {
                "period": p.workflow_id,
                "state": p.state,
                "members": p.members,
                "share": format_fen(p.share_fen) if p.share_fen is not None else None,
                "collected": format_fen(p.collected_fen) if p.collected_fen is not None else None,
                "surplus_out": format_fen(p.surplus_out_fen)
                if p.surplus_out_fen is not None
                else None,
            }
            for p in PeriodRepository(session).list(plan_id=plan_id)
        ]
    emit(rows, as_json=as_json, title="Periods")


@periods.command("show")
def periods_show(period_id: str, as_json: JsonFlag = False) -> None:
    """One period: its reconciliation report and its publicity list."""
    plan_id, text = _split_period_id(period_id)
    day = parse_date(text, field="period")
    engine = prepare_database(load_settings())
    with unit_of_work(engine) as session:
        period = PeriodRepository(session).get(plan_id, day)
        if period is None:
            raise InputError("period", period_id, "does not exist")
        cases = [
            {
                "claim": e.claim_id,
                "member": e.masked_member,
                "age": e.age,
                "condition": e.condition,
                "hospital": e.hospital,
                "benefit": format_fen(e.benefit_fen),
                "outcome": e.outcome,
            }
            for e in PublicityRepository(session).entries(period.id)
        ]
        detail: dict[str, Any] = {
            "period": period.workflow_id,
            "state": period.state,
            "rules_version": period.rules_version,
            "sharing_date": period.sharing_date.isoformat(),
            **(period.report or {}),
        }
    if as_json:
        emit(detail | {"publicity_list": cases}, as_json=True)
        return
    emit(detail, as_json=False, title=period_id)
    if cases:
        emit(cases, as_json=False, title="Publicity list")


@periods.command("start")
@exits_explicitly
def periods_start(
    publicity_date: Annotated[str, typer.Option("--publicity-date")],
    plan_id: Annotated[str, typer.Option("--plan")] = "chronic",
) -> None:
    """Start one period's workflow by hand (as its Schedule would). A period runs once per
    plan and day: one that runs is left to run, one that ran is refused."""
    settings = load_settings()
    get_plan(plan_sources(settings), plan_id)
    day = parse_date(publicity_date, field="publicity_date")
    if not is_publicity_day(day):
        raise InputError("publicity_date", publicity_date, "is not the 7th or 21st")
    workflow_id = msg.workflow_id(plan_id, day)
    clock = deployment_clock(settings)

    async def start() -> str:
        client = await connect(settings)
        try:
            return await _already_started(client, workflow_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        # Temporal has no run under the id; SQL is the record even when Temporal's history is
        # gone (a new dev server database): a period that ran there is not run again.
        _refuse_if_ran(settings, plan_id, day)
        try:
            await client.start_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(
                    plan_id=plan_id,
                    publicity_date=day,
                    seconds_per_day=str(clock.seconds_per_day),
                    clock_origin=clock.origin_real,
                    program_origin=clock.origin_program,
                ),
                id=workflow_id,
                task_queue=settings.task_queue,
                # Never a second run under the id, even after the first has closed.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:  # started by someone else meanwhile
            return await _already_started(client, workflow_id)
        return f"started {workflow_id}"

    print(asyncio.run(start()))


def _refuse_if_ran(settings: Settings, plan_id: str, day: date) -> None:
    engine = prepare_database(settings)
    try:
        with unit_of_work(engine) as session:
            period = PeriodRepository(session).get(plan_id, day)
            if period is not None and (
                period.closed_at is not None or "payouts_made" in (period.report or {})
            ):
                raise RefusedError(
                    "period",
                    period.workflow_id,
                    f"already ran (it is {period.state}): not started again",
                )
    finally:
        engine.dispose()


async def _already_started(client: Client, workflow_id: str) -> str:
    """The one line for a period whose workflow exists: running (fine) or run (refused).
    Raises RPCError NOT_FOUND when there is none."""
    described = await client.get_workflow_handle(workflow_id).describe()
    if described.status == WorkflowExecutionStatus.RUNNING:
        return f"{workflow_id} is already running"
    status = described.status.name.lower() if described.status is not None else "closed"
    raise RefusedError("period", workflow_id, f"already ran ({status}): not started again")


@periods.command("status")
@exits_explicitly
def periods_status(period_id: str, as_json: JsonFlag = False) -> None:
    """A running period as its workflow sees it: its state, what it waits for, why it stopped.
    Exits 4 while it waits for the previous period and 5 while stopped for data integrity."""
    _split_period_id(period_id)
    settings = load_settings()

    async def query() -> msg.PeriodStatus:
        client = await connect(settings)
        try:
            status: msg.PeriodStatus = await client.get_workflow_handle(period_id).query(
                msg.STATUS, result_type=msg.PeriodStatus
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise InputError("period", period_id, "has no workflow") from None
            raise
        return status

    status = asyncio.run(query())
    row: dict[str, Any] = {
        "period": status.period,
        "state": status.state,
        "members": status.members,
        "cases": len(status.cases),
        "share": format_fen(status.share_fen) if status.share_fen is not None else None,
        "next_step_at": status.next_step_at.isoformat() if status.next_step_at else None,
        "waiting_for": status.waiting_for,
        "stopped_step": status.stopped_step,
        "problem": status.problem,
    }
    emit(row, as_json=as_json, title=period_id)
    if status.state == PeriodState.WAITING_FOR_PREVIOUS_PERIOD:
        raise SystemExit(4)
    if status.state == PeriodState.DATA_INTEGRITY_STOP:
        raise SystemExit(5)


@periods.command("resume")
@exits_explicitly
def periods_resume(
    period_id: str,
    operator: Annotated[str, typer.Option("--operator", help="Who repaired the store.")],
    note: Annotated[str, typer.Option("--note")] = "",
) -> None:
    """After a data-integrity stop, once the store is repaired: try the stopped step again."""
    _split_period_id(period_id)
    settings = load_settings()

    async def resume() -> str:
        client = await connect(settings)
        try:
            said: str = await client.get_workflow_handle(period_id).execute_update(
                msg.RESUME, msg.Resume(operator=operator, note=note), result_type=str
            )
        except WorkflowUpdateFailedError as exc:
            raise RefusedError("period", period_id, str(exc.cause or exc)) from None
        return said

    print(asyncio.run(resume()))


def _split_period_id(period_id: str) -> tuple[str, str]:
    match = _PERIOD_ID.fullmatch(period_id)
    if match is None:
        raise InputError("period", period_id, "is not like period-chronic-2026-12-07")
    return match["plan"], match["day"]


@schedules.command("apply")
@exits_explicitly
def schedules_apply(as_json: JsonFlag = False) -> None:
    """Create or update the period Schedule of every plan (7th and 21st, 00:00 Shanghai)."""
    settings = load_settings()
    plan_ids = sorted(plan_sources(settings))

    clock = deployment_clock(settings)

    async def apply() -> list[dict[str, Any]]:
        client = await connect(settings)
        done = await apply_schedules(client, plan_ids, settings.task_queue, clock)
        return [{"plan": a.plan_id, "schedule": a.schedule_id, "created": a.created} for a in done]

    emit(asyncio.run(apply()), as_json=as_json, title="Schedules")


@schedules.command("backfill")
@exits_explicitly
def schedules_backfill(
    first: Annotated[str, typer.Option("--from")],
    last: Annotated[str, typer.Option("--to")],
    plan_id: Annotated[str, typer.Option("--plan")] = "chronic",
) -> None:
    """Start the periods of the publicity days in a range that the Schedule missed."""
    settings = load_settings()
    get_plan(plan_sources(settings), plan_id)
    start, end = parse_date(first, field="from"), parse_date(last, field="to")
    clock = deployment_clock(settings)

    async def run() -> None:
        await backfill(await connect(settings), plan_id, start, end, clock)

    asyncio.run(run())
    print(f"backfilled {plan_id} from {start} to {end}")
