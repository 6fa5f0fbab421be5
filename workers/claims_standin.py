"""`mutualaid claims standin ...`: what other parts of the program do, by hand, to drive a
claim in a demo or a test: a member joins, a member passes the juror test, and the period
workflow's three signals (publicised, cleared, funded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from temporalio.client import Client

from infra.claim_steps import claim_handle, claim_status
from infra.config import Settings, load_settings
from infra.db import unit_of_work
from infra.plans import get_plan
from infra.repositories import JuryRepository
from messages import claims as msg
from mutualaid.calendar import next_publicity_day, parse_date
from mutualaid.claim import ClaimState
from mutualaid.errors import InputError
from mutualaid.membership import ChangeKind, ExitReason, MemberChange
from settlement.members import queue_change
from simulation.periods import open_period, publicised
from workers.claims_client import (
    ClaimArg,
    database,
    expect_state,
    member_id_of,
    with_client,
)
from workers.exits import exits_explicitly
from workers.stack import plan_sources, program_today

standin = typer.Typer(
    help="Stand-ins for other parts of the program (member joins, the juror test, the "
    "period's signals), to drive a claim by hand.",
    no_args_is_help=True,
)


@standin.command("join")
@exits_explicitly
def standin_join(
    member: Annotated[int, typer.Option("--member")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD.")],
    joined: Annotated[str, typer.Option("--joined", help="YYYY-MM-DD.")],
    plan_id: Annotated[str, typer.Option("--plan")] = "chronic",
    group: Annotated[list[int] | None, typer.Option("--group", help="Chronic group id.")] = None,
    payer: Annotated[
        int | None, typer.Option("--payer", help="Paying member, if attached.")
    ] = None,
) -> None:
    """Queue a member's joining (the members' side of the program does this for real)."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    change = MemberChange(
        plan_id=plan.id,
        member_id=member_id_of(member, "member"),
        kind=ChangeKind.JOIN,
        effective_on=parse_date(joined, field="joined"),
        birth_date=parse_date(birth_date, field="birth-date"),
        chronic_groups=tuple(group or (1,)),
        payer_id=member_id_of(payer, "payer") if payer is not None else None,
    )
    created = _queue(settings, change, change_key=f"standin-join-{plan.id}-{member}")
    print("joined" if created else "already joined")


def _queue(settings: Settings, change: MemberChange, *, change_key: str) -> bool:
    """Queue a member change for the next roster lock; False if it was queued before."""
    with database(settings) as engine, unit_of_work(engine) as session:
        return queue_change(
            settings.store_root, session, change, change_key=change_key, at=datetime.now(UTC)
        )


@standin.command("leave")
@exits_explicitly
def standin_leave(
    member: Annotated[int, typer.Option("--member")],
    on: Annotated[str, typer.Option("--on", help="YYYY-MM-DD, the day the member leaves.")],
    plan_id: Annotated[str, typer.Option("--plan")] = "chronic",
) -> None:
    """Queue a member's voluntary exit; a payer's is refused while attached members remain."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    change = MemberChange(
        plan_id=plan.id,
        member_id=member_id_of(member, "member"),
        kind=ChangeKind.EXIT,
        effective_on=parse_date(on, field="on"),
        exit_reason=ExitReason.LEFT,
    )
    created = _queue(settings, change, change_key=f"standin-leave-{plan.id}-{member}")
    print("leaving" if created else "already leaving")


@standin.command("qualify")
@exits_explicitly
def standin_qualify(
    member: Annotated[list[int], typer.Option("--member", help="Repeatable.")],
    plan_id: Annotated[str, typer.Option("--plan")] = "chronic",
    passed_on: Annotated[str | None, typer.Option("--passed-on", help="Default today.")] = None,
) -> None:
    """Record members who passed the juror qualification test."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    day = parse_date(passed_on, field="passed-on") if passed_on else program_today(settings)
    with database(settings) as engine, unit_of_work(engine) as session:
        jury = JuryRepository(session)
        added = sum(
            jury.qualify(plan.id, member_id_of(m, "member"), passed_on=day, at=datetime.now(UTC))
            for m in member
        )
    print(f"qualified {added} new juror(s)")


@standin.command("publicise")
@exits_explicitly
def standin_publicise(
    claim_id: ClaimArg,
    publicity_date: Annotated[
        str | None, typer.Option("--date", help="Default: the claim's next publicity day.")
    ] = None,
) -> None:
    """Publish an approved claim in the period of a publicity day (opening it in SQL)."""
    settings = load_settings()

    async def signal(client: Client) -> str:
        handle = claim_handle(client, claim_id)
        status = await claim_status(handle, claim_id)
        expect_state(status, ClaimState.AWAITING_PUBLICITY, claim_id)
        plan = get_plan(plan_sources(settings), status.plan_id)
        day = (
            parse_date(publicity_date, field="date")
            if publicity_date
            else next_publicity_day(status.program_now)
        )
        with database(settings) as engine:
            period_id = open_period(engine, plan, day)
        await handle.signal(msg.PUBLICISED, publicised(plan, period_id, day))
        return f"publicised in period {period_id} ({plan.id} {day.isoformat()})"

    print(with_client(settings, signal))


@standin.command("clear")
@exits_explicitly
def standin_clear(claim_id: ClaimArg) -> None:
    """Tell a publicised claim that no objection was upheld in its period."""
    _period_signal(claim_id, msg.CLEARED, ClaimState.PUBLICISED)


@standin.command("fund")
@exits_explicitly
def standin_fund(claim_id: ClaimArg) -> None:
    """Tell a cleared claim that its period's money is in: it pays out."""
    _period_signal(claim_id, msg.FUNDED, ClaimState.AWAITING_FUNDS)


def _period_signal(claim_id: str, name: str, expected: ClaimState) -> None:
    settings = load_settings()

    async def signal(client: Client) -> str:
        handle = claim_handle(client, claim_id)
        status = await claim_status(handle, claim_id)
        expect_state(status, expected, claim_id)
        if status.period_id is None:
            raise InputError("claim", claim_id, "is in no period")
        payload = (
            msg.Cleared(period_id=status.period_id)
            if name == msg.CLEARED
            else msg.Funded(period_id=status.period_id)
        )
        await handle.signal(name, payload)
        return f"{name}: period {status.period_id}"

    print(with_client(settings, signal))
