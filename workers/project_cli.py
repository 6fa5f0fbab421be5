"""`mutualaid project`: the cost projection, period by period from launch, with a what-if."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from infra.config import load_settings
from infra.plans import PlanSource, get_plan, read_plan_file
from loadtest.settlement import read_size
from mutualaid.calendar import parse_date
from mutualaid.errors import InputError
from mutualaid.money import format_fen
from mutualaid.plan import Plan, plan_with_changes
from simulation.projection import PeriodProjection, ProjectionSpec, project
from simulation.projection_input import (
    SETTABLE,
    Assumptions,
    builtin_assumptions,
    read_assumptions,
    with_growth,
    with_settings,
)
from workers import projection_report as report
from workers.output import emit, errors
from workers.stack import plan_sources


def project_command(
    plan_id: Annotated[str, typer.Option("--plan", help="The plan to project.")] = "chronic",
    years: Annotated[float, typer.Option("--years", help="Years from launch.")] = 5,
    members: Annotated[
        str,
        typer.Option(
            "--members",
            help="The membership the growth path reaches (its fractions scale this): "
            "100M, 105.4M, 2500.",
        ),
    ] = "100M",
    growth: Annotated[
        str | None,
        typer.Option(
            "--growth", help="A growth path: a shipped name (launch, platform) or a .toml."
        ),
    ] = None,
    launch: Annotated[
        str | None,
        typer.Option(
            "--launch", help="Launch day, YYYY-MM-DD (default: the plan's effective date)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draws.")] = 1,
    changes: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="What-if: KEY=VALUE of a plan rule (waiting_days=180, fee_rate_percent=6, "
            f"annual_cap=150) or an assumption ({', '.join(SETTABLE)}); repeatable. The "
            "projection runs with and without, side by side.",
        ),
    ] = None,
    versus: Annotated[
        Path | None,
        typer.Option("--versus", help="What-if: a second plan file, projected beside the first."),
    ] = None,
    assumptions_file: Annotated[
        Path | None,
        typer.Option("--assumptions", help="Assumptions file (default: the plan's shipped one)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the CSV, charts and page (<state>/projection/<plan>)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The yearly summary as JSON on stdout.")
    ] = False,
) -> None:
    """Project the plan's cost period by period from launch: joins along a growth path, exits,
    aging and the age limit, the waiting period, incidence of the covered illnesses by age,
    claim outcomes, the fee, failed debits and removals, the annual cap and the operator's
    subsidy. Writes periods.csv, share.png, yearly.png, members.png and index.html."""
    settings = load_settings()
    source = _plan_source(plan_id, plan_sources(settings))
    target = read_size(members, field="members")
    assumptions = (
        read_assumptions(assumptions_file)
        if assumptions_file is not None
        else builtin_assumptions(source.plan.id)
    )
    if growth is not None:
        assumptions = with_growth(assumptions, growth)
    start = parse_date(launch, field="launch") if launch else source.plan.effective_from
    settings_of_plan, settings_of_model = _split(changes or [])
    if versus is not None and (settings_of_plan or settings_of_model):
        raise InputError("versus", str(versus), "cannot be given with --set: choose one what-if")
    scenarios: list[tuple[str, Plan, Assumptions]] = [("base", source.plan, assumptions)]
    if settings_of_plan or settings_of_model:
        changed = plan_with_changes(source.text, settings_of_plan, source=source.origin)
        scenarios.append(("what-if", changed, with_settings(assumptions, settings_of_model)))
    if versus is not None:
        scenarios.append(("versus", read_plan_file(versus).plan, assumptions))
    folder = out or settings.state_dir / "projection" / source.plan.id
    runs: dict[str, list[PeriodProjection]] = {}
    for name, plan, model in scenarios:
        began = time.perf_counter()
        runs[name] = project(
            ProjectionSpec(
                plan=plan, assumptions=model, members=target, launch=start, years=years, seed=seed
            )
        )
        errors.print(
            f"{name}: {len(runs[name])} periods projected in {time.perf_counter() - began:.1f} s",
            highlight=False,
        )
    if not runs["base"]:
        raise InputError("years", years, "leaves no publicity day after launch")
    cap = source.plan.sharing.annual_cap_fen
    _write(folder, runs, cap, source, assumptions, start, target, seed, changes or [], versus)
    if as_json:
        print(
            json.dumps(
                {
                    name: [asdict(y) for y in report.yearly(periods)]
                    for name, periods in runs.items()
                },
                indent=2,
            )
        )
        return
    emit(report.period_table(runs), as_json=False, title=f"{source.plan.name}: every period")
    emit(
        report.year_table(runs, cap), as_json=False, title="Each year, for a member there all year"
    )
    errors.print(f"written to {folder}/ (index.html, periods.csv, {', '.join(report.CHARTS)})")


def _plan_source(plan_id: str, sources: dict[str, PlanSource]) -> PlanSource:
    return sources[get_plan(sources, plan_id).id]


def _split(changes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """--set KEY=VALUE settings: the plan's rules and the projection's assumptions."""
    of_plan: dict[str, str] = {}
    of_model: dict[str, str] = {}
    for change in changes:
        key, sep, value = change.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InputError("set", change, "must be KEY=VALUE, e.g. waiting_days=180")
        (of_model if key in SETTABLE else of_plan)[key] = value.strip()
    return of_plan, of_model


def _write(
    folder: Path,
    runs: dict[str, list[PeriodProjection]],
    cap: int,
    source: PlanSource,
    assumptions: Assumptions,
    start: object,
    target: int,
    seed: int,
    changes: list[str],
    versus: Path | None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report.write_csv(runs, folder / "periods.csv")
    images = report.charts(runs, cap)
    for name, data in images.items():
        (folder / name).write_bytes(data)
    inputs = {
        "plan": f"{source.plan.name} ({source.plan.rules_version}, {source.origin})",
        "launch": str(start),
        "members (growth target)": f"{target:,}",
        "growth path": assumptions.growth_name,
        "seed": str(seed),
        "annual cap": f"{format_fen(cap)} yuan",
        "relative risk": f"{assumptions.relative_risk:g}",
        "selection by year of membership": ", ".join(
            f"{f:g}" for f in assumptions.selection_by_year
        )
        or "none",
        "voluntary exits a year": f"{assumptions.exit_rate_per_year:.1%}",
        "failed first debits": f"{assumptions.debit_failure_rate:.1%}, "
        f"{assumptions.retry_recovery:.0%} of them paid in a retry",
        "diagnosis to publicity": f"{assumptions.claim_lag_periods} periods",
    }
    if changes:
        inputs["what-if"] = "; ".join(changes)
    if versus is not None:
        inputs["versus"] = str(versus)
    page = report.html_page(
        title=f"Cost projection: {source.plan.name}",
        inputs=inputs,
        runs=runs,
        cap_fen=cap,
        images=images,
        sources=[f"{i.condition}: {i.source}" for i in assumptions.incidence],
    )
    (folder / "index.html").write_text(page, encoding="utf-8")
