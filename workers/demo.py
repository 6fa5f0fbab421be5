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
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import ActorRepository, JuryRepository, PeriodRepository
from infra.temporal import connect_patiently
from mutualaid.calendar import (
    next_publicity_day,
    program_date,
    publicity_days_between,
    start_of_day,
)
from mutualaid.claim import (
    Actor,
    ClaimState,
    Document,
    DocumentKind,
    Findings,
    ReviewOutcome,
    Role,
)
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError
from mutualaid.money import format_fen
from mutualaid.plan import Plan
from settlement.engine import Settlement, cancel_period
from settlement.executor import Executor, InlineExecutor, RayExecutor
from settlement.population import PopulationSpec, generate_population
from settlement.store import MemberStore
from workers.output import errors as console
from workers.stack import dev_stack, plan_sources, prepare_database
from workers.worker import WorkerOptions, build_worker, supervise
from workflows import claim_messages as claim_msg
from workflows import period_messages as period_msg
from workflows.claim import ClaimWorkflow
from workflows.period import PeriodWorkflow
from workflows.search_attributes import CLAIM_STATE, REGISTRATION

PLAN_ID = "chronic"
REVIEWER = Actor(role=Role.REVIEWER, name="demo-reviewer")
INVESTIGATOR = Actor(role=Role.INVESTIGATOR, name="demo-firm")
HOSPITALS = (
    "Peking Union Medical College Hospital, oncology ward 3, bed 12",
    "Sun Yat-sen University Cancer Center, building 2, room 301",
    "West China Hospital of Sichuan University, thoracic surgery",
    "Fudan University Shanghai Cancer Center, ward 8",
    "Zhejiang Cancer Hospital, internal medicine 2",
)
# Cases a period brings per member: about 3,142 cases for 105 million members in Aug 2020.
INCIDENCE = Fraction(3142, 105_000_000)
LEAD = timedelta(days=12)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    members: int = 1_000_000
    shards: int = 8
    periods: int = 2
    seconds_per_day: Fraction = Fraction(3)
    seed: int = 7
    fresh: bool = False

    def __post_init__(self) -> None:
        if self.members < 1_000:
            raise InputError("members", self.members, "must be at least 1000 (a jury needs them)")
        if not 1 <= self.periods <= 6:
            raise InputError("periods", self.periods, "must be between 1 and 6")
        if self.seconds_per_day <= 0:
            raise InputError("seconds-per-day", str(self.seconds_per_day), "must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoClock:
    """The demo's program clock, kept between runs in `<state>/demo.json`."""

    real_origin: datetime
    program_origin: datetime
    seconds_per_day: Fraction

    @property
    def clock(self) -> ProgramClock:
        return ProgramClock(
            seconds_per_day=self.seconds_per_day,
            origin_real=self.real_origin,
            origin_program=self.program_origin,
        )


@dataclass(slots=True, kw_only=True)
class DemoRun:
    """One run of the demo as `<state>/demo.json` keeps it: written at each step, so a run
    killed anywhere is resumed, never started a second time beside itself."""

    clock: DemoClock
    periods: list[date]
    reported: list[date]  # periods whose claims were reported
    finished: bool = False
    program_reached: datetime | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "real_origin": self.clock.real_origin.isoformat(),
                "program_origin": self.clock.program_origin.isoformat(),
                "seconds_per_day": str(self.clock.seconds_per_day),
                "periods": [d.isoformat() for d in self.periods],
                "reported": [d.isoformat() for d in self.reported],
                "finished": self.finished,
                "program_reached": (
                    self.program_reached.isoformat() if self.program_reached else None
                ),
            },
            indent=1,
        )

    def save(self, state_file: Path) -> None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = state_file.with_suffix(".tmp")
        temporary.write_text(self.to_json())
        temporary.replace(state_file)


def run_demo(settings: Settings, options: DemoOptions) -> list[dict[str, Any]]:
    stack = dev_stack(settings)
    if options.fresh:
        stack.down()
        _wipe(settings)
    status = stack.up(REGISTRATION)
    console.print(f"Temporal dev server at {status.address}; Web UI: {status.web_ui_url}")
    engine = prepare_database(settings)
    with unit_of_work(engine) as session:
        # The simulated team works claims as registered staff, like real reviewers.
        ActorRepository(session).ensure_all((REVIEWER, INVESTIGATOR), at=datetime.now(UTC))
    plan = plan_sources(settings)[PLAN_ID].plan
    state_file = settings.state_dir / "demo.json"
    run = _load_run(state_file, options)
    started = time.monotonic()
    try:
        reports = asyncio.run(_demo(settings, options, engine, plan, run, state_file))
    finally:
        engine.dispose()
    console.print(
        f"demo finished in {time.monotonic() - started:.0f} s; Web UI: {status.web_ui_url} "
        "(stop the server with `.venv/bin/mutualaid dev down`)"
    )
    return reports


async def _demo(
    settings: Settings,
    options: DemoOptions,
    engine: Engine,
    plan: Plan,
    run: DemoRun,
    state_file: Path,
) -> list[dict[str, Any]]:
    demo_clock = run.clock
    clock = demo_clock.clock
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
    team = ReviewTeam(client=client, engine=engine, plan=plan, members=options.members)
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
                settings, options, engine, client, team, run, state_file, today
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
) -> list[dict[str, Any]]:
    demo_clock = run.clock
    clock = demo_clock.clock
    team.qualify_jurors(settings.store_root, today)
    work: list[asyncio.Task[None]] = []
    if run.periods:
        console.print(
            "resuming the demo's run: periods " + ", ".join(d.isoformat() for d in run.periods)
        )
        # The claims the killed run was working on: take each up where it stands.
        async for claim in _open_claims(client):
            work.append(asyncio.create_task(team.work(claim, objection=False)))
    else:
        run.periods = _choose_days(engine, clock, options.periods)
        _skip_days_missed(settings, engine, plan_sources(settings)[PLAN_ID].plan, run.periods[0])
        run.save(state_file)  # before any period starts: a kill from here on resumes
    days = run.periods
    handles = [await _start_period(client, settings, demo_clock, day) for day in days]
    cases = max(4, min(40, round(options.members * INCIDENCE)))
    reports = []
    for number, (day, handle) in enumerate(zip(days, handles, strict=True)):
        # Claims reported now are approved before this period's cut-off; the next period's
        # claims come once this period has locked its roster.
        if day not in run.reported and not _locked(engine, day):
            console.print(f"period {day}: {cases} claims reported for its publicity list")
            for index in range(cases):
                claim = await team.report(settings, clock, demo_clock)
                work.append(asyncio.create_task(team.work(claim, objection=index == 1)))
            run.reported.append(day)
            run.save(state_file)
        nxt = handles[number + 1] if number + 1 < len(handles) else None
        report = await _watch(handle, day, until_locked=nxt is not None)
        if report is not None:
            reports.append(_report_row(report))
    for day, handle in zip(days, handles, strict=True):
        report = await _watch(handle, day, until_locked=False)
        assert report is not None
        if _report_row(report) not in reports:
            reports.append(_report_row(report))
    for task in work:
        task.cancel()
    await asyncio.gather(*work, return_exceptions=True)
    run.finished = True
    run.program_reached = clock.program_now(datetime.now(UTC))
    run.save(state_file)
    await _print_claims(client)
    return sorted(reports, key=lambda r: str(r["period"]))


def _choose_days(engine: Engine, clock: ProgramClock, count: int) -> list[date]:
    """Claims take program days to review and investigate: the first period is the first
    publicity day at least LEAD ahead, so this run's claims can reach it, and after every
    period SQL already holds (the chain only goes forward)."""
    first = next_publicity_day(clock.program_now(datetime.now(UTC)) + LEAD)
    with unit_of_work(engine) as session:
        known = [p.publicity_date for p in PeriodRepository(session).list(plan_id=PLAN_ID)]
    if known and first <= max(known):
        first = next_publicity_day(start_of_day(max(known)) + timedelta(days=1))
    days = [first]
    while len(days) < count:
        days.append(next_publicity_day(start_of_day(days[-1]) + timedelta(days=1)))
    return days


def _skip_days_missed(settings: Settings, engine: Engine, plan: Plan, first: date) -> None:
    """Periods never skip a publicity day: the days between the last period in SQL and this
    run's first (the program clock ran on while the demo was stopped) are skipped on the
    record, as an operator would with `settle cancel`."""
    with unit_of_work(engine) as session:
        known = [p.publicity_date for p in PeriodRepository(session).list(plan_id=plan.id)]
    if not known:
        return
    ctx = Settlement(
        db=engine, store_root=settings.store_root, plan=plan, executor=InlineExecutor()
    )
    for day in publicity_days_between(max(known) + timedelta(days=1), first - timedelta(days=1)):
        cancel_period(
            ctx, day, reason="the demo was not running on this publicity day", now=datetime.now(UTC)
        )
        console.print(f"period {day}: skipped (the demo was not running on that day)")


def _locked(engine: Engine, day: date) -> bool:
    with unit_of_work(engine) as session:
        period = PeriodRepository(session).get(PLAN_ID, day)
        return period is not None and period.members is not None


async def _open_claims(client: Client) -> Any:
    """The demo's claims still running, as Temporal's visibility lists them."""
    query = "WorkflowType = 'Claim' AND ExecutionStatus = 'Running'"
    for attempt in range(30):
        try:
            handles = [
                client.get_workflow_handle(execution.id)
                async for execution in client.list_workflows(query)
            ]
            break
        except RPCError:
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    for handle in handles:
        yield handle


class ReviewTeam:
    """The people around a claim, simulated: the applicant, the platform's reviewers, the
    investigation firm's agents, the jury, and the occasional objector."""

    def __init__(self, *, client: Client, engine: Engine, plan: Plan, members: int) -> None:
        self._client = client
        self._engine = engine
        self._plan = plan
        self._members = members
        self._random = random.Random(20260513)
        self._jurors: list[int] = []

    def qualify_jurors(self, store_root: str, today: date) -> None:
        """Adult members of over a month who passed the juror test: enough for a valid vote,
        with some to spare."""
        store = MemberStore.open(store_root, PLAN_ID)
        head = store.head()
        assert head is not None
        manifest = store.manifest(head)
        adult_before = today.replace(year=today.year - self._plan.jury.juror_min_age)
        joined_before = today - timedelta(days=self._plan.jury.juror_min_tenure_days + 1)
        eligible: list[int] = []
        for shard in range(store.shards):
            rows = store.read_shard(
                manifest, shard, columns=["member_id", "birth_date", "join_date", "exit_date"]
            ).to_pylist()
            eligible += [
                r["member_id"]
                for r in rows
                if r["birth_date"] <= adult_before
                and r["join_date"] <= joined_before
                and r["exit_date"] is None
            ]
        count = min(len(eligible), self._plan.jury.min_valid_votes + 400)
        self._jurors = self._random.sample(sorted(eligible), count)
        with unit_of_work(self._engine) as session:
            jury = JuryRepository(session)
            for member in self._jurors:
                jury.qualify(
                    PLAN_ID, member, passed_on=today - timedelta(days=1), at=datetime.now(UTC)
                )

    async def report(
        self, settings: Settings, clock: ProgramClock, demo_clock: DemoClock
    ) -> WorkflowHandle[Any, Any]:
        today = program_date(clock.program_now(datetime.now(UTC)))
        member = self._random.randint(1, self._members)
        claim_id = f"demo-{today:%Y%m%d}-{member}"
        claim = claim_msg.ClaimInput(
            claim_id=claim_id,
            plan_id=PLAN_ID,
            member_id=member,
            condition="malignant tumour",
            diagnosis_date=today - timedelta(days=self._random.randint(1, 20)),
            hospital=self._random.choice(HOSPITALS),
            documents=(
                Document(kind=DocumentKind.DIAGNOSIS, reference=f"{claim_id}/diagnosis.pdf"),
                Document(kind=DocumentKind.MEDICAL_RECORD, reference=f"{claim_id}/records.pdf"),
                Document(kind=DocumentKind.IDENTITY, reference=f"{claim_id}/id.jpg"),
            ),
            seconds_per_day=str(demo_clock.seconds_per_day),
            clock_origin=demo_clock.real_origin,
            program_origin=demo_clock.program_origin,
        )
        try:
            handle: WorkflowHandle[Any, Any] = await _patiently(
                lambda: self._client.start_workflow(
                    ClaimWorkflow.run,
                    claim,
                    id=claim_msg.workflow_id(claim_id),
                    task_queue=settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            )
            return handle
        except WorkflowAlreadyStartedError:
            return self._client.get_workflow_handle(claim_msg.workflow_id(claim_id))

    async def work(self, handle: WorkflowHandle[Any, Any], *, objection: bool) -> None:
        """Take a claim through review, investigation and decision; deny some (they appeal
        and the jury approves them) and object to one on its publicity list. Driven by the
        claim's state, so a claim is taken up where it stands (after a kill of the demo) and
        a step whose answer an outage swallowed is not sent twice."""
        roll = self._random.random()
        consistent = roll > 0.15
        voted = objected = False
        last: tuple[ClaimState, bool] | None = None
        idle_since = time.monotonic()
        try:
            while True:
                status = await self._status_patiently(handle)
                state = status.state
                if state in _DONE_OR_WAITING or state is ClaimState.REINVESTIGATING:
                    return
                if state is ClaimState.AWAITING_FUNDS or (
                    state in (ClaimState.AWAITING_PUBLICITY, ClaimState.PUBLICISED)
                    and (not objection or objected)
                ):
                    return  # approved: the periods take it from here
                moment = (state, status.investigation_reference is not None)
                if moment != last:
                    last, idle_since = moment, time.monotonic()
                elif time.monotonic() - idle_since > 600:
                    raise TimeoutError(f"{handle.id} stayed {state} for 10 minutes")
                if state is ClaimState.IN_REVIEW:
                    await self._step(
                        handle,
                        claim_msg.REVIEW,
                        claim_msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS),
                    )
                elif state is ClaimState.INVESTIGATING and status.investigation_reference:
                    findings = Findings(
                        diagnosis_confirmed=True,
                        declaration_consistent=consistent,
                        summary="hospital records checked",
                    )
                    await self._step(
                        handle,
                        claim_msg.RECORD_FINDINGS,
                        claim_msg.RecordFindings(actor=INVESTIGATOR, findings=findings),
                    )
                elif state is ClaimState.AWAITING_DECISION:
                    await self._step(
                        handle,
                        claim_msg.DECIDE,
                        claim_msg.Decide(
                            actor=REVIEWER,
                            approve=consistent,
                            reason="" if consistent else "history not declared",
                        ),
                    )
                elif state is ClaimState.DENIED:
                    applicant = Actor(
                        role=Role.APPLICANT,
                        name=f"member:{status.member_id}",
                        member_id=status.member_id,
                    )
                    await self._step(
                        handle,
                        claim_msg.APPEAL,
                        claim_msg.Appeal(
                            actor=applicant, reason="the condition was diagnosed after joining"
                        ),
                    )
                elif state is ClaimState.JURY_VOTING and not voted:
                    if status.jury_votes_counted == 0:
                        votes = tuple(
                            claim_msg.JuryVote(juror_id=j, approve=self._random.random() < 0.7)
                            for j in self._jurors
                        )
                        await _patiently(
                            lambda v=votes: handle.execute_update(  # type: ignore[misc]
                                claim_msg.VOTE,
                                claim_msg.JuryVotes(votes=v),
                                result_type=claim_msg.VoteReceipt,
                            )
                        )
                    voted = True
                elif state is ClaimState.PUBLICISED and objection and not objected:
                    objector = self._random.choice(self._jurors)
                    await self._step(
                        handle,
                        claim_msg.OBJECT,
                        claim_msg.Objection(
                            actor=Actor(
                                role=Role.MEMBER, name=f"member:{objector}", member_id=objector
                            ),
                            reason="the patient was treated for this before joining",
                        ),
                    )
                    objected = True
                else:
                    await asyncio.sleep(0.25)  # the claim is busy, or waits for a period
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a refused step ends this claim's script, not the demo
            cause = getattr(exc, "cause", None)
            console.print(f"  {handle.id}: the team stopped: {cause or exc}")

    async def _status(self, handle: WorkflowHandle[Any, Any]) -> claim_msg.ClaimStatus:
        status: claim_msg.ClaimStatus = await handle.query(
            claim_msg.STATUS, result_type=claim_msg.ClaimStatus
        )
        return status

    async def _status_patiently(self, handle: WorkflowHandle[Any, Any]) -> claim_msg.ClaimStatus:
        """The claim's status, asked again through an outage or before it has started."""
        deadline = time.monotonic() + 600
        while True:
            try:
                return await self._status(handle)
            except (RPCError, WorkflowQueryFailedError):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def _step(self, handle: WorkflowHandle[Any, Any], name: str, request: object) -> None:
        """Send a step; a step refused because the claim is still busy (an activity in
        flight) is tried again a little later, as a person at a screen would; a step whose
        state has moved on meanwhile (its answer lost in an outage) is left: the caller
        reads the state again."""
        before = (await self._status_patiently(handle)).state
        for attempt in range(20):
            try:
                await _patiently(
                    lambda: handle.execute_update(name, request, result_type=claim_msg.StepResult)
                )
                return
            except WorkflowUpdateFailedError as exc:
                if (await self._status_patiently(handle)).state is not before:
                    return
                if attempt == 19 or "still being" not in str(exc.cause):
                    raise
                await asyncio.sleep(0.5)


async def _patiently(call: Callable[[], Any]) -> Any:
    """A call to Temporal, made again while the server is away (up to ten minutes)."""
    deadline = time.monotonic() + 600
    while True:
        try:
            return await call()
        except RPCError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(1)


_DONE_OR_WAITING = frozenset(
    {ClaimState.INELIGIBLE, ClaimState.CLOSED, ClaimState.WITHDRAWN, ClaimState.PAID}
)


async def _start_period(
    client: Client, settings: Settings, demo_clock: DemoClock, day: date
) -> WorkflowHandle[Any, Any]:
    """Start the period under its id, once: a period that runs or ran is watched, not run
    again (its id is never reused; one whose history is lost returns its report from SQL)."""
    try:
        handle: WorkflowHandle[Any, Any] = await _patiently(
            lambda: client.start_workflow(
                PeriodWorkflow.run,
                period_msg.PeriodInput(
                    plan_id=PLAN_ID,
                    publicity_date=day,
                    seconds_per_day=str(demo_clock.seconds_per_day),
                    clock_origin=demo_clock.real_origin,
                    program_origin=demo_clock.program_origin,
                ),
                id=period_msg.workflow_id(PLAN_ID, day),
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        )
        return handle
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(period_msg.workflow_id(PLAN_ID, day))


async def _watch(
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
            line = f"  period {day}: {status.state}"
            if status.members is not None:
                line += f", N={status.members:,}"
            if status.cases:
                line += f", {len(status.cases)} cases, {len(status.objected)} objected"
            if status.share_fen is not None:
                line += f", share {format_fen(status.share_fen)} yuan"
            if status.waiting_for:
                line += f", waiting for {status.waiting_for}"
            if status.problem and status.state == period_msg.INTEGRITY_STOP:
                line += f": {status.problem}"
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


async def _print_claims(client: Client) -> None:
    """How the claims ended, counted through Temporal visibility (the Web UI's view)."""
    counts: dict[str, int] = {}
    try:
        async for execution in client.list_workflows("WorkflowType = 'Claim'"):
            state = execution.typed_search_attributes.get(CLAIM_STATE) or "?"
            counts[state] = counts.get(state, 0) + 1
    except RPCError as exc:
        console.print(f"claims by state: not known now (Temporal: {exc.message})")
        return
    console.print("claims by state: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {name: getattr(value, name) for name in period_msg.PeriodReport.__slots__}


def _report_row(report: period_msg.PeriodReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "members (N)": f"{report.members:,}",
        "cases cleared": report.cases,
        "aid": format_fen(report.aid_fen),
        "fee": format_fen(report.fee_fen),
        "surplus in": format_fen(report.surplus_in_fen),
        "share": format_fen(report.share_fen),
        "collected": format_fen(report.collected_fen),
        "operator subsidy": format_fen(report.subsidy_fen),
        "unpaid": format_fen(report.unpaid_fen),
        "surplus out": format_fen(report.surplus_out_fen),
        "payouts made": f"{report.payouts_made} ({format_fen(report.payouts_fen)})",
        "payouts missing": len(report.payouts_missing),
        "balanced": report.balanced,
    }


def _executor_factory(settings: Settings, options: DemoOptions) -> Callable[[], Executor]:
    if options.members <= 200_000:
        return InlineExecutor
    return lambda: RayExecutor(address=settings.ray_address)


def _load_run(state_file: Path, options: DemoOptions) -> DemoRun:
    """The run to do: the one a kill interrupted (its clock and periods as recorded), or a
    new one (continuing from the program moment the last finished run reached)."""
    now = datetime.now(UTC)
    saved: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    if saved and not saved.get("finished", True) and "real_origin" in saved:
        clock = DemoClock(
            real_origin=datetime.fromisoformat(saved["real_origin"]),
            program_origin=datetime.fromisoformat(saved["program_origin"]),
            seconds_per_day=Fraction(saved["seconds_per_day"]),
        )
        if clock.seconds_per_day != options.seconds_per_day:
            console.print(
                f"resuming at {clock.seconds_per_day} s a program day, as the run began "
                f"(not {options.seconds_per_day}); `--fresh` starts over"
            )
        return DemoRun(
            clock=clock,
            periods=[date.fromisoformat(d) for d in saved.get("periods", [])],
            reported=[date.fromisoformat(d) for d in saved.get("reported", [])],
        )
    reached = saved.get("program_reached")
    run = DemoRun(
        clock=DemoClock(
            real_origin=now,
            program_origin=datetime.fromisoformat(reached) if reached else now,
            seconds_per_day=options.seconds_per_day,
        ),
        periods=[],
        reported=[],
    )
    run.save(state_file)  # the clock is recorded once, before anything runs on it
    return run


def _wipe(settings: Settings) -> None:
    for name in ("mutualaid.db", "temporal.db", "demo.json", "demo.tmp"):
        for path in settings.state_dir.glob(f"{name}*"):
            path.unlink()
    for folder in (Path(settings.store_root), settings.state_dir / "publicity"):
        shutil.rmtree(folder, ignore_errors=True)
