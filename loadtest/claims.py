"""`mutualaid loadtest claims`: claims through their whole life, under load, on the
deployment's compressed program clock, and the ceiling beside them.

In the manner of Temporal's "omes": a scenario (the simulated people of `simulation`, their
mix and delays), an executor (`loadtest.executor`: open-loop arrivals at a rate or a closed
loop of N, for a duration or a number of claims, then a bounded drain) and workers it starts
(`mutualaid worker` processes, and `python -m loadtest.noop_worker` for the ceiling). Every
id carries the run's id: claims `lt-<run id>-<n>` (their workflows `claim-lt-<run id>-<n>`, as
every claim's, so a period finds them) and no-op workflows `lt-<run id>-noop-<n>`, so a run's
workflows are listed with `of_run` and cleaned up with `clean_run`.

A claim's life ends where the program ends it: paid (approved, appealed, objected, resent),
finally denied, withdrawn or ineligible. No period workflow runs: a period's roster lock and
debit are the settlement's load test's; here the period's three signals to a claim
(publicised on the publicity day, cleared when the objection window closes, funded on the
sharing day) come from `simulation.periods`, each on its program day, so every claim goes
through its publicity window and its payout like a real one.

By default a run has a database and a member store of its own under
`<state>/loadtest/<run id>/` (its program clock starts with it; a population of `members` is
generated for it), and the embedded dev server is started if the Temporal address is on this
machine. With MUTUALAID_DATABASE_URL set, the run uses that deployment's database, clock and
store instead.

The no-op ceiling (`loadtest.noop`) does what a typical claim asks of Temporal with no program
logic; with `ceiling` its phases alternate with the claims' (ceiling, claims, ceiling, ...),
so the claims' rate is read as a share of the ceiling measured on the same machine, minutes
apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import ipaddress
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from infra.config import PREFIX, Settings
from infra.db import make_engine, unit_of_work
from infra.repositories import ActorRepository, PeriodRepository
from infra.temporal import connect
from loadtest.charts import line_chart
from loadtest.executor import Load, drive
from loadtest.metrics import Latency, ProcessSampler, Recorder, latency
from loadtest.noop import TYPICAL_CLAIM, run_noop, shape_of
from loadtest.periods import run_period
from messages import claims as claim_msg
from messages import periods as period_msg
from mutualaid.calendar import program_date
from mutualaid.claim import ClaimState
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError
from mutualaid.plan import Plan
from settlement.executor import InlineExecutor
from settlement.population import PopulationSpec, generate_population
from settlement.store import MemberStore
from simulation.actors import INVESTIGATOR, REVIEWER, ClaimTrace, ReviewTeam
from simulation.applicants import Applicants, load_pool, qualify_jurors
from simulation.periods import StandinPeriods
from simulation.scenario import DEFAULT, ClaimPath, Scenario
from workers.stack import Speed, dev_stack, plan_sources, prepare_database, recorded_clock
from workflows.search_attributes import REGISTRATION

PLAN_ID = "chronic"
# 0.2 real seconds a program day: a claim's life (about 30-90 program days with the default
# scenario's delays, publicity and sharing days included) takes 6-18 real seconds, and the
# shortest human window (the 3-day objection window, 0.6 s) stays several times longer than a
# step's round trip under load. At 0.05 s a day that window (150 ms) closed under load
# before objections arrived: the errors measured the clock, not the program.
LOADTEST_SPEED = Fraction(1, 5)
# Where each path ends.
EXPECTED_END: dict[ClaimPath, ClaimState] = {
    ClaimPath.APPROVED: ClaimState.PAID,
    ClaimPath.APPEALED: ClaimState.PAID,
    ClaimPath.OBJECTED: ClaimState.PAID,
    ClaimPath.INCOMPLETE: ClaimState.PAID,
    ClaimPath.DENIED: ClaimState.FINALLY_DENIED,
    ClaimPath.WITHDRAWN: ClaimState.WITHDRAWN,
    ClaimPath.INELIGIBLE: ClaimState.INELIGIBLE,
}
_WORKER_READY_S = 120.0
# `mutualaid worker`, and the ceiling's worker, with the interpreter running this.
_CLAIMS_WORKER = (sys.executable, "-m", "workers.worker")
_NOOP_WORKER = (sys.executable, "-m", "loadtest.noop_worker")


# Where a claim's script ends when a real period takes it from its approval (`period`).
AWAITING_PERIOD = {
    s: s for s in (ClaimState.AWAITING_PUBLICITY, ClaimState.PUBLICISED, ClaimState.AWAITING_FUNDS)
}


class UnexpectedEndError(Exception):
    """A claim ended elsewhere than its path leads."""


def new_run_id() -> str:
    """A short id, unique enough to tell runs apart: the UTC time and a random tail."""
    return f"{datetime.now(UTC):%m%d%H%M%S}{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    if not run_id or len(run_id) > 40 or not all(c.isalnum() for c in run_id):
        raise InputError("run-id", run_id, "must be 1-40 letters or digits")
    return run_id.lower()


def prefix(run_id: str) -> str:
    return f"lt-{run_id}-"


def of_run(run: str) -> str:
    """A visibility query for every workflow of a run (its `prefix`): the no-op workflows'
    ids start with it; a claim's workflow is named after its claim id, which does, as every
    claim's is (`claim-<claim id>`), so that a period finds it."""
    return f"WorkflowId STARTS_WITH '{run}' OR WorkflowId STARTS_WITH 'claim-{run}'"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimsLoad:
    """A run: the load, what it drives (a scenario, or None for the no-op ceiling alone),
    and its set-up."""

    load: Load
    scenario: Scenario | None
    out_dir: Path
    run_id: str
    workers: int = 1
    members: int = 20_000
    seconds_per_day: Fraction | None = None
    ceiling: bool = False
    # The ceiling is the most the no-op workflow sustains: a closed loop this wide, for the
    # claims' duration (or number), whatever the claims' own arrivals are.
    ceiling_concurrency: int = 50
    rounds: int = 1
    poll_s: float = 0.2
    # The real period workflow takes the approved claims (`loadtest.periods`), after the
    # claims phases, instead of the stand-in's signals to each claim as it is approved.
    period: bool = False
    period_timeout_s: float = 3600.0
    # The clock of a run's own new database, unless `seconds_per_day` says otherwise.
    default_speed: Fraction = LOADTEST_SPEED

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        if not 1 <= self.workers <= 16:
            raise InputError("workers", self.workers, "must be between 1 and 16")
        if not 2_000 <= self.members <= 2_000_000:
            raise InputError("members", self.members, "must be between 2000 and 2000000")
        if not 1 <= self.rounds <= 20:
            raise InputError("rounds", self.rounds, "must be between 1 and 20")
        if self.seconds_per_day is not None and not 0 < self.seconds_per_day <= 60:
            raise InputError(
                "seconds-per-day", str(self.seconds_per_day), "must be in (0, 60] seconds"
            )
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError("out", str(self.out_dir), "is not a folder")


@dataclass(slots=True, kw_only=True)
class Phase:
    """One phase's figures."""

    name: str  # "claims" or "ceiling"
    round: int
    seconds: float  # arrivals plus drain
    started: int
    completed: int
    errors: dict[str, int]
    error_examples: dict[str, str]
    open_at_end: int
    completed_per_s: float  # over the arrivals' time, the sustained figure
    outcomes: dict[str, int]
    latencies: list[Latency]
    started_per_second: list[tuple[float, float]]
    completed_per_second: list[tuple[float, float]]
    processes: dict[str, dict[str, float]]


@dataclass(slots=True, kw_only=True)
class RunReport:
    run_id: str
    title: str
    settings: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)
    longest_history: dict[str, Any] = field(default_factory=dict)
    claim_shape: dict[str, int] = field(default_factory=dict)
    open_workflows: int = 0
    period: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        claims = [p for p in self.phases if p.name == "claims"]
        ceiling = [p for p in self.phases if p.name == "ceiling"]
        out: dict[str, Any] = {
            "claims completed": sum(p.completed for p in claims),
            "claims errors": sum(sum(p.errors.values()) for p in claims),
            "open workflows at end": self.open_workflows,
        }
        if claims:
            out["claims lifecycles/s"] = round(_mean(p.completed_per_s for p in claims), 2)
        if ceiling:
            out["ceiling workflows/s"] = round(_mean(p.completed_per_s for p in ceiling), 2)
        if claims and ceiling and out["ceiling workflows/s"] > 0:
            out["claims / ceiling"] = round(
                out["claims lifecycles/s"] / out["ceiling workflows/s"], 3
            )
        return out


def _mean(values: Any) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def is_local(address: str) -> bool:
    """Whether a Temporal address is on this machine (the embedded dev server's)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_settings(settings: Settings, run_id: str) -> Settings:
    """The run's own database and member store, unless the deployment's database is set."""
    if f"{PREFIX}DATABASE_URL" in os.environ:
        return settings
    folder = (settings.state_dir / "loadtest" / run_id).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return settings.model_copy(
        update={
            "database_url": f"sqlite:///{folder / 'mutualaid.db'}",
            "store_root": str(folder / "store"),
            # The run's publicity lists too: a list file is a period's, and every run's
            # clock reaches the same days.
            "state_dir": folder,
        }
    )


def run_claims_load(settings: Settings, spec: ClaimsLoad, *, console: Console) -> RunReport:
    """The whole run: set up, start workers, run the phases, stop workers, report."""
    server_pid: int | None = None
    if is_local(settings.temporal_address):
        status = dev_stack(settings).up(REGISTRATION)
        server_pid = status.pid
        console.print(f"Temporal dev server at {status.address}; Web UI: {status.web_ui_url}")
    mine = run_settings(settings, spec.run_id)
    speed = spec.seconds_per_day
    engine = prepare_database(
        mine,
        speed=Speed(field="seconds-per-day", seconds_per_day=speed) if speed else None,
        first_speed=spec.default_speed,
    )
    try:
        report = _run(mine, spec, engine, server_pid, console)
    finally:
        engine.dispose()
    write_report(report, spec.out_dir)
    console.print(f"report: {spec.out_dir / 'report.json'}, {spec.out_dir / 'report.html'}")
    return report


def _run(
    settings: Settings, spec: ClaimsLoad, engine: Engine, server_pid: int | None, console: Console
) -> RunReport:
    clock = recorded_clock(engine)
    if clock.is_real:
        raise InputError(
            "seconds-per-day",
            str(clock.seconds_per_day),
            "is the deployment's clock (real time): a load test of whole claims needs a "
            "compressed one (a new database, or MUTUALAID_SECONDS_PER_DAY on its first set-up)",
        )
    plan = plan_sources(settings)[PLAN_ID].plan
    today = program_date(clock.program_now(datetime.now(UTC)))
    if (
        not (MemberStore.exists(settings.store_root, PLAN_ID))
        or not MemberStore.open(settings.store_root, PLAN_ID).head()
    ):
        console.print(f"generating {spec.members:,} members ...")
        generate_population(
            settings.store_root,
            plan,
            PopulationSpec(members=spec.members, shards=4, seed=7, as_of=today),
            executor=InlineExecutor(),
        )
    with unit_of_work(engine) as session:
        ActorRepository(session).ensure_all((REVIEWER, INVESTIGATOR), at=datetime.now(UTC))
    report = RunReport(
        run_id=spec.run_id,
        title=f"loadtest claims {spec.run_id}",
        settings={
            "run id": spec.run_id,
            "scenario": spec.scenario.name if spec.scenario else "noop",
            "rate per s": spec.load.rate,
            "concurrency": spec.load.concurrency,
            "duration s": spec.load.duration_s,
            "claims": spec.load.count,
            "drain s": spec.load.drain_s,
            "workers": spec.workers,
            "rounds": spec.rounds,
            "ceiling": spec.ceiling or spec.scenario is None,
            "seconds per program day": str(clock.seconds_per_day),
            "temporal": settings.temporal_address,
            "database": settings.database_url.split("@")[-1],
            "cpus": os.cpu_count(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    jurors: list[int] = []
    applicants: Applicants | None = None
    if spec.scenario is not None:
        jurors = qualify_jurors(engine, settings.store_root, plan, today, spec.scenario.rng("jury"))
        pool = load_pool(engine, settings.store_root, plan)
        applicants = Applicants(plan=plan, members=len(pool), pool=pool)
        console.print(f"{len(pool):,} members may claim; {len(jurors):,} jurors")
    claims_queue = f"lt-{spec.run_id}"
    noop_queue = f"lt-{spec.run_id}-noop"
    with Workers(settings, spec, claims_queue, noop_queue, console) as workers:
        asyncio.run(
            _phases(
                settings,
                spec,
                engine,
                plan,
                clock,
                jurors,
                applicants,
                workers,
                server_pid,
                report,
                console,
            )
        )
    return report


async def _phases(
    settings: Settings,
    spec: ClaimsLoad,
    engine: Engine,
    plan: Plan,
    clock: ProgramClock,
    jurors: list[int],
    applicants: Applicants | None,
    workers: Workers,
    server_pid: int | None,
    report: RunReport,
    console: Console,
) -> None:
    client = await connect(settings)
    team = ReviewTeam(
        client=client,
        plan=plan,
        clock=clock,
        task_queue=workers.claims_queue,
        scenario=spec.scenario or DEFAULT,
        jurors=jurors,
        periods=None if spec.period else StandinPeriods(engine=engine, plan=plan),
        poll_s=spec.poll_s,
        stall_s=max(60.0, spec.load.drain_s),
    )
    run = prefix(spec.run_id)
    paid_example: list[str] = []
    slowest: dict[str, float] = {}

    async def claim(n: int, recorder: Recorder) -> str:
        assert spec.scenario is not None and applicants is not None
        rng = spec.scenario.rng(f"claim/{n}")
        path = spec.scenario.mix.draw(rng)
        application = applicants.draw(
            rng, today=team.today(), covered=path is not ClaimPath.INELIGIBLE
        )
        began = time.monotonic()
        claim_id = f"{run}{n}"
        handle = await team.report(
            application, claim_id=claim_id, workflow_id=claim_msg.workflow_id(claim_id)
        )
        recorder.step("start", time.monotonic() - began)
        trace = ClaimTrace(path=path)
        end = await team.work(handle, path=path, rng=rng, trace=trace)
        for name, seconds in trace.steps:
            recorder.step(name, seconds)
        elapsed = time.monotonic() - began
        recorder.step(f"lifecycle {path.value}", elapsed)
        for missed in trace.missed:
            # Reported beside the errors: the program refused a late step, as it should.
            recorder.step(f"missed window: {missed}", elapsed)
        expected = AWAITING_PERIOD.get(end) if spec.period else EXPECTED_END[path]
        if end is not expected and not trace.missed:
            raise UnexpectedEndError(f"{handle.id}: {path.value} ended {end.value}")
        if path is ClaimPath.APPROVED and not paid_example:
            paid_example.append(handle.id)
        slowest[handle.id] = elapsed
        if len(slowest) > 20:
            del slowest[min(slowest, key=lambda k: slowest[k])]
        return end.value

    async def noop(n: int) -> str:
        return await run_noop(
            client, workflow_id=f"{run}noop-{n}", task_queue=workers.noop_queue, shape=TYPICAL_CLAIM
        )

    phases: list[str] = []
    for _ in range(spec.rounds):
        if spec.ceiling or spec.scenario is None:
            phases.append("ceiling")
        if spec.scenario is not None:
            phases.append("claims")
    counts: dict[str, int] = {}
    for number, name in enumerate(phases):
        counts[name] = counts.get(name, 0) + 1
        recorder = Recorder()
        load = dataclasses.replace(spec.load, seed=spec.load.seed + number)
        if name == "ceiling" and spec.scenario is not None:
            load = dataclasses.replace(load, rate=None, concurrency=spec.ceiling_concurrency)
        offset = 1_000_000 * number  # ids stay unique across phases

        def iteration(
            n: int, r: Recorder = recorder, phase: str = name, first: int = offset
        ) -> Any:
            return claim(first + n, r) if phase == "claims" else noop(first + n)

        roles = {
            "workers": workers.pids(name),
            "load generator": [os.getpid()],
            **({"server": [server_pid]} if server_pid else {}),
        }
        with ProcessSampler(roles) as sampler:
            outcome = await drive(
                load, iteration, recorder, title=f"{name} {counts[name]}", console=console
            )
        report.phases.append(
            _phase(name, counts[name], recorder, outcome, float(clock.seconds_per_day), sampler)
        )
    if spec.period:
        console.print("the period takes the approved claims ...")
        report.period = await run_period(
            client,
            task_queue=workers.claims_queue,
            clock=clock,
            plan_id=PLAN_ID,
            timeout_s=spec.period_timeout_s,
        )
    report.open_workflows = await _count_open(client, run)
    await _histories(client, report, slowest, paid_example)


async def _count_open(client: Client, run: str) -> int:
    counted = await client.count_workflows(f"({of_run(run)}) AND ExecutionStatus = 'Running'")
    return counted.count


async def _histories(
    client: Client, report: RunReport, slowest: dict[str, float], paid: list[str]
) -> None:
    """The longest history among the slowest claims, and a paid claim's shape (the no-op
    workflow's, counted again)."""
    longest: tuple[int, str] = (0, "")
    for workflow_id in slowest:
        described = await client.get_workflow_handle(workflow_id).describe()
        length = described.raw_description.workflow_execution_info.history_length
        longest = max(longest, (length, workflow_id))
    if longest[1]:
        report.longest_history = {"workflow_id": longest[1], "events": longest[0]}
    if paid:
        history = await client.get_workflow_handle(paid[0]).fetch_history()
        report.claim_shape = dataclasses.asdict(shape_of(history))
        report.claim_shape["events"] = len(history.events)


def _phase(
    name: str,
    number: int,
    recorder: Recorder,
    outcome: Any,
    seconds_per_day: float,
    sampler: ProcessSampler,
) -> Phase:
    end = recorder.now()
    arrivals = max(outcome.arrivals_s, 1e-9)
    # Sustained: completions while arrivals ran (the drain only empties the pipe).
    sustained = sum(1 for t in recorder.completions if t <= arrivals) / arrivals
    return Phase(
        name=name,
        round=number,
        seconds=round(end, 1),
        started=len(recorder.starts),
        completed=len(recorder.completions),
        errors=dict(recorder.errors),
        error_examples=dict(recorder.error_examples),
        open_at_end=outcome.open_at_end,
        completed_per_s=round(sustained, 3),
        outcomes=dict(recorder.outcomes),
        latencies=[latency(k, v, seconds_per_day) for k, v in sorted(recorder.steps.items())],
        started_per_second=recorder.per_second(recorder.starts, end),
        completed_per_second=recorder.per_second(recorder.completions, end),
        processes=sampler.summary(),
    )


class Workers:
    """The run's worker processes: `mutualaid worker` on the claims' queue and the no-op
    worker on the ceiling's, started before the load and stopped (SIGTERM, then waited for)
    after it, whatever happens."""

    def __init__(
        self,
        settings: Settings,
        spec: ClaimsLoad,
        claims_queue: str,
        noop_queue: str,
        console: Console,
    ) -> None:
        self.claims_queue = claims_queue
        self.noop_queue = noop_queue
        self._settings = settings
        self._spec = spec
        self._console = console
        self._processes: dict[str, list[subprocess.Popen[str]]] = {"claims": [], "ceiling": []}

    def pids(self, phase: str) -> list[int]:
        return [p.pid for p in self._processes[phase]]

    def __enter__(self) -> Workers:
        env = {**os.environ}
        env[f"{PREFIX}DATABASE_URL"] = self._settings.database_url
        env[f"{PREFIX}STORE_ROOT"] = self._settings.store_root
        env[f"{PREFIX}STATE_DIR"] = str(self._settings.state_dir)
        try:
            for _ in range(self._spec.workers):
                if self._spec.scenario is not None:
                    self._start(
                        "claims",
                        [*_CLAIMS_WORKER, "--task-queue", self.claims_queue],
                        env,
                    )
                if self._spec.ceiling or self._spec.scenario is None:
                    self._start(
                        "ceiling",
                        [*_NOOP_WORKER, "--task-queue", self.noop_queue],
                        env,
                    )
            for processes in self._processes.values():
                for process in processes:
                    _wait_ready(process)
        except BaseException:
            self.__exit__()
            raise
        self._console.print(
            f"{self._spec.workers} worker(s) a queue ready: {self.claims_queue}, {self.noop_queue}"
        )
        return self

    def _start(self, phase: str, command: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self._processes[phase].append(process)

    def __exit__(self, *_: object) -> None:
        processes = [p for ps in self._processes.values() for p in ps]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[str]) -> None:
    """Wait for the worker's "worker ready" line; then keep draining its output in a thread
    (a full pipe would block it)."""
    assert process.stdout is not None
    stdout = process.stdout
    deadline = time.monotonic() + _WORKER_READY_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited before it was ready: {''.join(seen)[-2000:]}")
        seen.append(line)
        if line.startswith("worker ready"):
            threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
            return
    raise RuntimeError("worker not ready within two minutes")


async def clean_run(settings: Settings, run_id: str) -> tuple[int, int]:
    """Terminate a run's running workflows and delete all of them from Temporal: its claims
    and no-op workflows by their ids, and the periods its own database opened (a period's id
    is its plan and day, the same for every run on the server). Returns (terminated,
    deleted)."""
    run = prefix(check_run_id(run_id))
    client = await connect(settings)
    executions = [e async for e in client.list_workflows(of_run(run))]
    for period_id in _periods_of(settings, run_id):
        try:
            executions.append(await client.get_workflow_handle(period_id).describe())
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
    terminated = deleted = 0
    for execution in executions:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        if execution.status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate(reason=f"loadtest clean {run_id}")
            terminated += 1
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(
                    workflow_id=execution.id, run_id=execution.run_id
                ),
            )
        )
        deleted += 1
    return terminated, deleted


def _periods_of(settings: Settings, run_id: str) -> list[str]:
    """The workflow ids of the periods a run's own database opened (none with a shared one)."""
    if f"{PREFIX}DATABASE_URL" in os.environ:
        return []
    database = (settings.state_dir / "loadtest" / run_id / "mutualaid.db").resolve()
    if not database.exists():
        return []
    engine = make_engine(f"sqlite:///{database}")
    try:
        with unit_of_work(engine) as session:
            rows = PeriodRepository(session).list()
            return [period_msg.workflow_id(r.plan_id, r.publicity_date) for r in rows]
    finally:
        engine.dispose()


# ---- the report ----------------------------------------------------------------------


def write_report(report: RunReport, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "title": report.title,
        "run_id": report.run_id,
        "settings": report.settings,
        "summary": report.summary(),
        "phases": [dataclasses.asdict(p) for p in report.phases],
        "longest_history": report.longest_history,
        "claim_shape": report.claim_shape,
        "ceiling_shape": dataclasses.asdict(TYPICAL_CLAIM),
        "open_workflows": report.open_workflows,
        "period": report.period,
    }
    (out_dir / "report.json").write_text(json.dumps(data, indent=1, default=_json_default))
    (out_dir / "report.html").write_text(_html(report, data))


def _json_default(value: object) -> object:
    return str(value)


def _html(report: RunReport, data: dict[str, Any]) -> str:
    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "<p>none</p>"
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>"
            for row in rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    parts = [
        f"<h1>{html.escape(report.title)}</h1>",
        "<h2>Summary</h2>",
        table([data["summary"]]),
        "<h2>Settings</h2>",
        table([report.settings]),
    ]
    for phase in report.phases:
        parts += [
            f"<h2>{html.escape(phase.name)} {phase.round}</h2>",
            table(
                [
                    {
                        "seconds": phase.seconds,
                        "started": phase.started,
                        "completed": phase.completed,
                        "completed/s": phase.completed_per_s,
                        "errors": phase.errors,
                        "open at end": phase.open_at_end,
                        "outcomes": phase.outcomes,
                    }
                ]
            ),
            "<h3>Latency</h3>",
            table([dataclasses.asdict(x) for x in phase.latencies]),
            "<h3>Throughput</h3>",
            line_chart(
                {"started": phase.started_per_second, "completed": phase.completed_per_second},
                x_label="seconds into the phase",
                y_label="claims per second",
            ),
            "<h3>Processes</h3>",
            table([{"role": k, **v} for k, v in phase.processes.items()]),
        ]
    parts += [
        "<h2>Workflows</h2>",
        table([{"longest history": report.longest_history, "claim shape": report.claim_shape}]),
    ]
    if report.period:
        figures = {k: v for k, v in report.period.items() if k != "steps"}
        parts += [
            "<h2>The period</h2>",
            table([figures]),
            "<h3>Its steps</h3>",
            table(report.period["steps"]),
        ]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
