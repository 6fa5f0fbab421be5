"""`mutualaid periods ...` and `mutualaid schedules ...`: periods as operators see them."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import typer
from temporalio.exceptions import WorkflowAlreadyStartedError

from infra.config import load_settings
from infra.db import unit_of_work
from infra.plans import get_plan
from infra.repositories import PeriodRepository, PublicityRepository
from infra.temporal import connect
from mutualaid.calendar import is_publicity_day, parse_date
from mutualaid.errors import InputError
from mutualaid.money import format_fen
from workers.output import emit
from workers.schedules import apply_schedules, backfill
from workers.stack import plan_sources, prepare_database
from workers.worker import exits_explicitly
from workflows import period_messages as msg
from workflows.period import PeriodWorkflow

periods = typer.Typer(
    help="Sharing periods: status, reports, publicity lists.", no_args_is_help=True
)
schedules = typer.Typer(help="The Schedules that start each plan's periods.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
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
    match = _PERIOD_ID.fullmatch(period_id)
    if match is None:
        raise InputError("period", period_id, "is not like period-chronic-2026-12-07")
    plan_id, day = match["plan"], parse_date(match["day"], field="period")
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
    """Start one period's workflow by hand (as its Schedule would); a second start finds it."""
    settings = load_settings()
    get_plan(plan_sources(settings), plan_id)
    day = parse_date(publicity_date, field="publicity_date")
    if not is_publicity_day(day):
        raise InputError("publicity_date", publicity_date, "is not the 7th or 21st")

    async def start() -> str:
        client = await connect(settings)
        try:
            await client.start_workflow(
                PeriodWorkflow.run,
                msg.PeriodInput(
                    plan_id=plan_id,
                    publicity_date=day,
                    seconds_per_day=str(settings.seconds_per_day),
                ),
                id=msg.workflow_id(plan_id, day),
                task_queue=settings.task_queue,
            )
        except WorkflowAlreadyStartedError:
            return f"{msg.workflow_id(plan_id, day)} is already running"
        return f"started {msg.workflow_id(plan_id, day)}"

    print(asyncio.run(start()))


@schedules.command("apply")
@exits_explicitly
def schedules_apply(as_json: JsonFlag = False) -> None:
    """Create or update the period Schedule of every plan (7th and 21st, 00:00 Shanghai)."""
    settings = load_settings()
    plan_ids = sorted(plan_sources(settings))

    async def apply() -> list[dict[str, Any]]:
        client = await connect(settings)
        done = await apply_schedules(client, plan_ids, settings.task_queue)
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

    async def run() -> None:
        await backfill(await connect(settings), plan_id, start, end)

    asyncio.run(run())
    print(f"backfilled {plan_id} from {start} to {end}")
