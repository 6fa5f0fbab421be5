"""The `mutualaid` command line. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import sys
from fractions import Fraction
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from infra.clusterstack import ClusterProfile, check_profile
from infra.config import PREFIX, SETTINGS, load_settings
from infra.db import current_revision, redacted
from infra.plans import get_plan, read_plan_file
from infra.temporal import connect, register_search_attributes
from infra.warmray import WarmRay
from mutualaid.errors import InputError, MutualAidError, exit_code_for
from mutualaid.money import format_fen
from mutualaid.plan import Plan
from workers.actors_cli import actors_app
from workers.claims_cli import claims_app
from workers.console_cli import users, web_command
from workers.demo import DemoOptions, run_demo
from workers.loadtest_cli import loadtest
from workers.output import emit, errors
from workers.periods_cli import periods, schedules
from workers.project_cli import project_command
from workers.settle_cli import population, settle
from workers.stack import (
    background_console,
    dev_stack,
    peeked_clock,
    plan_sources,
    prepare_database,
)
from workers.worker import exits_explicitly, worker_command
from workflows.search_attributes import INDEXED_TYPES, REGISTRATION

app = typer.Typer(
    help="Run a Chronic Disease Mutual Aid Program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dev = typer.Typer(help="The embedded Temporal dev server.", no_args_is_help=True)
plans = typer.Typer(help="Plan rules.", no_args_is_help=True)
db = typer.Typer(help="The relational store.", no_args_is_help=True)
app.add_typer(dev, name="dev")
app.add_typer(plans, name="plans")
app.add_typer(db, name="db")
app.add_typer(claims_app, name="claims")
app.add_typer(actors_app, name="actors")
app.command("worker")(worker_command)
app.add_typer(population, name="population")
app.add_typer(settle, name="settle")
app.add_typer(periods, name="periods")
app.add_typer(schedules, name="schedules")
app.add_typer(loadtest, name="loadtest")
app.command("project")(project_command)
app.command("web")(web_command)
app.add_typer(users, name="users")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile",
        help="local: the Temporal dev server (the default deployment). cluster: SeaweedFS (S3), "
        "PostgreSQL, a two-node Ray cluster and the Temporal dev server, on loopback.",
    ),
]


WarmRayOption = Annotated[
    bool,
    typer.Option(
        "--warm-ray",
        help="Also start a local Ray head that every command of this state folder joins, "
        "instead of starting and stopping Ray itself (about 4 s a command saved).",
    ),
]


@dev.command("up")
def dev_up(
    as_json: JsonFlag = False, profile: ProfileOption = "local", warm_ray: WarmRayOption = False
) -> None:
    """Start the Temporal dev server (persistent, with search attributes) and print where; with
    --warm-ray a local Ray head too; with --profile cluster, every part of the cluster profile
    and the settings that use it."""
    settings = load_settings()
    if warm_ray and check_profile(profile) == "cluster":
        raise InputError("warm_ray", True, "is for the local profile (the cluster has its Ray)")
    if check_profile(profile) == "cluster":
        cluster = ClusterProfile(settings.state_dir)
        values = cluster.up(REGISTRATION)
        emit(
            values | {"settings file": str(cluster.env_file)},
            as_json=as_json,
            title="Cluster profile: load these settings with `. <settings file>`",
        )
        return
    status = dev_stack(settings).up(REGISTRATION)
    ray = WarmRay(settings.state_dir).up() if warm_ray else WarmRay(settings.state_dir).status()
    emit(
        {
            "running": status.running,
            "pid": status.pid,
            "grpc": status.address,
            "web_ui": status.web_ui_url,
            "namespace": settings.temporal_namespace,
            "db_file": str(status.db_file),
            "log_file": str(status.log_file),
            "warm_ray": ray.address if ray.running else None,
        },
        as_json=as_json,
        title="Temporal dev server",
    )


@dev.command("status")
def dev_status(as_json: JsonFlag = False, profile: ProfileOption = "local") -> None:
    """Say whether the dev server (or every part of the cluster profile) runs (exit 1 when
    something does not)."""
    settings = load_settings()
    if check_profile(profile) == "cluster":
        parts = ClusterProfile(settings.state_dir).status()
        emit(
            [{"part": p.name, "running": p.running, "where": p.where} for p in parts],
            as_json=as_json,
            title="Cluster profile",
        )
        if not all(p.running for p in parts):
            raise typer.Exit(1)
        return
    status = dev_stack(settings).status()
    ray = WarmRay(settings.state_dir).status()
    web = background_console(settings)
    emit(
        {
            "running": status.running,
            "pid": status.pid,
            "grpc": status.address,
            "web_ui": status.web_ui_url,
            "warm_ray": ray.address if ray.running else None,
            "console": web.url if web.running() else None,
        },
        as_json=as_json,
        title="Temporal dev server",
    )
    if not status.running:
        raise typer.Exit(1)


@dev.command("down")
def dev_down(profile: ProfileOption = "local") -> None:
    """Stop the dev server (or the cluster profile's parts); their data stays."""
    settings = load_settings()
    if check_profile(profile) == "cluster":
        stopped = ClusterProfile(settings.state_dir).down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "not running")
        return
    stopped_console = background_console(settings).down()
    stopped_one = dev_stack(settings).down()
    stopped_ray = WarmRay(settings.state_dir).down()
    print("stopped" if stopped_one or stopped_ray or stopped_console else "not running")


@plans.command("list")
def plans_list(as_json: JsonFlag = False) -> None:
    """Every plan this installation knows, with its rules version."""
    rows = [
        _plan_summary(source.plan) | {"source": source.origin}
        for source in plan_sources(load_settings()).values()
    ]
    emit(rows, as_json=as_json, title="Plans")


@plans.command("show")
def plans_show(plan_id: str, as_json: JsonFlag = False) -> None:
    """One plan's rules."""
    plan = get_plan(plan_sources(load_settings()), plan_id)
    emit(_plan_detail(plan), as_json=as_json, title=f"Plan {plan.id}")


@plans.command("check")
def plans_check(path: Path, as_json: JsonFlag = False) -> None:
    """Load a plan file and report it, or the first thing wrong with it."""
    emit(_plan_detail(read_plan_file(path).plan), as_json=as_json, title=str(path))


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema and record every plan's rules version."""
    settings = load_settings()
    engine = prepare_database(settings)
    print(f"schema at {current_revision(engine)} on {redacted(settings.database_url)}")
    engine.dispose()


@app.command("search-attributes")
@exits_explicitly
def search_attributes() -> None:
    """Register the workflows' search attributes on the configured namespace (a cluster's)."""
    settings = load_settings()

    async def apply() -> list[str]:
        client = await connect(settings)
        return await register_search_attributes(client, settings.temporal_namespace, INDEXED_TYPES)

    added = asyncio.run(apply())
    print(f"added: {', '.join(added)}" if added else "all search attributes already registered")


@app.command("config")
def config(as_json: JsonFlag = False) -> None:
    """The effective settings and the environment variables that change them."""
    settings = load_settings()
    values = {
        "STATE_DIR": str(settings.state_dir),
        "DATABASE_URL": redacted(settings.database_url),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_UI_PORT": str(settings.temporal_ui_port),
        "CONSOLE_PORT": str(settings.console_port),
        "TASK_QUEUE": settings.task_queue,
        "RAY_ADDRESS": settings.ray_address or "(local ray.init())",
        "STORE_ROOT": settings.store_root,
        "PLAN_FILES": ":".join(str(p) for p in settings.plan_files) or "(built-in plans)",
        "SECONDS_PER_DAY": str(settings.seconds_per_day or "(unset)"),
    }
    rows = [
        {"variable": PREFIX + s.name, "value": values[s.name], "meaning": s.help} for s in SETTINGS
    ]
    clock = peeked_clock(settings)
    rows.append(
        {
            "variable": "program clock",
            "value": (
                f"{clock.seconds_per_day} s a program day; program "
                f"{clock.origin_program.isoformat()} at real {clock.origin_real.isoformat()}"
                if clock is not None
                else "(not set up yet: recorded by the first command that sets it up)"
            ),
            "meaning": "the deployment's clock, recorded in SQL once; every workflow, "
            "Schedule, the demo and the load tests run on it",
        }
    )
    emit(rows, as_json=as_json, title="Configuration")


@app.command("demo")
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


def _plan_summary(plan: Plan) -> dict[str, object]:
    return {
        "plan": plan.id,
        "name": plan.name,
        "rules_version": plan.rules_version,
        "effective_from": plan.effective_from.isoformat(),
    }


def _plan_detail(plan: Plan) -> dict[str, object]:
    return _plan_summary(plan) | {
        "joining_age": f"{plan.joining.min_age_days} days to {plan.joining.max_age_years} years",
        "exit_age": plan.joining.exit_age_years,
        "chronic_groups": [f"{g.id} {g.name}" for g in plan.chronic_groups],
        "covered_conditions": sorted(plan.coverage.covered_conditions),
        "waiting_days": plan.coverage.waiting_days,
        "benefits": [f"{b.min_age}-{b.max_age}: {format_fen(b.amount_fen)}" for b in plan.benefits],
        "fee_rate": f"{float(plan.sharing.fee_rate * 100):g}%",
        "annual_cap": format_fen(plan.sharing.annual_cap_fen),
        "per_case_cap": format_fen(plan.sharing.per_case_cap_fen)
        if plan.sharing.per_case_cap_enabled
        else "off",
        "objection_window_days": plan.sharing.objection_window_days,
        "debit_retry_days": plan.sharing.debit_retry_days,
        "payout_deadline_days": plan.sharing.payout_deadline_days,
        "jury": f"{plan.jury.min_valid_votes} valid votes, more than "
        f"{float(plan.jury.approve_above * 100):g}% approve, jurors {plan.jury.juror_min_age}+ "
        f"with {plan.jury.juror_min_tenure_days} days' membership",
    }


def main() -> None:
    """Entry point: run the command, turning every expected error into one line on stderr and
    its exit code (2 for bad input and every usage error, as click does)."""
    try:
        code = app(standalone_mode=False)
    except MutualAidError as exc:
        _fail(str(exc), exit_code_for(exc))
    except typer.Abort:
        errors.print("aborted", markup=False)
        sys.exit(130)
    except NoArgsIsHelpError as exc:
        # The group's help is already on stdout (typer prints it while raising).
        _fail(f"missing command{_help_hint(exc)}", 2)
    except UsageError as exc:
        # A bad value, a missing or unknown option or command. Typer raises the exceptions of
        # its own vendored click, not click's; they all derive from its UsageError.
        _fail(f"{exc.format_message()}{_help_hint(exc)}", 2)
    except typer.TyperException as exc:
        _fail(exc.format_message(), exc.exit_code or 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr, whatever the message held, and the exit code."""
    line = " ".join(message.split())
    errors.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def _help_hint(exc: UsageError) -> str:
    return f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""


if __name__ == "__main__":
    main()
