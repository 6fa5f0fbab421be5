"""`mutualaid loadtest claims` and `mutualaid loadtest clean`: the command-line face of
`loadtest.claims` (it parses, calls and prints). Every option is checked before anything
starts: a bad one is one line, exit 2.

    python -m workers.loadtest_claims claims --claims 20 --concurrency 5 --workers 1
    python -m workers.loadtest_claims clean RUN_ID
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
from workers.worker import exits_explicitly

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


def main() -> None:
    """`python -m workers.loadtest_claims claims|clean ...`, until the command is registered."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("claims")(loadtest_claims)
    app.command("clean")(loadtest_clean)
    app()


if __name__ == "__main__":
    main()
