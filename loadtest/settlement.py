"""`mutualaid loadtest settlement`: one period's money for N members, step by step, at one or
more sizes, on local Ray (or the cluster MUTUALAID_RAY_ADDRESS names).

For each N: a seeded population (generated, or reused from the work folder, which is keyed on
N, shards and seed), a fresh SQLite database holding only the plan, then the period's steps
through the engine's own entry points, each timed and its memory sampled: the roster lock
(`lock_roster`), the sharing-day debit (`debit`, attempt 0) and the retries 1..retry days
(`retry`, the function the period workflow's retry activity runs, so the last one removes the
members still unpaid and closes the period). Then the money is checked: the engine's
reconciliation of the period (`reconcile_period`: paid + unpaid + subsidy == share x N, the
chain, the annual cap) and, read back from every ledger file, every fen charged on the
sharing day is paid in some attempt or still unpaid after the last, and the ledgers' payments
add up to what the steps reported.

The report (`report.json`, `report.html`) has a table per N of each step's seconds, members a
second (the population N over the step's seconds, as the benchmark counts) and peak resident
memory (the driver, and the driver with every Ray process it started); a sweep adds two charts
against N: each step's time and the peak memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]
import pyarrow.compute as pc
import ray
from rich.console import Console

from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import PlanSource
from infra.repositories import PlanRepository
from loadtest.charts import line_chart
from mutualaid.calendar import debit_day, roster_cutoff, sharing_day_for, start_of_day
from mutualaid.errors import InputError, InvariantError
from settlement.engine import RunResult, Settlement, debit, lock_roster, retry
from settlement.executor import RayExecutor, start_ray
from settlement.population import PopulationSpec, generate_population
from settlement.reconcile_period import PeriodReconciliation, reconcile_period
from settlement.schema import read_parquet
from settlement.store import ROWS_PER_SHARD, MemberStore, fitted_shards, local_cpus

# The benchmark's calendar (`benchmarks/settlement.py`): a population drawn on the 1st, the
# roster locked on the 7th, the debit on the 14th and its retries on the days after.
POPULATION_DATE = date(2026, 11, 1)
PUBLICITY = date(2026, 11, 7)
SHARING = sharing_day_for(PUBLICITY)
# About 4.35 yuan of aid a member: a share of 4.70 yuan once the 8% fee is on, as in Aug 2020.
AID_FEN_PER_MEMBER = 435
MIN_MEMBERS = 1_000
MAX_MEMBERS = 500_000_000

Result = TypeVar("Result")


def parse_size(text: str, *, field: str = "members") -> int:
    """A population size the load test takes: a whole number, or one with k (thousands) or M
    (millions).

    >>> parse_size("20k"), parse_size("1.5M"), parse_size("30000")
    (20000, 1500000, 30000)
    """
    return check_size(read_size(text, field=field), field=field, written=text)


def read_size(text: str, *, field: str = "members") -> int:
    """A number of members written 20000, 20k or 1.5M, of any size.

    >>> read_size("105.4M")
    105400000
    """
    number, scale = text.strip(), 1
    if number[-1:] in ("k", "K", "m", "M"):
        number, scale = number[:-1], 1_000 if number[-1] in "kK" else 1_000_000
    value = Fraction(number) * scale if re.fullmatch(r"[0-9]+(\.[0-9]+)?", number) else None
    if value is None or value.denominator != 1:
        raise InputError(field, text, "must be a whole number of members such as 20000, 20k or 1M")
    return int(value)


def check_size(members: int, *, field: str = "members", written: object = None) -> int:
    """A size the load test runs: at least `MIN_MEMBERS` (below that the fixed costs, Ray's
    task start and the SQL commits, are all it measures) and at most `MAX_MEMBERS` (five
    times the largest size measured; a typo's extra zeros fill the disk)."""
    if not MIN_MEMBERS <= members <= MAX_MEMBERS:
        raise InputError(
            field,
            members if written is None else written,
            f"must be between {MIN_MEMBERS:,} and {MAX_MEMBERS:,} members",
        )
    return members


def parse_sweep(text: str) -> tuple[int, ...]:
    """The sizes of a sweep, comma-separated (`100k,1M,10M`), each checked on its own.

    >>> parse_sweep("100k, 1M,2500000")
    (100000, 1000000, 2500000)
    """
    return tuple(parse_size(token, field="sweep") for token in text.split(","))


def default_shards(members: int) -> int:
    """The load test's shard count: the store's own fit of about 1.5 million members a shard
    in whole waves over this machine's CPUs."""
    return fitted_shards(members, local_cpus())


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementLoad:
    """A run: the sizes, the population's shape, where it works and where it reports."""

    sizes: tuple[int, ...]
    shards: int | None  # None: `default_shards` of each size
    seed: int
    workdir: Path
    out_dir: Path
    keep: bool  # reuse a population left in the work folder, and leave this run's there
    plan_source: PlanSource
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if not self.sizes:
            raise InputError("members", "", "give --members N or --sweep N,N,...")
        for members in self.sizes:
            check_size(members)
        if len(set(self.sizes)) != len(self.sizes):
            raise InputError("sweep", ",".join(map(str, self.sizes)), "names a size twice")
        if self.shards is not None and not 1 <= self.shards <= min(65_536, *self.sizes):
            raise InputError("shards", self.shards, "must be between 1 and 65536, and at most N")
        if self.seed < 0:
            raise InputError("seed", self.seed, "must not be negative")
        for name, folder in (("workdir", self.workdir), ("out", self.out_dir)):
            if folder.exists() and not folder.is_dir():
                raise InputError(name, str(folder), "is not a folder")

    def shards_for(self, members: int) -> int:
        return self.shards if self.shards is not None else default_shards(members)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFigures:
    step: str  # lock, debit, retry 1 ... retry 5
    seconds: float
    members_per_s: float
    peak_rss_mib_driver: float
    peak_rss_mib_with_ray: float
    bytes_written: int  # what the step added to the store (snapshots, ledgers, markers)
    paid_fen: int | None = None  # None for the lock
    unpaid_fen: int | None = None
    removed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MoneyCheck:
    """The period's money, from the engine's reconciliation and read back from the ledgers."""

    share_fen: int
    billed_fen: int  # share x N
    paid_fen: int
    unpaid_fen: int  # after the last retry
    subsidy_fen: int
    ledger_charges_fen: int  # every sharing-day charge in the attempt-0 ledgers
    ledger_paid_fen: int  # every payment in every attempt's ledgers
    charges_settled: bool  # ledger charges == paid + unpaid
    ledger_paid_matches: bool  # ledger payments == what the steps reported
    balanced: bool  # paid + unpaid + subsidy == share x N, and the engine's reconciliation
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.charges_settled and self.ledger_paid_matches and self.balanced


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeReport:
    members: int
    shards: int
    population: str  # "generated" or "reused"
    generate_s: float | None
    roster: int
    steps: list[StepFigures]
    total_s: float
    members_per_s: float
    reconcile_s: float
    money: MoneyCheck


@dataclass(slots=True, kw_only=True)
class SettlementReport:
    settings: dict[str, Any]
    sizes: list[SizeReport] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """One line a size: what a person reads first."""
        return {
            "report": self.settings["out"],
            "sizes": [
                {
                    "members": s.members,
                    "shards": s.shards,
                    "total_s": s.total_s,
                    "members_per_s": s.members_per_s,
                    "peak_rss_mib_with_ray": max(x.peak_rss_mib_with_ray for x in s.steps),
                    "money_ok": s.money.ok,
                }
                for s in self.sizes
            ],
        }


class PeakRss:
    """Samples the resident memory of this process and all its descendants (the local Ray
    cluster's GCS, raylet and workers are children of the driver)."""

    def __init__(self) -> None:
        self.peak_total = 0
        self.peak_self = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = mine = me.memory_info().rss
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak_total = max(self.peak_total, total)
            self.peak_self = max(self.peak_self, mine)
            self._stop.wait(0.2)


def reset_to_population(store: MemberStore, snapshot: str) -> None:
    """Take a store back to its population: every later snapshot and ledger removed, HEAD on
    the population (the database that recorded them is new too)."""
    base = Path(store.base)
    for folder in (base / "snapshots").iterdir():
        if folder.name != snapshot:
            shutil.rmtree(folder)
    shutil.rmtree(base / "ledgers", ignore_errors=True)
    store.set_head(snapshot)


def run_settlement_load(spec: SettlementLoad, *, console: Console) -> SettlementReport:
    """Every size in turn on one Ray cluster, then the report."""
    report = SettlementReport(
        settings={
            "plan": spec.plan_source.plan.id,
            "sizes": list(spec.sizes),
            "shards": spec.shards
            or f"about {ROWS_PER_SHARD:,} members a shard, whole waves over the cores",
            "seed": spec.seed,
            "workdir": str(spec.workdir),
            "out": str(spec.out_dir),
            "keep": spec.keep,
            "ray": spec.ray_address or "local",
            "cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    # Started once, before any clock runs: no step pays for starting the cluster.
    started_here = not ray.is_initialized()
    start_ray(spec.ray_address)
    try:
        executor = RayExecutor(address=spec.ray_address)
        for members in spec.sizes:
            report.sizes.append(_one_size(spec, members, executor, console))
    finally:
        # The command ends with an explicit exit, which skips Ray's own clean-up at exit
        # and would leave the local cluster's agents running.
        if started_here:
            ray.shutdown()
    write_report(report, spec.out_dir)
    console.print(f"report: {spec.out_dir / 'report.json'}, {spec.out_dir / 'report.html'}")
    return report


def _one_size(
    spec: SettlementLoad, members: int, executor: RayExecutor, console: Console
) -> SizeReport:
    plan_source = spec.plan_source
    plan = plan_source.plan
    shards = spec.shards_for(members)
    population = PopulationSpec(
        members=members, shards=shards, seed=spec.seed, as_of=POPULATION_DATE
    )
    folder = spec.workdir / f"n{members}-s{shards}-seed{spec.seed}"
    if not spec.keep:
        shutil.rmtree(folder, ignore_errors=True)
    root = str(folder / "store")
    store = MemberStore.create(root, plan.id, shards=shards)
    generate_s: float | None = None
    if store.head() is None:
        console.print(f"N {members:,}: generating the population in {shards} shards ...")
        began = time.perf_counter()
        generate_population(root, plan, population, executor=executor)
        generate_s = round(time.perf_counter() - began, 2)
    else:
        console.print(f"N {members:,}: reusing the population in {folder}")
        reset_to_population(store, population.snapshot)
    db_file = folder / "settlement.db"
    db_file.unlink(missing_ok=True)
    db = make_engine(f"sqlite:///{db_file}")
    try:
        upgrade(db)
        with unit_of_work(db) as session:
            PlanRepository(session).record(plan_source, at=roster_cutoff(PUBLICITY))
        ctx = Settlement(db=db, store_root=root, plan=plan, executor=executor)
        steps, runs, roster = _steps(ctx, Path(root), members, console)
        began = time.perf_counter()
        reconciliation = reconcile_period(ctx, PUBLICITY)
        reconcile_s = round(time.perf_counter() - began, 2)
        money = _check_money(ctx, runs, reconciliation)
    finally:
        db.dispose()
    if not spec.keep:
        shutil.rmtree(folder, ignore_errors=True)
    total_s = round(sum(s.seconds for s in steps), 2)
    console.print(
        f"N {members:,}: {total_s} s in all, money {'checks' if money.ok else 'DOES NOT check'}"
    )
    return SizeReport(
        members=members,
        shards=shards,
        population="generated" if generate_s is not None else "reused",
        generate_s=generate_s,
        roster=roster,
        steps=steps,
        total_s=total_s,
        members_per_s=round(members / total_s) if total_s > 0 else 0.0,
        reconcile_s=reconcile_s,
        money=money,
    )


def _steps(
    ctx: Settlement, root: Path, members: int, console: Console
) -> tuple[list[StepFigures], list[RunResult], int]:
    """The lock, the debit and every retry, each at 00:00 of its own program day, as the
    period workflow runs them."""
    figures: list[StepFigures] = []

    def timed(name: str, step: Callable[[], Result]) -> Result:
        before = _folder_bytes(root)
        with PeakRss() as memory:
            began = time.perf_counter()
            result = step()
            seconds = time.perf_counter() - began
        written = _folder_bytes(root) - before
        run = result if isinstance(result, RunResult) else None
        figures.append(
            StepFigures(
                step=name,
                seconds=round(seconds, 3),
                members_per_s=round(members / seconds) if seconds > 0 else 0.0,
                peak_rss_mib_driver=round(memory.peak_self / 2**20, 1),
                peak_rss_mib_with_ray=round(memory.peak_total / 2**20, 1),
                bytes_written=written,
                paid_fen=run.paid_fen if run else None,
                unpaid_fen=run.unpaid_fen if run else None,
                removed=run.removed if run else None,
            )
        )
        console.print(
            f"N {members:,}: {name} {seconds:.2f} s ({members / seconds:,.0f} members/s), "
            f"{written / 1e6:,.1f} MB written"
        )
        return result

    locked = timed("lock", lambda: lock_roster(ctx, PUBLICITY, now=roster_cutoff(PUBLICITY)))
    aid_fen = locked.members * AID_FEN_PER_MEMBER
    runs: list[RunResult] = [
        timed(
            "debit",
            lambda: debit(ctx, SHARING, aid_fen=aid_fen, now=start_of_day(debit_day(SHARING, 0))),
        )
    ]
    for attempt in range(1, ctx.plan.sharing.debit_retry_days + 1):
        now = start_of_day(debit_day(SHARING, attempt))
        runs.append(
            timed(
                f"retry {attempt}",
                functools.partial(retry, ctx, SHARING, now=now, attempt=attempt),
            )
        )
    if not runs[-1].period_closed:
        raise InvariantError(f"the last retry (attempt {runs[-1].attempt}) left the period open")
    return figures, runs, locked.members


def ledger_sums_task(
    store_root: str, plan_id: str, period: str, attempts: int, shard: int
) -> tuple[int, int]:
    """One shard's attempt-0 charges and its payments over every attempt, read from the
    ledger files (a task: it runs wherever the executor puts it)."""
    store = MemberStore.open(store_root, plan_id)
    charged = paid = 0
    for attempt in range(attempts):
        path = store.ledger_path(period, attempt, shard)
        data = store.read_file(path)
        if data is None:
            raise InvariantError(f"ledger {path} is missing")
        table = read_parquet(data, ["charge_fen", "paid_fen"])
        if attempt == 0:
            charged = int(pc.sum(table["charge_fen"]).as_py() or 0)
        paid += int(pc.sum(table["paid_fen"]).as_py() or 0)
    return charged, paid


def _check_money(
    ctx: Settlement, runs: list[RunResult], reconciliation: PeriodReconciliation
) -> MoneyCheck:
    store = ctx.store()
    sums = ctx.executor.map(
        ledger_sums_task,
        [
            (ctx.store_root, ctx.plan.id, PUBLICITY.isoformat(), len(runs), shard)
            for shard in range(store.shards)
        ],
    )
    charged = sum(c for c, _ in sums)
    ledger_paid = sum(p for _, p in sums)
    paid = reconciliation.paid_fen
    unpaid = reconciliation.unpaid_fen
    subsidy = reconciliation.subsidy_fen
    billed = reconciliation.billed_fen or 0
    return MoneyCheck(
        share_fen=reconciliation.share_fen or 0,
        billed_fen=billed,
        paid_fen=paid,
        unpaid_fen=unpaid,
        subsidy_fen=subsidy,
        ledger_charges_fen=charged,
        ledger_paid_fen=ledger_paid,
        charges_settled=charged == paid + unpaid,
        ledger_paid_matches=ledger_paid == paid == sum(r.paid_fen for r in runs),
        balanced=reconciliation.balanced and paid + unpaid + subsidy == billed,
        problems=list(reconciliation.problems),
    )


# ---- the report ----------------------------------------------------------------------


def write_report(report: SettlementReport, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report_data(report)
    (out_dir / "report.json").write_text(json.dumps(data, indent=1))
    (out_dir / "report.html").write_text(_html(report))


def report_data(report: SettlementReport) -> dict[str, Any]:
    return {
        "title": "loadtest settlement",
        "settings": report.settings,
        "summary": report.summary(),
        "sizes": [
            {**dataclasses.asdict(s), "money": {**dataclasses.asdict(s.money), "ok": s.money.ok}}
            for s in report.sizes
        ],
    }


def _html(report: SettlementReport) -> str:
    parts = [
        "<h1>loadtest settlement</h1>",
        _table([{k: str(v) for k, v in report.settings.items()}]),
    ]
    if len(report.sizes) > 1:
        parts += ["<h2>Against N</h2>", *_charts(report.sizes)]
    for size in report.sizes:
        money = size.money
        parts += [
            f"<h2>N {size.members:,}</h2>",
            f"<p>{size.shards} shards; population {size.population}"
            + (f" in {size.generate_s} s" if size.generate_s is not None else "")
            + f"; roster {size.roster:,}; {size.total_s} s in all, "
            f"{size.members_per_s:,.0f} members/s; reconciliation {size.reconcile_s} s</p>",
            _table(
                [
                    {
                        "step": s.step,
                        "seconds": f"{s.seconds:.3f}",
                        "members/s": f"{s.members_per_s:,.0f}",
                        "peak MiB (driver)": f"{s.peak_rss_mib_driver:,.0f}",
                        "peak MiB (with Ray)": f"{s.peak_rss_mib_with_ray:,.0f}",
                        "MB written": f"{s.bytes_written / 1e6:,.1f}",
                        "paid fen": "" if s.paid_fen is None else f"{s.paid_fen:,}",
                        "unpaid fen": "" if s.unpaid_fen is None else f"{s.unpaid_fen:,}",
                        "removed": "" if s.removed is None else f"{s.removed:,}",
                    }
                    for s in size.steps
                ]
            ),
            "<h3>Money</h3>",
            _table(
                [
                    {
                        k: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
                        for k, v in {**dataclasses.asdict(money), "ok": money.ok}.items()
                    }
                ]
            ),
        ]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>loadtest settlement</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def _charts(sizes: list[SizeReport]) -> list[str]:
    """Each step's time and the peak memory against N, on a log axis (sizes a decade apart)."""
    steps = [s.step for s in sizes[0].steps]
    times: dict[str, list[tuple[float, float]]] = {
        name: [(float(z.members), x.seconds) for z in sizes for x in z.steps if x.step == name]
        for name in steps
    }
    times["total"] = [(float(z.members), z.total_s) for z in sizes]
    memory = {
        "driver": [(float(z.members), max(x.peak_rss_mib_driver for x in z.steps)) for z in sizes],
        "driver + Ray": [
            (float(z.members), max(x.peak_rss_mib_with_ray for x in z.steps)) for z in sizes
        ],
    }
    return [
        "<h3>Time</h3>",
        line_chart(times, x_label="members", y_label="seconds", log_x=True),
        "<h3>Peak memory</h3>",
        line_chart(memory, x_label="members", y_label="peak RSS MiB", log_x=True),
    ]


def _table(rows: list[dict[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _folder_bytes(folder: Path) -> int:
    """The bytes of every file under a local store folder (staging debris included: a step
    leaves none once it is done)."""
    return sum(
        os.path.getsize(os.path.join(parent, name))
        for parent, _, names in os.walk(folder)
        for name in names
    )
