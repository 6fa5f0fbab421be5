"""`mutualaid population ...` and `mutualaid settle ...`: the settlement engine by hand.

Long work shows a progress bar on stderr; results print as a table or, with --json, as one
JSON document. Every error is one line and exit 2, before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from fractions import Fraction
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infra.config import Settings, absolute_store_root, load_settings
from infra.db import unit_of_work
from infra.plans import get_plan
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.calendar import parse_date, parse_moment, publicity_day_for
from mutualaid.errors import InputError
from mutualaid.money import parse_fen
from settlement.engine import CancelResult, LockResult, RunResult, Settlement, cancel_period
from settlement.executor import Executor, InlineExecutor, executor_for
from settlement.population import PopulationSpec, check_spec, generate_population
from settlement.reconcile_period import reconcile_period
from settlement.retention import apply_retention, retention_plan
from settlement.steps import (
    JobServer,
    Ran,
    debit_step,
    job_server,
    lock_step,
    retry_step,
)
from settlement.store import MemberStore, fitted_shards, local_cpus
from workers.output import JsonFlag, console, emit, errors
from workers.stack import plan_sources, prepare_database, program_today, recorded_clock

population = typer.Typer(help="Synthetic member populations.", no_args_is_help=True)
settle = typer.Typer(help="The settlement engine: lock, debit, retry.", no_args_is_help=True)

PlanOpt = Annotated[str, typer.Option("--plan", help="Plan id, e.g. chronic.")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Member store root.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Act as of this program moment (ISO); default now."),
]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="ray (default) or inline (this process, tiny stores).")
]


@population.command("generate")
def population_generate(
    plan_id: PlanOpt = "chronic",
    members: Annotated[int, typer.Option("--members", help="How many members.")] = 1_000_000,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            help="Shards, fixed for life. Default: the store's own if it exists, else about "
            "1.5M members a shard in whole waves over this machine's CPUs.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Population date.")] = None,
    cannot_pay: Annotated[str, typer.Option(help="Share of accounts that never pay.")] = "0.01",
    pays_late: Annotated[str, typer.Option(help="Share that pays on the first retry.")] = "0.02",
    store: StoreOpt = None,
    executor: ExecutorOpt = "ray",
    as_json: JsonFlag = False,
) -> None:
    """Generate a seeded synthetic population into the member store."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    root = absolute_store_root(store or settings.store_root)
    spec = PopulationSpec(
        members=members,
        shards=shards if shards is not None else fitted_shards(members, local_cpus()),
        seed=seed,
        as_of=parse_date(as_of, field="as_of") if as_of else program_today(settings),
        cannot_pay=_fraction("cannot_pay", cannot_pay),
        pays_late=_fraction("pays_late", pays_late),
    )
    check_spec(plan, spec)  # the arguments first, before the store is read
    if shards is None and MemberStore.exists(root, plan.id):
        # The count is fixed for life: a re-run without --shards keeps the store's own.
        spec = dataclasses.replace(spec, shards=MemberStore.open(root, plan.id).shards)
    with _bar(f"population {plan.id}", spec.shards) as advance:
        manifest = generate_population(
            root,
            plan,
            spec,
            executor=_executor(executor, settings),
            on_shard=lambda d, t: advance(),
        )
    emit(
        {
            "plan": plan.id,
            "snapshot": manifest.snapshot,
            "members": manifest.rows,
            "shards": len(manifest.shards),
            "store": root,
        },
        as_json=as_json,
        title="Population",
    )


@settle.command("lock")
def settle_lock(
    publicity_date: Annotated[str, typer.Option("--publicity-date")],
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    executor: ExecutorOpt = "ray",
    as_json: JsonFlag = False,
) -> None:
    """Lock the period's roster (00:00 on the 7th or 21st) and count N."""
    day = parse_date(publicity_date, field="publicity_date")
    _run_step(
        "Roster",
        lambda ctx, jobs: lock_step(ctx, day, now=_now(ctx, as_of), jobs=jobs),
        plan_id=plan_id,
        store=store,
        executor=executor,
        as_json=as_json,
    )


@settle.command("debit")
def settle_debit(
    sharing_date: Annotated[str, typer.Option("--sharing-date")],
    aid_fen: Annotated[
        str | None,
        typer.Option("--aid-fen", help="The period's aid in fen, as one amount (no per-case cap)."),
    ] = None,
    case_fen: Annotated[
        list[str] | None,
        typer.Option(
            "--case-fen", help="One cleared case's benefit in fen; repeat for every case."
        ),
    ] = None,
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    executor: ExecutorOpt = "ray",
    as_json: JsonFlag = False,
) -> None:
    """Fix the share and debit every roster member (the 14th or 28th). Give the period's
    cases (`--case-fen`, once per case; the plan's per-case cap applies) or its aid as one
    amount (`--aid-fen`)."""
    day = parse_date(sharing_date, field="sharing_date")
    if aid_fen is None and not case_fen:
        raise InputError("aid_fen", "", "is required: give --aid-fen, or --case-fen per case")
    if aid_fen is not None and case_fen:
        raise InputError("case_fen", ",".join(case_fen), "cannot be given with --aid-fen")
    aid = None if aid_fen is None else parse_fen(aid_fen, field="aid_fen")
    cases = None if not case_fen else [parse_fen(c, field="case_fen") for c in case_fen]
    _run_step(
        "Debit",
        lambda ctx, jobs: debit_step(
            ctx, day, now=_now(ctx, as_of), cases_fen=cases, aid_fen=aid, jobs=jobs
        ),
        plan_id=plan_id,
        store=store,
        executor=executor,
        as_json=as_json,
    )


@settle.command("retry")
def settle_retry(
    sharing_date: Annotated[str, typer.Option("--sharing-date")],
    attempt: Annotated[int | None, typer.Option("--attempt", help="Default: the next.")] = None,
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
    executor: ExecutorOpt = "ray",
    as_json: JsonFlag = False,
) -> None:
    """Retry the unpaid debits of a period (one attempt a day; the last removes non-payers)."""
    day = parse_date(sharing_date, field="sharing_date")
    _run_step(
        "Retry",
        lambda ctx, jobs: retry_step(ctx, day, now=_now(ctx, as_of), attempt=attempt, jobs=jobs),
        plan_id=plan_id,
        store=store,
        executor=executor,
        as_json=as_json,
    )


@settle.command("status")
def settle_status(
    plan_id: PlanOpt = "chronic",
    sharing_date: Annotated[str | None, typer.Option("--sharing-date")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The periods of a plan, or one period's runs."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    engine = prepare_database(settings)
    with unit_of_work(engine) as session:
        periods = PeriodRepository(session)
        if sharing_date is None:
            rows: list[dict[str, Any]] = [
                {
                    "period": p.workflow_id,
                    "state": p.state,
                    "members": p.members,
                    "share_fen": p.share_fen,
                    "collected_fen": p.collected_fen,
                    "unpaid_fen": p.unpaid_fen,
                    "surplus_out_fen": p.surplus_out_fen,
                }
                for p in periods.list(plan_id=plan.id)
            ]
            emit(rows, as_json=as_json, title=f"Periods of {plan.id}")
            return
        publicity = publicity_day_for(parse_date(sharing_date, field="sharing_date"))
        period = periods.get(plan.id, publicity)
        if period is None:
            raise InputError("sharing_date", sharing_date, f"has no period of plan {plan.id}")
        runs = [
            {
                "attempt": r.attempt,
                "state": r.state,
                "share_fen": r.share_fen,
                "members": r.members,
                "paid_fen": r.paid_fen,
                "unpaid_fen": r.unpaid_fen,
                "subsidy_fen": r.subsidy_fen,
                "planned_at": r.planned_at.isoformat(),
                "committed_at": r.committed_at.isoformat() if r.committed_at else None,
            }
            for r in DebitRunRepository(session).runs(period.id)
        ]
        emit(runs, as_json=as_json, title=f"Runs of {period.workflow_id} ({period.state})")


@settle.command("reconcile")
def settle_reconcile(
    sharing_date: Annotated[str, typer.Option("--sharing-date")],
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    executor: ExecutorOpt = "ray",
    as_json: JsonFlag = False,
) -> None:
    """Check a period's invariants again from its written ledgers (exit 1 if any fails)."""
    day = parse_date(sharing_date, field="sharing_date")
    with _settlement(plan_id, store, executor) as ctx:
        report = reconcile_period(ctx, publicity_day_for(day))
    emit(dataclasses.asdict(report), as_json=as_json, title="Reconciliation")
    if not report.balanced:
        raise typer.Exit(1)


@settle.command("retain")
def settle_retain(
    keep_periods: Annotated[
        int, typer.Option("--keep-periods", help="Closed periods whose account files stay.")
    ] = 6,
    apply: Annotated[bool, typer.Option("--apply", help="Remove the files (default: list).")] = (
        False
    ),
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply the store's retention policy: ledgers and manifests are kept forever; the account
    files of snapshots older than the newest --keep-periods closed periods are removed (listed
    only, without --apply). See settlement/retention.py."""
    with _settlement(plan_id, store, "inline") as ctx:
        plan = retention_plan(ctx, keep_periods)
        removed = apply_retention(ctx, plan) if apply else 0
    rows = [
        {"snapshot": r.snapshot, "files": len(r.files), "bytes": r.size, "removed": apply}
        for r in plan.removals
    ]
    if as_json:
        emit(
            {
                "keep_periods": keep_periods,
                "kept": list(plan.kept),
                "snapshots": rows,
                "bytes": plan.size,
                "files_removed": removed,
                "applied": apply,
            },
            as_json=True,
            title="Retention",
        )
        return
    emit(rows, as_json=False, title=f"Retention, keeping {keep_periods} closed periods")
    verb = "removed" if apply else "would remove (run with --apply)"
    console.print(
        f"{verb}: {sum(len(r.files) for r in plan.removals)} files, {plan.size:,} bytes; "
        f"kept: {', '.join(plan.kept) or 'nothing'}"
    )


@settle.command("cancel")
def settle_cancel(
    publicity_date: Annotated[str, typer.Option("--publicity-date")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")],
    plan_id: PlanOpt = "chronic",
    store: StoreOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel a period opened by mistake, before any money moved (refused after)."""
    day = parse_date(publicity_date, field="publicity_date")
    with _settlement(plan_id, store, "inline") as ctx:
        result = cancel_period(ctx, day, reason=reason, now=datetime.now(UTC))
    emit(_row(result), as_json=as_json, title=_title("Cancelled", result.already_done))


@contextmanager
def _settlement(plan_id: str, store: str | None, executor: str) -> Iterator[Settlement]:
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    engine = prepare_database(settings)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
            disable=not errors.is_terminal,
        ) as bars:
            yield Settlement(
                db=engine,
                store_root=absolute_store_root(store or settings.store_root),
                plan=plan,
                executor=_executor(executor, settings),
                progress=_progress_factory(bars),
            )
    finally:
        engine.dispose()


def _job_server(settings: Settings) -> JobServer | None:
    """A Ray cluster's job server (http://head:8265) when one is configured."""
    return job_server(settings)


def _run_step(
    what: str,
    step: Callable[[Settlement, JobServer | None], Ran[Any]],
    *,
    plan_id: str,
    store: str | None,
    executor: str,
    as_json: bool,
) -> None:
    """Run a settlement step and print what it committed. When a Ray job server is configured
    the step runs as a Ray Job (`settlement.steps`, the path the period workflow takes too)
    and this process only submits it and reads the result; otherwise it runs here."""
    jobs = _job_server(load_settings())
    with _settlement(plan_id, store, "inline" if jobs is not None else executor) as ctx:
        ran = step(ctx, jobs)
    row = _row(ran.result)
    if ran.job is not None:
        what = f"{what} (Ray job)"
        row |= {
            "submission_id": ran.job.submission_id,
            "submitted": ran.job.submitted,
            "job_status": ran.job.status,
            "failed_attempts": list(ran.job.passed_over),
        }
    emit(row, as_json=as_json, title=_title(what, row["already_done"]))


def _executor(name: str, settings: Settings) -> Executor:
    if name == "inline":
        return InlineExecutor()
    if name != "ray":
        raise InputError("executor", name, "must be ray or inline")
    return executor_for(settings.ray_address)


def _progress_factory(bars: Progress) -> Callable[[str], Callable[[int, int], None]]:
    def make(label: str) -> Callable[[int, int], None]:
        task = bars.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        return advance

    return make


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        # Bars are for people at a terminal; scripts and CI get only the result.
        disable=not errors.is_terminal,
    ) as bars:
        task = bars.add_task(label, total=total)
        yield lambda: bars.advance(task)


def _now(ctx: Settlement, as_of: str | None) -> datetime:
    """The program moment a step acts at: `--as-of`, else now on the deployment's clock."""
    if as_of is None:
        return recorded_clock(ctx.db).program_now(datetime.now(UTC))
    # YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]; without an offset, program time.
    return parse_moment(as_of, field="as_of")


def _fraction(field: str, text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(field, text, "is not a fraction like 0.01") from None
    if not 0 <= value <= 1:
        raise InputError(field, text, "must be between 0 and 1")
    return value


def _row(result: LockResult | RunResult | CancelResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _title(what: str, already: bool) -> str:
    return f"{what} (already done: nothing changed)" if already else what
