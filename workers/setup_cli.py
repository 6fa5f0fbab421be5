"""Setting a deployment up from the command line: the embedded dev server (`dev`), plan rules
(`plans`), the relational schema (`db`), search attributes on a cluster's namespace, and the
effective configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from infra.clusterstack import ClusterProfile, check_profile
from infra.config import PREFIX, SETTINGS, load_settings
from infra.db import current_revision, redacted
from infra.plans import get_plan, read_plan_file
from infra.temporal import connect, register_search_attributes
from infra.warmray import WarmRay
from mutualaid.errors import InputError
from mutualaid.money import format_fen
from mutualaid.plan import Plan
from workers.exits import exits_explicitly
from workers.output import JsonFlag, emit
from workers.stack import (
    background_console,
    dev_stack,
    peeked_clock,
    plan_sources,
    prepare_database,
)
from workflows.search_attributes import INDEXED_TYPES, REGISTRATION

dev = typer.Typer(help="The embedded Temporal dev server.", no_args_is_help=True)
plans = typer.Typer(help="Plan rules.", no_args_is_help=True)
db = typer.Typer(help="The relational store.", no_args_is_help=True)

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


@exits_explicitly
def search_attributes() -> None:
    """Register the workflows' search attributes on the configured namespace (a cluster's)."""
    settings = load_settings()

    async def apply() -> list[str]:
        client = await connect(settings)
        return await register_search_attributes(client, settings.temporal_namespace, INDEXED_TYPES)

    added = asyncio.run(apply())
    print(f"added: {', '.join(added)}" if added else "all search attributes already registered")


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
