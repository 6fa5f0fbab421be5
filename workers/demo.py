"""`mutualaid demo`: the whole program on the embedded stack, on a compressed clock.

Starts the Temporal dev server (Web UI), an in-process worker for claims and periods, local
Ray, SQLite and a local member store; generates a population; reports claims drawn from an
incidence model and lets a simulated review team, investigation firm, jury and objectors work
them; runs the next two periods from lock to payout; prints each period's report.

The demo keeps its run in `<state>/demo.json`: the program clock (recorded once, at the
first start, and read by every workflow it starts) and the periods it runs, written before
any is started. Killed at any point and run again, it resumes that run from what SQL and
Temporal say: the same clock, the same periods (started once: a period's id is never reused),
the claims still open worked on where they stand. A run that finished is continued by the
next one from the program day it reached (`--fresh` starts over). Outages of the Temporal
server are ridden out: the worker is restarted, calls are retried, the watch goes on.

This module holds the run from start to end; the simulated people are the `simulation`
package's (the `demo` scenario: most approved, some denied, appealed and approved by the jury,
one objected a period), the saved run in `demo_state`, the choice of publicity days (and the
skipping of those missed) in `demo_days`, the period workflows in `demo_periods`, and what is
printed in `demo_report`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import ActorRepository
from infra.temporal import connect_patiently
from messages import claims as claim_msg
from mutualaid.calendar import program_date
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError
from mutualaid.plan import Plan
from settlement.executor import Executor, InlineExecutor, executor_for
from settlement.population import PopulationSpec, generate_population
from settlement.store import MemberStore
from simulation.actors import INVESTIGATOR, REVIEWER, ReviewTeam
from simulation.applicants import Applicants, qualify_jurors
from simulation.outages import patiently
from simulation.scenario import DEMO, ClaimPath
from workers.demo_console import open_console, tokens_file
from workers.demo_days import choose_days, locked, skip_days_missed
from workers.demo_periods import start_period, watch
from workers.demo_report import print_claims, report_row
from workers.demo_state import DemoRun, load_run, wipe
from workers.output import errors as console
from workers.stack import Speed, dev_stack, plan_sources, prepare_database, recorded_clock
from workers.worker import WorkerOptions, build_worker, supervise
from workflows.search_attributes import REGISTRATION

PLAN_ID = "chronic"
# The program clock of a deployment the demo sets up, unless told otherwise.
DEMO_SPEED = Fraction(3)
# Cases a period brings per member: about 3,142 cases for 105 million members in Aug 2020.
INCIDENCE = Fraction(3142, 105_000_000)


def cases_per_period(members: int) -> int:
    """How many claims the demo reports for a period of that many members."""
    return max(4, min(40, round(members * INCIDENCE)))


async def open_claims(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """The demo's claims still running, as Temporal's visibility lists them."""
    query = "WorkflowType = 'Claim' AND ExecutionStatus = 'Running'"

    async def running() -> list[WorkflowHandle[Any, Any]]:
        return [client.get_workflow_handle(e.id) async for e in client.list_workflows(query)]

    return await patiently(running, for_s=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    members: int = 1_000_000
    shards: int = 8
    periods: int = 2
    # None: the deployment's clock, or 3 s a program day on a deployment set up by the demo.
    seconds_per_day: Fraction | None = None
    seed: int = 7
    fresh: bool = False

    def __post_init__(self) -> None:
        if self.members < 1_000:
            raise InputError("members", self.members, "must be at least 1000 (a jury needs them)")
        if not 1 <= self.periods <= 6:
            raise InputError("periods", self.periods, "must be between 1 and 6")
        if self.seconds_per_day is not None and self.seconds_per_day <= 0:
            raise InputError("seconds-per-day", str(self.seconds_per_day), "must be positive")


def run_demo(settings: Settings, options: DemoOptions) -> list[dict[str, Any]]:
    stack = dev_stack(settings)
    if options.fresh:
        stack.down()
        wipe(settings)
    status = stack.up(REGISTRATION)
    console.print(f"Temporal dev server at {status.address}; Web UI: {status.web_ui_url}")
    speed = options.seconds_per_day
    engine = prepare_database(
        settings,
        speed=Speed(field="seconds-per-day", seconds_per_day=speed) if speed else None,
        first_speed=DEMO_SPEED,
    )
    clock = recorded_clock(engine)
    if clock.is_real:
        engine.dispose()
        raise InputError(
            "seconds-per-day",
            str(clock.seconds_per_day),
            "is the deployment's clock (real time): the demo needs a compressed one; run it "
            "with --fresh or on a new MUTUALAID_STATE_DIR",
        )
    with unit_of_work(engine) as session:
        # The simulated team works claims as registered staff, like real reviewers.
        ActorRepository(session).ensure_all((REVIEWER, INVESTIGATOR), at=datetime.now(UTC))
    console_at = open_console(settings, engine)
    sign_in = f"Console: {console_at} (sign-in tokens in {tokens_file(settings)})"
    console.print(sign_in)
    plan = plan_sources(settings)[PLAN_ID].plan
    state_file = settings.state_dir / "demo.json"
    run = load_run(state_file)
    started = time.monotonic()
    try:
        reports = asyncio.run(_demo(settings, options, engine, plan, run, state_file, clock))
    finally:
        engine.dispose()
    console.print(
        f"demo finished in {time.monotonic() - started:.0f} s; Web UI: {status.web_ui_url}; "
        f"{sign_in} (stop both with `.venv/bin/mutualaid dev down`)"
    )
    return reports


async def _demo(
    settings: Settings,
    options: DemoOptions,
    engine: Engine,
    plan: Plan,
    run: DemoRun,
    state_file: Path,
    clock: ProgramClock,
) -> list[dict[str, Any]]:
    today = program_date(clock.program_now(datetime.now(UTC)))
    executor_factory = _executor_factory(settings, options)
    store_root = settings.store_root
    if MemberStore.exists(store_root, PLAN_ID) and MemberStore.open(store_root, PLAN_ID).head():
        console.print("member store found: continuing with its members")
    else:
        console.print(f"generating {options.members:,} members in {options.shards} shards ...")
        generate_population(
            store_root,
            plan,
            PopulationSpec(
                members=options.members, shards=options.shards, seed=options.seed, as_of=today
            ),
            executor=executor_factory(),
        )
    stop = asyncio.Event()
    client = await connect_patiently(settings, stop)
    assert client is not None
    jurors = qualify_jurors(engine, store_root, plan, today, DEMO.rng("jurors"))
    team = ReviewTeam(
        client=client,
        plan=plan,
        clock=clock,
        task_queue=settings.task_queue,
        scenario=DEMO,
        jurors=jurors,
    )
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as threads:

        def make(worker_client: Client) -> Any:
            return build_worker(
                worker_client,
                engine=engine,
                store_root=store_root,
                plans={p: s.plan for p, s in plan_sources(settings).items()},
                options=WorkerOptions(task_queue=settings.task_queue),
                executor=threads,
                period_executor=executor_factory,
                publicity_dir=settings.state_dir / "publicity",
            )

        # The in-process worker, restarted after an outage of the server.
        worker = asyncio.create_task(supervise(settings, make, stop, say=console.print))
        try:
            return await _run_periods(
                settings, options, engine, client, team, run, state_file, today, clock
            )
        finally:
            stop.set()
            await worker


async def _run_periods(
    settings: Settings,
    options: DemoOptions,
    engine: Engine,
    client: Client,
    team: ReviewTeam,
    run: DemoRun,
    state_file: Path,
    today: date,
    clock: ProgramClock,
) -> list[dict[str, Any]]:
    work: list[asyncio.Task[None]] = []

    def take_up(handle: WorkflowHandle[Any, Any], path: ClaimPath | None = None) -> None:
        # A claim's road and delays are drawn from its id: the same after a kill.
        work.append(
            asyncio.create_task(
                team.work_quietly(
                    handle,
                    path=path or DEMO.mix.draw(DEMO.rng(f"path/{handle.id}")),
                    rng=DEMO.rng(f"claim/{handle.id}"),
                    say=console.print,
                )
            )
        )

    if run.periods:
        console.print(
            "resuming the demo's run: periods " + ", ".join(d.isoformat() for d in run.periods)
        )
        # The claims the killed run was working on: take each up where it stands.
        for claim in await open_claims(client):
            take_up(claim)
    else:
        run.periods = choose_days(engine, clock, PLAN_ID, options.periods)
        skip_days_missed(settings, engine, plan_sources(settings)[PLAN_ID].plan, run.periods[0])
        run.save(state_file)  # before any period starts: a kill from here on resumes
    days = run.periods
    handles = [await start_period(client, settings.task_queue, clock, PLAN_ID, day) for day in days]
    cases = cases_per_period(options.members)
    applicants = Applicants(plan=plan_sources(settings)[PLAN_ID].plan, members=options.members)
    reports = []
    for number, (day, handle) in enumerate(zip(days, handles, strict=True)):
        # Claims reported now are approved before this period's cut-off; the next period's
        # claims come once this period has locked its roster.
        if day not in run.reported and not locked(engine, PLAN_ID, day):
            console.print(f"period {day}: {cases} claims reported for its publicity list")
            for index in range(cases):
                application = applicants.draw(DEMO.rng(f"report/{day}/{index}"), today=team.today())
                claim_id = f"demo-{team.today():%Y%m%d}-{application.member_id}"
                reported = await team.report(
                    application, claim_id=claim_id, workflow_id=claim_msg.workflow_id(claim_id)
                )
                take_up(reported, ClaimPath.OBJECTED if index == 1 else None)
            run.reported.append(day)
            run.save(state_file)
        nxt = handles[number + 1] if number + 1 < len(handles) else None
        report = await watch(handle, day, until_locked=nxt is not None)
        if report is not None:
            reports.append(report_row(report))
    for day, handle in zip(days, handles, strict=True):
        report = await watch(handle, day, until_locked=False)
        assert report is not None
        if report_row(report) not in reports:
            reports.append(report_row(report))
    for task in work:
        task.cancel()
    await asyncio.gather(*work, return_exceptions=True)
    run.finished = True
    run.save(state_file)
    await print_claims(client)
    return sorted(reports, key=lambda r: str(r["period"]))


def _executor_factory(settings: Settings, options: DemoOptions) -> Callable[[], Executor]:
    if options.members <= 200_000:
        return InlineExecutor
    return lambda: executor_for(settings.ray_address)
