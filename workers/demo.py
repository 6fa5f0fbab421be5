"""`mutualaid demo`: the whole program on the embedded stack, on a compressed clock.

Starts the Temporal dev server (Web UI), an in-process worker for claims and periods, local
Ray, SQLite and a local member store; generates a population; reports claims drawn from an
incidence model and lets a simulated review team, investigation firm, jury and objectors work
them; runs the next two periods from lock to payout; prints each period's report.

The program clock is saved in the state directory, so running the demo again continues from
the program day it reached (`--fresh` starts over).
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
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import JuryRepository
from infra.temporal import connect
from mutualaid.calendar import next_publicity_day, program_date, start_of_day
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
from settlement.executor import Executor, InlineExecutor, RayExecutor
from settlement.population import PopulationSpec, generate_population
from settlement.store import MemberStore
from workers.output import errors as console
from workers.stack import dev_stack, plan_sources, prepare_database
from workers.worker import WorkerOptions, build_worker
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


def run_demo(settings: Settings, options: DemoOptions) -> list[dict[str, Any]]:
    stack = dev_stack(settings)
    if options.fresh:
        stack.down()
        _wipe(settings)
    status = stack.up(REGISTRATION)
    console.print(f"Temporal dev server at {status.address}; Web UI: {status.web_ui_url}")
    engine = prepare_database(settings)
    plan = plan_sources(settings)[PLAN_ID].plan
    state_file = settings.state_dir / "demo.json"
    clock = _load_clock(state_file, options)
    started = time.monotonic()
    try:
        reports = asyncio.run(_demo(settings, options, engine, plan, clock, state_file))
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
    demo_clock: DemoClock,
    state_file: Path,
) -> list[dict[str, Any]]:
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
    client = await connect(settings)
    team = ReviewTeam(client=client, engine=engine, plan=plan, members=options.members)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as threads:
        worker = build_worker(
            client,
            engine=engine,
            store_root=store_root,
            plans={p: s.plan for p, s in plan_sources(settings).items()},
            options=WorkerOptions(task_queue=settings.task_queue),
            executor=threads,
            period_executor=executor_factory,
            publicity_dir=settings.state_dir / "publicity",
        )
        async with worker:
            team.qualify_jurors(store_root, today)
            # Claims take program days to review and investigate: the first period is the
            # first publicity day at least LEAD ahead, so this run's claims can reach it.
            days = [next_publicity_day(clock.program_now(datetime.now(UTC)) + LEAD)]
            while len(days) < options.periods:
                days.append(next_publicity_day(start_of_day(days[-1]) + timedelta(days=1)))
            handles = [await _start_period(client, settings, demo_clock, day) for day in days]
            cases = max(4, min(40, round(options.members * INCIDENCE)))
            work: list[asyncio.Task[None]] = []
            reports = []
            for number, (day, handle) in enumerate(zip(days, handles, strict=True)):
                # Claims reported now are approved before this period's cut-off; the next
                # period's claims come once this period has locked its roster.
                console.print(f"period {day}: {cases} claims reported for its publicity list")
                for index in range(cases):
                    claim = await team.report(settings, clock, demo_clock)
                    work.append(asyncio.create_task(team.work(claim, objection=index == 1)))
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
            _save_clock(state_file, demo_clock, clock.program_now(datetime.now(UTC)))
            await _print_claims(client)
            return sorted(reports, key=lambda r: str(r["period"]))


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
            return await self._client.start_workflow(
                ClaimWorkflow.run,
                claim,
                id=claim_msg.workflow_id(claim_id),
                task_queue=settings.task_queue,
            )
        except WorkflowAlreadyStartedError:
            return self._client.get_workflow_handle(claim_msg.workflow_id(claim_id))

    async def work(self, handle: WorkflowHandle[Any, Any], *, objection: bool) -> None:
        """Take a claim through review, investigation and decision; deny some (they appeal
        and the jury approves them) and object to one on its publicity list."""
        roll = self._random.random()
        try:
            state = await self._until(handle, {ClaimState.IN_REVIEW}, stop=_DONE_OR_WAITING)
            if state is not ClaimState.IN_REVIEW:
                return
            await self._step(
                handle,
                claim_msg.REVIEW,
                claim_msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS),
            )
            await self._until(handle, {ClaimState.INVESTIGATING})
            await self._until_status(handle, lambda s: s.investigation_reference is not None)
            findings = Findings(
                diagnosis_confirmed=True,
                declaration_consistent=roll > 0.15,
                summary="hospital records checked",
            )
            await self._step(
                handle,
                claim_msg.RECORD_FINDINGS,
                claim_msg.RecordFindings(actor=INVESTIGATOR, findings=findings),
            )
            approve = findings.declaration_consistent
            await self._step(
                handle,
                claim_msg.DECIDE,
                claim_msg.Decide(
                    actor=REVIEWER,
                    approve=approve,
                    reason="" if approve else "history not declared",
                ),
            )
            if not approve:
                status = await self._status(handle)
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
                votes = tuple(
                    claim_msg.JuryVote(juror_id=j, approve=self._random.random() < 0.7)
                    for j in self._jurors
                )
                await handle.execute_update(
                    claim_msg.VOTE,
                    claim_msg.JuryVotes(votes=votes),
                    result_type=claim_msg.VoteReceipt,
                )
            if objection:
                await self._until(handle, {ClaimState.PUBLICISED})
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

    async def _until(
        self,
        handle: WorkflowHandle[Any, Any],
        states: set[ClaimState],
        *,
        stop: frozenset[ClaimState] = frozenset(),
    ) -> ClaimState:
        status = await self._until_status(handle, lambda s: s.state in states or s.state in stop)
        return status.state

    async def _until_status(
        self, handle: WorkflowHandle[Any, Any], condition: Callable[[claim_msg.ClaimStatus], bool]
    ) -> claim_msg.ClaimStatus:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                status = await self._status(handle)
                if condition(status):
                    return status
            except RPCError:
                pass  # not started yet
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{handle.id} did not get there in time")

    async def _step(self, handle: WorkflowHandle[Any, Any], name: str, request: object) -> None:
        """Send a step; a step refused because the claim is still busy (an activity in
        flight) is tried again a little later, as a person at a screen would."""
        for attempt in range(20):
            try:
                await handle.execute_update(name, request, result_type=claim_msg.StepResult)
                return
            except WorkflowUpdateFailedError as exc:
                if attempt == 19 or "still being" not in str(exc.cause):
                    raise
                await asyncio.sleep(0.5)


_DONE_OR_WAITING = frozenset(
    {ClaimState.INELIGIBLE, ClaimState.CLOSED, ClaimState.WITHDRAWN, ClaimState.PAID}
)


async def _start_period(
    client: Client, settings: Settings, demo_clock: DemoClock, day: date
) -> WorkflowHandle[Any, Any]:
    try:
        return await client.start_workflow(
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
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(period_msg.workflow_id(PLAN_ID, day))


async def _watch(
    handle: WorkflowHandle[Any, Any], day: date, *, until_locked: bool
) -> period_msg.PeriodReport | None:
    """Print the period's state as it moves; return its report (None when asked to return
    once the roster is locked)."""
    last = ""
    result: asyncio.Task[Any] = asyncio.create_task(handle.result())
    while not result.done():
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
            if line != last:
                console.print(line)
                last = line
            if until_locked and status.members is not None:
                result.cancel()
                return None
        except RPCError:
            pass
        await asyncio.wait({result}, timeout=1.0)
    report: period_msg.PeriodReport = period_msg.PeriodReport(**_as_dict(result.result()))
    return report


async def _print_claims(client: Client) -> None:
    """How the claims ended, counted through Temporal visibility (the Web UI's view)."""
    counts: dict[str, int] = {}
    async for execution in client.list_workflows("WorkflowType = 'Claim'"):
        state = execution.typed_search_attributes.get(CLAIM_STATE) or "?"
        counts[state] = counts.get(state, 0) + 1
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


def _load_clock(state_file: Path, options: DemoOptions) -> DemoClock:
    now = datetime.now(UTC)
    if state_file.exists():
        saved = json.loads(state_file.read_text())
        # Continue from the program moment the last run reached, from now on.
        return DemoClock(
            real_origin=now,
            program_origin=datetime.fromisoformat(saved["program_reached"]),
            seconds_per_day=options.seconds_per_day,
        )
    return DemoClock(real_origin=now, program_origin=now, seconds_per_day=options.seconds_per_day)


def _save_clock(state_file: Path, demo_clock: DemoClock, reached: datetime) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(
        json.dumps(
            {
                "program_reached": reached.isoformat(),
                "seconds_per_day": str(demo_clock.seconds_per_day),
            }
        )
    )


def _wipe(settings: Settings) -> None:
    for name in ("mutualaid.db", "temporal.db", "demo.json"):
        for path in settings.state_dir.glob(f"{name}*"):
            path.unlink()
    for folder in (Path(settings.store_root), settings.state_dir / "publicity"):
        shutil.rmtree(folder, ignore_errors=True)
