"""The worker process: runs claim workflows and their activities on one task queue.

    mutualaid worker [--task-queue Q] [--activities N] [--workflow-tasks N]
    python workers/worker.py ...        (the same command)

Configuration comes from the MUTUALAID_* settings (database, Temporal, member store, plans);
the options set the task queue, the concurrency, the grace period and the simulated
services. On SIGTERM or SIGINT the worker stops polling, lets in-flight activities finish
(up to the grace period) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.investigation import InvestigationActivities, SimulatedFirm
from activities.payment import PaymentRail
from activities.periods import PeriodActivities
from infra.config import Settings, load_settings
from infra.db import open_database
from infra.temporal import connect_patiently
from mutualaid.errors import InputError
from mutualaid.plan import Plan
from settlement.executor import Executor, executor_for
from workers.exits import exits_explicitly, first_line, say_on_stderr
from workers.stack import plan_sources
from workflows.claim import ClaimWorkflow
from workflows.period import PeriodTriggerWorkflow, PeriodWorkflow


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    task_queue: str
    max_concurrent_activities: int = 8
    max_concurrent_workflow_tasks: int = 8
    graceful_shutdown_s: float = 30.0
    firm_latency_s: float = 0.0
    firm_failure_rate: float = 0.0
    payment_latency_s: float = 0.0
    # Workflows kept in memory between tasks (the sticky cache); 0 replays every task from
    # history, so no task is bound to this process (see `--cached-workflows`).
    max_cached_workflows: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_concurrent_activities", "max_concurrent_workflow_tasks"):
            value = getattr(self, name)
            if not 1 <= value <= 1000:
                raise InputError(name.replace("_", "-"), value, "must be between 1 and 1000")
        if not 0 <= self.firm_failure_rate <= 1:
            raise InputError("firm-failure-rate", self.firm_failure_rate, "must be in [0, 1]")
        if self.max_cached_workflows < 0:
            raise InputError("cached-workflows", self.max_cached_workflows, "must be >= 0")
        for name in ("graceful_shutdown_s", "firm_latency_s", "payment_latency_s"):
            if getattr(self, name) < 0:
                raise InputError(name.replace("_", "-"), getattr(self, name), "must be >= 0")


def build_worker(
    client: Client,
    *,
    engine: Engine,
    store_root: str,
    plans: Mapping[str, Plan],
    options: WorkerOptions,
    executor: ThreadPoolExecutor,
    publicity_dir: Path,
    period_executor: Callable[[], Executor],
    firm: SimulatedFirm | None = None,
) -> Worker:
    """A worker for claim and period workflows and every activity they call."""
    claims = ClaimActivities(engine=engine, store_root=store_root, plans=plans)
    periods = PeriodActivities(
        engine=engine,
        store_root=store_root,
        plans=plans,
        executor=period_executor,
        publicity_dir=publicity_dir,
    )
    investigation = InvestigationActivities(
        firm
        or SimulatedFirm(latency_s=options.firm_latency_s, failure_rate=options.firm_failure_rate)
    )
    rail = PaymentRail(engine=engine, latency_s=options.payment_latency_s)
    return Worker(
        client,
        task_queue=options.task_queue,
        workflows=[ClaimWorkflow, PeriodWorkflow, PeriodTriggerWorkflow],
        activities=[*claims.all, investigation.commission, rail.pay_out, *periods.all],
        activity_executor=executor,
        max_concurrent_activities=options.max_concurrent_activities,
        max_concurrent_workflow_tasks=options.max_concurrent_workflow_tasks,
        max_cached_workflows=options.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=options.graceful_shutdown_s),
    )


async def run_worker(settings: Settings, options: WorkerOptions) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully. An outage of Temporal (or of
    the database at start-up) is waited out, however long, and the worker carries on."""
    plans = {plan_id: source.plan for plan_id, source in plan_sources(settings).items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = await _open_database_patiently(settings, stop)
    if engine is None:
        return
    try:
        with ThreadPoolExecutor(
            max_workers=options.max_concurrent_activities, thread_name_prefix="activity"
        ) as executor:

            def make(client: Client) -> Worker:
                return build_worker(
                    client,
                    engine=engine,
                    store_root=settings.store_root,
                    plans=plans,
                    options=options,
                    executor=executor,
                    publicity_dir=settings.state_dir / "publicity",
                    period_executor=lambda: executor_for(settings.ray_address),
                )

            def ready() -> None:
                print(
                    f"worker ready: task queue {options.task_queue} on "
                    f"{settings.temporal_address} ({settings.temporal_namespace})",
                    flush=True,
                )

            await supervise(settings, make, stop, on_ready=ready)
        print("worker stopped", flush=True)
    finally:
        engine.dispose()


async def supervise(
    settings: Settings,
    make: Callable[[Client], Worker],
    stop: asyncio.Event,
    *,
    on_ready: Callable[[], None] = lambda: None,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> None:
    """Run a worker until `stop` is set, riding out outages: connect patiently; when the
    worker fails (the SDK gives up polling a server that has been away for about a minute),
    build a new one and go on, with backoff. On `stop`, shut down gracefully."""
    delay = RESTART_INITIAL_S
    while not stop.is_set():
        client = await connect_patiently(settings, stop)
        if client is None:
            return
        worker = make(client)
        running = asyncio.create_task(worker.run())
        stopping = asyncio.create_task(stop.wait())
        started = loop_time()
        on_ready()
        done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            say("stopping: finishing in-flight activities")
            await worker.shutdown()
            with contextlib.suppress(Exception):
                await running
            return
        stopping.cancel()
        failure = running.exception() if not running.cancelled() else None
        if loop_time() - started > RESTART_RESET_S:
            delay = RESTART_INITIAL_S
        say_on_stderr(
            f"worker lost Temporal ({first_line(str(failure) or type(failure).__name__)}); "
            f"starting again in {delay:.0f} s"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RESTART_MAX_S)


RESTART_INITIAL_S = 1.0
RESTART_MAX_S = 30.0
RESTART_RESET_S = 120.0  # a worker that ran this long before failing restarts at once


def loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _open_database_patiently(settings: Settings, stop: asyncio.Event) -> Engine | None:
    """The database, waited for while it does not answer (a wrong schema is still an error)."""
    delay = 0.5
    said = False
    while not stop.is_set():
        try:
            return open_database(settings.database_url)
        except OperationalError as exc:
            if not said:
                reason = first_line(str(exc.orig))
                say_on_stderr(f"database not answering ({reason}); waiting for it")
                said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 15.0)
    return None


@exits_explicitly
def worker_command(
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", help="Default: MUTUALAID_TASK_QUEUE.")
    ] = None,
    activities: Annotated[
        int, typer.Option("--activities", help="Activities run at once (threads).")
    ] = 8,
    workflow_tasks: Annotated[
        int, typer.Option("--workflow-tasks", help="Workflow tasks run at once.")
    ] = 8,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds in-flight activities get to finish.")
    ] = 30.0,
    firm_latency: Annotated[
        float, typer.Option("--firm-latency", help="Simulated investigation firm: seconds.")
    ] = 0.0,
    firm_failure_rate: Annotated[
        float, typer.Option("--firm-failure-rate", help="Share of firm calls unanswered.")
    ] = 0.0,
    payment_latency: Annotated[
        float, typer.Option("--payment-latency", help="Simulated payment rail: seconds.")
    ] = 0.0,
    cached_workflows: Annotated[
        int,
        typer.Option(
            "--cached-workflows",
            help="Workflows cached between tasks; 0 binds no task to this process (the "
            "time-skipping test server never hands a dead worker's sticky tasks on).",
        ),
    ] = 1000,
) -> None:
    """Run the claim worker until SIGTERM or SIGINT."""
    settings = load_settings()
    options = WorkerOptions(
        task_queue=task_queue or settings.task_queue,
        max_concurrent_activities=activities,
        max_concurrent_workflow_tasks=workflow_tasks,
        graceful_shutdown_s=grace,
        firm_latency_s=firm_latency,
        firm_failure_rate=firm_failure_rate,
        payment_latency_s=payment_latency,
        max_cached_workflows=cached_workflows,
    )
    asyncio.run(run_worker(settings, options))


def main() -> None:
    """`python workers/worker.py ...`: the worker alone, with `mutualaid worker`'s options."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(worker_command)
    app()


if __name__ == "__main__":
    main()
