"""`mutualaid loadtest claims`, `periods` and `clean`: the command-line face of
`loadtest.claims` (it parses, calls and prints). Every option is checked before anything
starts: a bad one is one line, exit 2.

    mutualaid loadtest claims --claims 20 --concurrency 5 --workers 1
    mutualaid loadtest periods --cases 3142
    mutualaid loadtest clean RUN_ID
"""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.config import load_settings
from loadtest.claims import ClaimsLoad, check_run_id, clean_run, new_run_id, run_claims_load
from loadtest.executor import Load, parse_duration
from mutualaid.errors import InputError
from simulation.scenario import load_scenario
from workers.exits import exits_explicitly

NOOP = "noop"


@exits_explicitly
def loadtest_claims(
    rate: Annotated[
        float | None, typer.Option("--rate", help="Open loop: claims started a second (Poisson).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Closed loop: claims alive at once.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="How long arrivals run: 60s, 10m, 1h.")
    ] = None,
    claims: Annotated[int | None, typer.Option("--claims", help="How many claims.")] = None,
    drain: Annotated[
        str, typer.Option("--drain", help="How long claims still open may finish.")
    ] = "120s",
    workers: Annotated[
        int, typer.Option("--workers", help="`mutualaid worker` processes to start.")
    ] = 1,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="default, demo, a .toml/.json scenario file, or noop (the ceiling alone).",
        ),
    ] = "default",
    ceiling: Annotated[
        bool, typer.Option("--ceiling", help="Run the no-op ceiling before each claims phase.")
    ] = False,
    rounds: Annotated[int, typer.Option("--rounds", help="Phases (or pairs) to run.")] = 1,
    members: Annotated[
        int, typer.Option("--members", help="Population of a run's own member store.")
    ] = 20_000,
    seconds_per_day: Annotated[
        str | None,
        typer.Option("--seconds-per-day", help="Program clock of the run's database (0.05).)"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Default: a new one.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the arrivals.")] = 1,
    cleanup: Annotated[
        str | None,
        typer.Option("--cleanup", help="Terminate and delete the workflows of RUN_ID, and stop."),
    ] = None,
) -> None:
    """Drive claims (or the no-op ceiling) through their whole life under load; report live
    on stderr and, at the end, as JSON and HTML under --out."""
    settings = load_settings()
    if cleanup is not None:
        _clean(cleanup)
        return
    chosen = check_run_id(run_id) if run_id else new_run_id()
    load = Load(
        rate=rate,
        concurrency=concurrency,
        duration_s=parse_duration(duration) if duration is not None else None,
        count=claims,
        drain_s=0.0 if drain in ("0", "0s") else parse_duration(drain, field="drain"),
        seed=seed,
    )
    spec = ClaimsLoad(
        load=load,
        scenario=None if scenario == NOOP else load_scenario(scenario),
        out_dir=out or settings.state_dir / "loadtest" / chosen / "report",
        run_id=chosen,
        workers=workers,
        members=members,
        seconds_per_day=_fraction(seconds_per_day) if seconds_per_day else None,
        ceiling=ceiling,
        rounds=rounds,
    )
    console = Console(stderr=True)
    console.print(f"load test run {chosen}: workflow ids lt-{chosen}-...")
    report = run_claims_load(settings, spec, console=console)
    print(json.dumps({"run_id": chosen, **report.summary()}, indent=1))


@exits_explicitly
def loadtest_periods(
    cases: Annotated[int, typer.Option("--cases", help="Claims the period takes: 3142, 20000.")],
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Claims being approved at once.")
    ] = 100,
    workers: Annotated[
        int, typer.Option("--workers", help="`mutualaid worker` processes to start.")
    ] = 2,
    members: Annotated[
        int | None, typer.Option("--members", help="Population (default: 10 per case).")
    ] = None,
    seconds_per_day: Annotated[
        str | None,
        typer.Option("--seconds-per-day", help="Program clock of the run's database (2).)"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Default: a new one.")] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long the period may take once started.")
    ] = "60m",
) -> None:
    """A period at volume: CASES claims approved (the `period` scenario), then the real
    period workflow from its roster lock to its final report; reports each step's wall time
    and the period's history (events and bytes) beside the claims' figures."""
    settings = load_settings()
    if not 1 <= cases <= 100_000:
        raise InputError("cases", cases, "must be between 1 and 100000")
    chosen = check_run_id(run_id) if run_id else new_run_id()
    spec = ClaimsLoad(
        load=Load(concurrency=concurrency, count=cases, drain_s=parse_duration("30m")),
        scenario=load_scenario("period"),
        out_dir=out or settings.state_dir / "loadtest" / chosen / "report",
        run_id=chosen,
        workers=workers,
        # Ten members a case: a member has one claim open at a time.
        members=members if members is not None else max(20_000, 10 * cases),
        seconds_per_day=_fraction(seconds_per_day) if seconds_per_day else None,
        period=True,
        period_timeout_s=parse_duration(timeout, field="timeout"),
        # Two seconds a program day: a period's steps over 20,000 cases take tens of seconds,
        # which must not be whole program weeks.
        default_speed=Fraction(2),
    )
    console = Console(stderr=True)
    console.print(f"load test run {chosen}: workflow ids lt-{chosen}-...")
    report = run_claims_load(settings, spec, console=console)
    print(json.dumps({"run_id": chosen, **report.summary(), "period": report.period}, indent=1))


@exits_explicitly
def loadtest_clean(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """Terminate a load test run's running workflows and delete all of them."""
    _clean(run_id)


def _clean(run_id: str) -> None:
    settings = load_settings()
    terminated, deleted = asyncio.run(clean_run(settings, check_run_id(run_id)))
    print(f"run {run_id}: {terminated} terminated, {deleted} deleted")


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InputError("seconds-per-day", text, "must be a number such as 0.05 or 1/20") from None
    return value
