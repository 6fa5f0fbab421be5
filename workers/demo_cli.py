"""`mutualaid demo`: the whole program on the embedded stack, in one command."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

import typer

from infra.config import load_settings
from mutualaid.errors import InputError
from workers.demo import DemoOptions, run_demo
from workers.exits import exits_explicitly
from workers.output import JsonFlag, emit


@exits_explicitly
def demo(
    members: Annotated[int, typer.Option("--members", help="Population size.")] = 1_000_000,
    shards: Annotated[int, typer.Option("--shards", help="Member store shards.")] = 8,
    periods_count: Annotated[int, typer.Option("--periods", help="Periods to run.")] = 2,
    seconds_per_day: Annotated[
        str | None,
        typer.Option(
            "--seconds-per-day",
            help="Real seconds a program day lasts, on a deployment the demo sets up "
            "(default 3; a deployment's clock is recorded once).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over from nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The whole program on the embedded stack: a population, claims worked by a simulated
    team, and two periods settled on a compressed clock, with their reports."""
    try:
        speed = Fraction(seconds_per_day) if seconds_per_day is not None else None
    except (ValueError, ZeroDivisionError):
        raise InputError("seconds-per-day", seconds_per_day, "is not a number") from None
    options = DemoOptions(
        members=members,
        shards=shards,
        periods=periods_count,
        seconds_per_day=speed,
        seed=seed,
        fresh=fresh,
    )
    reports = run_demo(load_settings(), options)
    if as_json:
        emit(reports, as_json=True)
        return
    for report in reports:
        emit(report, as_json=False, title=f"Report of {report['period']}")
