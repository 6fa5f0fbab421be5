"""`mutualaid loadtest settlement`: the command-line face of `loadtest.settlement` (it parses,
calls and prints). Every option is checked before anything starts or is written: a bad one is
one line, exit 2.

    mutualaid loadtest settlement --members 1M
    mutualaid loadtest settlement --sweep 100k,1M,10M --seed 7
    mutualaid loadtest settlement --sweep 20k,50k --shards 2
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.config import PREFIX, load_settings
from loadtest.settlement import (
    MAX_MEMBERS,
    MIN_MEMBERS,
    SettlementLoad,
    parse_size,
    parse_sweep,
    run_settlement_load,
)
from mutualaid.errors import InputError
from settlement.steps import job_server
from workers.exits import exits_explicitly
from workers.stack import plan_sources

PLAN_ID = "chronic"


@exits_explicitly
def loadtest_settlement(
    members: Annotated[
        str | None,
        typer.Option(
            "--members",
            help=f"One size: 1000000, 1M, 250k ({MIN_MEMBERS:,} to {MAX_MEMBERS:,}).",
        ),
    ] = None,
    sweep: Annotated[
        str | None, typer.Option("--sweep", help="Several sizes, one after another: 100k,1M,10M.")
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards", help="Default: about 1.5M members a shard, whole waves over the CPUs."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the population.")] = 7,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Populations and databases (<state>/loadtest/settlement)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default <workdir>/report).")
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep/--no-keep",
            help="Reuse a population left in --workdir and leave this run's there.",
        ),
    ] = True,
) -> None:
    """One period's settlement (roster lock, debit, five retries) at one or more population
    sizes: each step's time, members a second and peak memory, and the money checked; a
    summary as JSON on stdout, progress on stderr, the report as JSON and HTML under --out."""
    if members is not None and sweep is not None:
        raise InputError("sweep", sweep, "cannot be given with --members")
    if members is None and sweep is None:
        raise InputError("members", "", "is required: give --members N or --sweep N,N,...")
    sizes = parse_sweep(sweep) if sweep is not None else (parse_size(members or ""),)
    settings = load_settings()
    if job_server(settings) is not None:
        # A job server runs each step as a Ray Job in another process: the time would be the
        # submission's and the memory nobody's here.
        raise InputError(
            f"{PREFIX}RAY_ADDRESS",
            settings.ray_address,
            "is a Ray job server; the load test drives the engine from this process "
            "(leave it empty for local Ray, or give a cluster address: auto, host:6379)",
        )
    folder = (workdir or settings.state_dir / "loadtest" / "settlement").resolve()
    spec = SettlementLoad(
        sizes=sizes,
        shards=shards,
        seed=seed,
        workdir=folder,
        out_dir=(out or folder / "report").resolve(),
        keep=keep,
        plan_source=plan_sources(settings)[PLAN_ID],
        ray_address=settings.ray_address or None,
    )
    report = run_settlement_load(spec, console=Console(stderr=True))
    print(json.dumps(report.summary(), indent=1))
