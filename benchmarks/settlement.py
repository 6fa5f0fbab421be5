"""Settlement benchmark: the engine against peers a competent user would write, and the I/O
floor, on the same population snapshot.

    .venv/bin/python benchmarks/settlement.py --members 10000000 --repeat 3

Sides, each run in a process of its own and timed as a whole process (interpreter start,
imports, `ray.init` for the engine) and by its steps (lock, debit):

- **engine**: `lock_roster` and `debit` (attempt 0) through `settlement.engine` on local Ray:
  per shard, fold changes and age out, write the roster snapshot; fix the share; per shard,
  cap, family-ordered debit, ledger file and next accounts; then reconcile, manifest, SQL.
  Its process starts Ray and stops it, as a `mutualaid settle` command does by default.
- **engine_warm**: the same, joining a warm local Ray head (`infra.warmray`, what
  `mutualaid dev up --warm-ray` starts) that the driver starts once before the first round
  and stops after the last: a command's cost when Ray's fixed cost is paid once. Its memory
  includes the head's processes. Its files must equal the engine's byte for byte.
- **duckdb**: per population shard (families never cross a shard), at most two shards in
  flight, each on its own `threads=1` connection: the lock as one `COPY`, the debit as a
  window over the few narrow columns it needs, joined back on member_id for the next accounts.
- **polars**: per shard, at most two in flight: the lock as column expressions, the debit as a
  family-sorted segmented cumulative sum.
- **floor**: per shard, read and write the same number of Parquet files of the same schemas
  with pyarrow, read and written as the engine does (`settlement.schema.read_parquet`,
  `parquet_bytes`), and no logic: what reading and writing alone cost.

No member changes are pending in the benchmark, so a peer's lock has none to fold; it ages
members out and counts N, and the share follows from N as in the engine.

Every side writes the files the engine writes, per shard: the roster snapshot, the ledger and
the next accounts, with the engine's Arrow schemas (`settlement.schema`), its codec and level
(zstd at pyarrow's default level 1) and row group size, rows in member_id order. The engine
and the floor also delta-encode the id columns (`settlement.schema.parquet_bytes`); the peers
write with their own writers' encodings. After each
run, every file of each peer is compared with the engine's, row for row; the floor's
schemas too. Sides run interleaved (engine, engine_warm, duckdb, polars, floor, engine, ...)
`--repeat` times. Memory is the peak resident set of a side's process with all its children
(the local Ray cluster for the engine), sampled every 0.2 s. Prints a markdown table, then one JSON
document on the last line; exits 1 if any peer's file differs from the engine's. The
population is generated once per size under --workdir and reused; the engine's later
snapshots and its database are reset before each of its runs, outside its timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.plans import PlanSource, builtin_plan_sources
from mutualaid.calendar import latest_birth_date_for_age
from mutualaid.membership import ExitReason, MemberStatus
from mutualaid.plan import Plan
from mutualaid.share import compute_share
from settlement.schema import (
    COVERED,
    EXIT_CODES,
    LEDGER,
    MEMBERS,
    STATUS_CODES,
    parquet_bytes,
    read_parquet,
)
from settlement.snapshots import debit_snapshot, roster_snapshot
from settlement.store import MemberStore, fitted_shards, local_cpus, shard_file_name

if TYPE_CHECKING:
    from infra.warmray import WarmRay  # imported where used: the peers' processes skip it

AS_OF = date(2026, 11, 1)
PUBLICITY = date(2026, 11, 7)
SHARING = date(2026, 11, 14)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
PLAN_ID = "chronic"
AID_FEN_PER_MEMBER = 435  # a share of 4.70 yuan once the 8% fee is on, as in Aug 2020
SIDES = ("engine", "engine_warm", "duckdb", "polars", "floor")
ENGINES = ("engine", "engine_warm")
PEERS = ("duckdb", "polars")
IN_FLIGHT = 2  # shards a peer works on at once: one per core of the developers' machine
# The engine writes with pyarrow's defaults: zstd at its default level, 1,048,576-row groups.
ZSTD_LEVEL = pa.Codec.default_compression_level("zstd")
ROW_GROUP_ROWS = 1024 * 1024
FILES = ("roster", "ledger", "accounts")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One benchmark's population and where each side reads and writes."""

    members: int
    shards: int
    seed: int
    workdir: Path

    @property
    def work(self) -> Path:
        return self.workdir / f"n{self.members}-s{self.shards}"

    @property
    def store_root(self) -> str:
        return str(self.work / "store")

    @property
    def snapshot(self) -> str:
        """The population's snapshot, as `PopulationSpec.snapshot` names it."""
        return f"population-n{self.members}-seed{self.seed}"

    @property
    def database(self) -> Path:
        return self.work / "bench.db"

    @property
    def warm_ray(self) -> WarmRay:
        from infra.warmray import WarmRay

        return WarmRay(self.work / "warm-state")

    def store(self) -> MemberStore:
        return MemberStore.open(self.store_root, PLAN_ID)

    def population(self) -> list[Path]:
        store = self.store()
        return [Path(store.shard_path(self.snapshot, s)) for s in range(self.shards)]

    def side_file(self, side: str, kind: str, shard: int) -> Path:
        return self.work / side / kind / shard_file_name(shard)

    def engine_file(self, kind: str, shard: int) -> Path:
        """Where the engine writes a shard's roster, ledger (attempt 0) or next accounts."""
        store = self.store()
        if kind == "ledger":
            return Path(store.ledger_path(PUBLICITY.isoformat(), 0, shard))
        snapshot = roster_snapshot(PUBLICITY) if kind == "roster" else debit_snapshot(PUBLICITY, 0)
        return Path(store.shard_path(snapshot, shard))

    def args(self) -> list[str]:
        return [
            f"--members={self.members}",
            f"--shards={self.shards}",
            f"--seed={self.seed}",
            f"--workdir={self.workdir}",
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """The plan's rules for this period, as a peer needs them."""

    publicity: date
    age_limit: date  # born on or before: at the exit age by 00:00 on publicity day
    left_on: date  # an aged-out member leaves the day before publicity day
    year: int
    cap_fen: int

    @classmethod
    def of(cls, plan: Plan) -> Rules:
        return cls(
            publicity=PUBLICITY,
            age_limit=latest_birth_date_for_age(plan.joining.exit_age_years, PUBLICITY),
            left_on=PUBLICITY - timedelta(days=1),
            year=SHARING.year,
            cap_fen=plan.sharing.annual_cap_fen,
        )


EXITED = STATUS_CODES[MemberStatus.EXITED]
AGE_LIMIT = EXIT_CODES[ExitReason.AGE_LIMIT]
# (paid, unpaid, subsidy) in fen.
Totals = tuple[int, int, int]
LockShard = Callable[[Path, Path, Rules], int]
DebitShard = Callable[[Path, Path, Path, Rules, int], Totals]


# -- DuckDB ----------------------------------------------------------------------------------


def _duckdb_copy(query: str, path: Path) -> str:
    return (
        f"COPY ({query}) TO '{path}' (FORMAT parquet, COMPRESSION zstd, "
        f"COMPRESSION_LEVEL {ZSTD_LEVEL}, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    )


def _on_roster_sql(rules: Rules) -> str:
    day = f"DATE '{rules.publicity}'"
    return f"(join_date < {day} AND (exit_date IS NULL OR exit_date >= {day}))"


def duckdb_lock(source: Path, roster: Path, rules: Rules) -> int:
    """Age out, write the roster in member_id order, count the members on it."""
    import duckdb

    with duckdb.connect(config={"threads": 1}) as con:
        aged = f"status = {COVERED} AND birth_date <= DATE '{rules.age_limit}'"
        con.execute(
            _duckdb_copy(
                f"""SELECT member_id, payer_id, birth_date, join_date, chronic_groups,
                        CASE WHEN aged THEN {EXITED}::TINYINT ELSE status END AS status,
                        CASE WHEN aged THEN {AGE_LIMIT}::TINYINT ELSE exit_reason END
                            AS exit_reason,
                        CASE WHEN aged THEN DATE '{rules.left_on}' ELSE exit_date END
                            AS exit_date,
                        funds_fen, deposit_fen, paid_year, paid_this_year_fen, unpaid_fen
                    FROM (SELECT *, {aged} AS aged FROM read_parquet('{source}'))
                    ORDER BY member_id""",
                roster,
            )
        )
        row = con.execute(
            f"SELECT count(*) FROM read_parquet('{roster}') WHERE {_on_roster_sql(rules)}"
        ).fetchone()
    assert row is not None
    return int(row[0])


def duckdb_debit(roster: Path, ledger: Path, accounts: Path, rules: Rules, share: int) -> Totals:
    """Cap, then per family (payer first, then join_date, member_id) a running sum of the
    charges; a debit goes through while it fits the payer's funds. The window runs over the
    narrow columns only; the next accounts join them back to the roster by member_id."""
    import duckdb

    with duckdb.connect(config={"threads": 1}) as con:
        already = f"CASE WHEN paid_year = {rules.year} THEN paid_this_year_fen ELSE 0 END"
        con.execute(
            f"""CREATE TEMP TABLE d AS
                WITH c AS (
                    SELECT member_id, payer_id, join_date, funds_fen, billed, already,
                           CASE WHEN billed THEN LEAST({share}::BIGINT,
                                                       GREATEST(0, {rules.cap_fen} - already))
                                ELSE 0 END::BIGINT AS charge
                    FROM (SELECT member_id, payer_id, join_date, funds_fen,
                                 {_on_roster_sql(rules)} AS billed, {already} AS already
                          FROM read_parquet('{roster}'))),
                w AS (
                    SELECT *, SUM(charge) OVER family AS running,
                           FIRST_VALUE(funds_fen) OVER family AS payer_funds
                    FROM c
                    WINDOW family AS (PARTITION BY payer_id
                                      ORDER BY member_id <> payer_id, join_date, member_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
                p AS (SELECT *, CASE WHEN billed AND running <= payer_funds THEN charge
                                     ELSE 0 END::BIGINT AS paid FROM w)
                SELECT member_id, payer_id, billed, already, charge, paid,
                       SUM(paid) OVER (PARTITION BY payer_id)::BIGINT AS family_paid
                FROM p ORDER BY member_id"""
        )
        con.execute(
            _duckdb_copy(
                f"""SELECT member_id, payer_id, 0::TINYINT AS attempt,
                        {share}::BIGINT AS share_fen, charge AS charge_fen, paid AS paid_fen,
                        ({share} - charge)::BIGINT AS subsidy_fen,
                        (charge - paid)::BIGINT AS unpaid_fen, false AS removed
                    FROM d WHERE billed""",
                ledger,
            )
        )
        con.execute(
            _duckdb_copy(
                f"""SELECT r.member_id, r.payer_id, r.birth_date, r.join_date,
                        r.chronic_groups, r.status, r.exit_reason, r.exit_date,
                        CASE WHEN r.member_id = r.payer_id THEN r.funds_fen - d.family_paid
                             ELSE r.funds_fen END AS funds_fen,
                        r.deposit_fen,
                        CASE WHEN d.billed THEN {rules.year}::SMALLINT ELSE r.paid_year END
                            AS paid_year,
                        CASE WHEN d.billed THEN d.already + d.charge
                             ELSE r.paid_this_year_fen END AS paid_this_year_fen,
                        CASE WHEN d.billed THEN d.charge - d.paid ELSE r.unpaid_fen END
                            AS unpaid_fen
                    FROM read_parquet('{roster}') r JOIN d USING (member_id)
                    ORDER BY member_id""",
                accounts,
            )
        )
        row = con.execute(
            f"""SELECT sum(paid)::BIGINT, sum(charge - paid)::BIGINT,
                       sum({share} - charge)::BIGINT FROM d WHERE billed"""
        ).fetchone()
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


# -- Polars ----------------------------------------------------------------------------------


def _polars_write(frame: Any, path: Path, schema: pa.Schema) -> None:
    frame.write_parquet(
        path,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        statistics=True,
        row_group_size=ROW_GROUP_ROWS,
        arrow_schema=schema,
    )


def _polars_on_roster(rules: Rules) -> Any:
    import polars as pl

    exit_date = pl.col("exit_date")
    return (pl.col("join_date") < rules.publicity) & (
        exit_date.is_null() | (exit_date >= rules.publicity)
    )


def polars_lock(source: Path, roster: Path, rules: Rules) -> int:
    """Age out, write the roster in member_id order, count the members on it."""
    import polars as pl

    aged = (pl.col("status") == COVERED) & (pl.col("birth_date") <= rules.age_limit)
    accounts = (
        pl.read_parquet(source)
        .with_columns(
            pl.when(aged).then(pl.lit(EXITED, pl.Int8)).otherwise("status").alias("status"),
            pl.when(aged)
            .then(pl.lit(AGE_LIMIT, pl.Int8))
            .otherwise("exit_reason")
            .alias("exit_reason"),
            pl.when(aged)
            .then(pl.lit(rules.left_on, pl.Date))
            .otherwise("exit_date")
            .alias("exit_date"),
        )
        .sort("member_id")
    )
    _polars_write(accounts, roster, MEMBERS)
    return int(accounts.select(_polars_on_roster(rules).sum()).item())


def polars_debit(roster: Path, ledger: Path, accounts: Path, rules: Rules, share: int) -> Totals:
    """Cap, then sort the narrow columns by family (payer first, then join_date, member_id)
    and take a cumulative sum of the charges segmented by payer: a debit goes through while
    it fits the payer's funds (the first row of its family)."""
    import polars as pl

    table = pl.read_parquet(roster)
    already = pl.when(pl.col("paid_year") == rules.year).then("paid_this_year_fen").otherwise(0)
    headroom = pl.max_horizontal(pl.lit(0, pl.Int64), rules.cap_fen - pl.col("already"))
    charge = pl.when("billed").then(pl.min_horizontal(pl.lit(share, pl.Int64), headroom))
    family = pl.col("payer_id")
    # Sorted by family: a family's first row is its payer's; the running total within a
    # family is the running total of the shard less what came before the family.
    first = (family != family.shift(1)).fill_null(True)
    running = pl.col("charge").cum_sum()
    narrow = (
        table.select(
            "member_id",
            "payer_id",
            "join_date",
            "funds_fen",
            _polars_on_roster(rules).alias("billed"),
            already.alias("already"),
        )
        .with_columns(charge.otherwise(0).alias("charge"))
        .sort(family, pl.col("member_id") != family, "join_date", "member_id")
        .with_columns(
            (running - pl.when(first).then(running - pl.col("charge")).forward_fill()).alias(
                "running"
            ),
            pl.when(first).then("funds_fen").forward_fill().alias("payer_funds"),
        )
        .with_columns(
            pl.when(pl.col("billed") & (pl.col("running") <= pl.col("payer_funds")))
            .then("charge")
            .otherwise(0)
            .alias("paid")
        )
        .with_columns(pl.col("paid").sum().over(family).alias("family_paid"))
        .sort("member_id")
    )
    billed = narrow.filter("billed")
    _polars_write(
        billed.select(
            "member_id",
            "payer_id",
            pl.lit(0, pl.Int8).alias("attempt"),
            pl.lit(share, pl.Int64).alias("share_fen"),
            pl.col("charge").alias("charge_fen"),
            pl.col("paid").alias("paid_fen"),
            (share - pl.col("charge")).alias("subsidy_fen"),
            (pl.col("charge") - pl.col("paid")).alias("unpaid_fen"),
            pl.lit(False).alias("removed"),
        ),
        ledger,
        LEDGER,
    )
    in_roster = pl.col("billed")
    changed = table.hstack(
        narrow.select("billed", "already", "charge", "paid", "family_paid")
    ).with_columns(
        pl.when(pl.col("member_id") == family)
        .then(pl.col("funds_fen") - pl.col("family_paid"))
        .otherwise("funds_fen")
        .alias("funds_fen"),
        pl.when(in_roster)
        .then(pl.lit(rules.year, pl.Int16))
        .otherwise("paid_year")
        .alias("paid_year"),
        pl.when(in_roster)
        .then(pl.col("already") + pl.col("charge"))
        .otherwise("paid_this_year_fen")
        .alias("paid_this_year_fen"),
        pl.when(in_roster)
        .then(pl.col("charge") - pl.col("paid"))
        .otherwise("unpaid_fen")
        .alias("unpaid_fen"),
    )
    _polars_write(changed.select(MEMBERS.names), accounts, MEMBERS)
    paid, charged = billed.select(pl.col("paid").sum(), pl.col("charge").sum()).row(0)
    return int(paid), int(charged - paid), share * billed.height - int(charged)


# -- the I/O floor ---------------------------------------------------------------------------


def _engine_write(table: pa.Table, path: Path) -> None:
    """As the engine writes a shard (`MemberStore.write_shard`) or a ledger."""
    path.write_bytes(parquet_bytes(table))


def _engine_read(path: Path) -> pa.Table:
    """As the engine reads a shard: the file's bytes, then Parquet (`read_parquet`)."""
    return read_parquet(path.read_bytes())


def floor_lock(source: Path, roster: Path, rules: Rules) -> int:
    """The population shard written unchanged as the roster: no age-out, no sort."""
    table = _engine_read(source)
    _engine_write(table, roster)
    return int(table.num_rows)


def floor_debit(roster: Path, ledger: Path, accounts: Path, rules: Rules, share: int) -> Totals:
    """A ledger-shaped table of every row, made of the roster's columns and the share, and
    the roster written unchanged as the next accounts: no cap, no family order."""
    table = _engine_read(roster)
    rows = table.num_rows
    ledger_table = pa.table(
        {
            "member_id": table["member_id"],
            "payer_id": table["payer_id"],
            "attempt": pa.array(np.zeros(rows, dtype=np.int8)),
            "share_fen": pa.array(np.full(rows, share, dtype=np.int64)),
            "charge_fen": table["paid_this_year_fen"],
            "paid_fen": table["funds_fen"],
            "subsidy_fen": table["deposit_fen"],
            "unpaid_fen": table["unpaid_fen"],
            "removed": pa.array(np.zeros(rows, dtype=np.bool_)),
        },
        schema=LEDGER,
    )
    _engine_write(ledger_table, ledger)
    _engine_write(table, accounts)
    return 0, 0, 0


PEER_SHARDS: dict[str, tuple[LockShard, DebitShard]] = {
    "duckdb": (duckdb_lock, duckdb_debit),
    "polars": (polars_lock, polars_debit),
    "floor": (floor_lock, floor_debit),
}


# -- one side, in its own process ------------------------------------------------------------


def run_peer(side: str, job: Job, plan: Plan) -> dict[str, Any]:
    """The lock over every shard, the share from N (driver arithmetic, as the engine does it),
    then the debit over every shard, at most IN_FLIGHT shards at once."""
    lock, debit = PEER_SHARDS[side]
    rules = Rules.of(plan)
    for kind in FILES:
        job.side_file(side, kind, 0).parent.mkdir(parents=True, exist_ok=True)
    shards = range(job.shards)
    population = job.population()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        started = time.perf_counter()
        counts = list(
            pool.map(lambda s: lock(population[s], job.side_file(side, "roster", s), rules), shards)
        )
        lock_s = time.perf_counter() - started
        members = sum(counts)
        share = compute_share(
            aid_fen=members * AID_FEN_PER_MEMBER,
            surplus_in_fen=0,
            members=members,
            fee_rate=plan.sharing.fee_rate,
        ).share_fen
        started = time.perf_counter()
        totals = list(
            pool.map(
                lambda s: debit(
                    job.side_file(side, "roster", s),
                    job.side_file(side, "ledger", s),
                    job.side_file(side, "accounts", s),
                    rules,
                    share,
                ),
                shards,
            )
        )
        debit_s = time.perf_counter() - started
    return {
        "lock_s": lock_s,
        "debit_s": debit_s,
        "roster": members,
        "share_fen": share,
        "paid_fen": sum(t[0] for t in totals),
        "unpaid_fen": sum(t[1] for t in totals),
        "subsidy_fen": sum(t[2] for t in totals),
    }


def run_engine(job: Job, plan: Plan, *, warm: bool) -> dict[str, Any]:
    """`lock_roster` and `debit` on local Ray, as the program runs them; the store is already
    back on the population and the database holds only the plan. Warm: join the driver's warm
    head, which must happen before Ray is imported (it reads its token then)."""
    address = job.warm_ray.join() if warm else None
    if warm and address is None:
        raise RuntimeError("engine_warm: the warm Ray head is not running")
    import ray

    from infra.db import make_engine
    from settlement.engine import Settlement, debit, lock_roster
    from settlement.executor import RayExecutor, start_ray

    start_ray(address)
    try:
        ctx = Settlement(
            db=make_engine(f"sqlite:///{job.database}"),
            store_root=job.store_root,
            plan=plan,
            executor=RayExecutor(),
        )
        started = time.perf_counter()
        locked = lock_roster(ctx, PUBLICITY, now=NOW)
        lock_s = time.perf_counter() - started
        started = time.perf_counter()
        run = debit(ctx, SHARING, aid_fen=locked.members * AID_FEN_PER_MEMBER, now=NOW)
        debit_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    return {
        "lock_s": lock_s,
        "debit_s": debit_s,
        "roster": locked.members,
        "share_fen": run.share_fen,
        "paid_fen": run.paid_fen,
        "unpaid_fen": run.unpaid_fen,
        "subsidy_fen": run.subsidy_fen,
    }


# -- the driver: population, interleaved runs, checks, report --------------------------------


class TreeRss:
    """Peak resident memory of a process and all its descendants (for the engine: the local
    Ray cluster's GCS, raylet and workers), and of the processes under `also` (the warm Ray
    head's, which are not its children), sampled every 0.2 s. One read of the process table a
    sample, whatever the side, so sampling costs every side the same."""

    def __init__(self, pid: int, also: Sequence[int] = ()) -> None:
        self.pid = pid
        self.roots = (pid, *also)
        self.peak_total = 0
        self.peak_main = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil  # type: ignore[import-untyped]

        while not self._stop.is_set():
            rss: dict[int, int] = {}
            children: dict[int, list[int]] = {}
            for process in psutil.process_iter(["ppid", "memory_info"]):
                memory = process.info["memory_info"]
                if memory is not None:
                    rss[process.pid] = memory.rss
                    children.setdefault(process.info["ppid"], []).append(process.pid)
            if self.pid not in rss:
                return
            seen: set[int] = set()
            waiting = [p for p in self.roots if p in rss]
            while waiting:
                pid = waiting.pop()
                if pid not in seen:
                    seen.add(pid)
                    waiting += children.get(pid, [])
            self.peak_total = max(self.peak_total, sum(rss[p] for p in seen))
            self.peak_main = max(self.peak_main, rss[self.pid])
            self._stop.wait(0.2)


def prepare_population(job: Job, plan: Plan) -> float | None:
    """Generate the population once (seconds taken), or reuse it (None)."""
    from loadtest.settlement import reset_to_population
    from settlement.population import PopulationSpec, generate_population

    spec = PopulationSpec(members=job.members, shards=job.shards, seed=job.seed, as_of=AS_OF)
    assert spec.snapshot == job.snapshot
    store = MemberStore.create(job.store_root, plan.id, shards=job.shards)
    if store.head() is None:
        started = time.perf_counter()
        generate_population(job.store_root, plan, spec)
        return round(time.perf_counter() - started, 2)
    reset_to_population(store, spec.snapshot)
    return None


def prepare_engine(job: Job, source: PlanSource) -> None:
    """The store back on its population and a new database holding only the plan: what a
    deployment has before the lock, done outside the engine's timing."""
    from infra.db import make_engine, unit_of_work, upgrade
    from infra.repositories import PlanRepository
    from loadtest.settlement import reset_to_population

    reset_to_population(job.store(), job.snapshot)
    job.database.unlink(missing_ok=True)
    db = make_engine(f"sqlite:///{job.database}")
    upgrade(db)
    with unit_of_work(db) as session:
        PlanRepository(session).record(source, at=NOW)
    db.dispose()


def run_side(side: str, job: Job) -> dict[str, Any]:
    """One side as a process of its own: wall time of the whole process, its steps, memory."""
    # The warm head's processes, found once: the sampler follows their descendants.
    head = [p.pid for p in job.warm_ray.processes()] if side == "engine_warm" else []
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), f"--side={side}", *job.args()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = TreeRss(process.pid, head if side == "engine_warm" else ())
    out, err = process.communicate()
    process_s = time.perf_counter() - started
    memory.stop()
    if process.returncode != 0:
        raise RuntimeError(f"side {side} exited {process.returncode}: {err[-3000:]}")
    figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    figures |= {
        "process_s": process_s,
        "steps_s": figures["lock_s"] + figures["debit_s"],
        "peak_rss_mib": memory.peak_total / 2**20,
        "peak_rss_mib_main": memory.peak_main / 2**20,
    }
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def compare_files(expected: Path, got: Path) -> list[str]:
    """How a side's file differs from the engine's: schema (names, types, nullability), row
    order, then values, compared after sorting both by member_id."""
    if not got.exists():
        return [f"{got}: missing"]
    want, have = pq.read_table(expected), pq.read_table(got)
    problems = []
    if not have.schema.equals(want.schema, check_metadata=False):
        problems.append(f"{got}: schema {have.schema.to_string(show_schema_metadata=False)!r}")
    if not in_member_order(have):
        problems.append(f"{got}: rows not in member_id order")
        have = have.sort_by("member_id")
    if have.num_rows != want.num_rows:
        return [*problems, f"{got}: {have.num_rows} rows, the engine wrote {want.num_rows}"]
    if not in_member_order(want):
        want = want.sort_by("member_id")
    for name in want.column_names:
        if name not in have.column_names:
            problems.append(f"{got}: no column {name}")
            continue
        left, right = want[name].combine_chunks(), have[name].combine_chunks()
        if left.type == right.type and not left.equals(right):  # a type is a schema problem
            differ = np.flatnonzero(
                np.asarray(left.to_pylist(), dtype=object)
                != np.asarray(right.to_pylist(), dtype=object)
            )
            first = int(want["member_id"][int(differ[0])].as_py()) if len(differ) else None
            problems.append(f"{got}: {name} differs in {len(differ)} rows (first member {first})")
    return problems


def in_member_order(table: pa.Table) -> bool:
    ids = table["member_id"].to_numpy()
    return len(ids) < 2 or bool((np.diff(ids) > 0).all())


def check_side(side: str, job: Job) -> list[str]:
    """A peer's files equal the engine's; the floor's have the engine's schemas."""
    problems = []
    for shard in range(job.shards):
        for kind in FILES:
            expected = job.engine_file(kind, shard)
            got = job.side_file(side, kind, shard)
            if side != "floor":
                problems += compare_files(expected, got)
            elif not got.exists():
                problems.append(f"{got}: missing")
            elif not pq.read_schema(got).equals(pq.read_schema(expected), check_metadata=False):
                problems.append(f"{got}: not the engine's schema")
    return problems


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3)}


def summarise(job: Job, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    for side, figures in runs.items():
        sides[side] = {
            "runs": len(figures),
            "process_s": spread([f["process_s"] for f in figures]),
            "lock_s": spread([f["lock_s"] for f in figures]),
            "debit_s": spread([f["debit_s"] for f in figures]),
            "steps_s": spread([f["steps_s"] for f in figures]),
            "members_per_s_steps_median": round(
                job.members / statistics.median(f["steps_s"] for f in figures)
            ),
            "peak_rss_mib": round(max(f["peak_rss_mib"] for f in figures)),
            "peak_rss_mib_main_process": round(max(f["peak_rss_mib_main"] for f in figures)),
        }

    def ratio(engine: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
        return {
            f"{what}_{stat}": round(engine[what][stat] / other[what][stat], 3)
            for what in ("steps_s", "process_s")
            for stat in ("min", "median")
        }

    # The best peer is the one a user would pick: the fastest whole process, median.
    peers = [p for p in PEERS if p in sides]
    best = min(peers, key=lambda p: float(sides[p]["process_s"]["median"])) if peers else None
    ratios: dict[str, Any] = {}
    for engine in (e for e in ENGINES if e in sides):
        if best is not None:
            ratios[f"{engine}_over_best_peer"] = {
                "peer": best,
                **ratio(sides[engine], sides[best]),
            }
        if "floor" in sides:
            ratios[f"{engine}_over_floor"] = ratio(sides[engine], sides["floor"])
    return {"sides": sides, "ratios": ratios}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['members']:,} members, {result['shards']} shards, {result['repeat']} runs a "
        f"side, {result['date']}, {result['machine']['cpus']} cores; seconds as min / median",
        "",
        "| side | whole process s | lock s | debit s | lock + debit s | members/s "
        "(lock + debit, median) | peak RSS MiB (with children) | identical to the engine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for side, s in result["sides"].items():
        check = result["checks"].get(side)
        same = "(reference)" if check is None else ("yes" if check["ok"] else "NO")
        if side == "floor" and check is not None:
            same = "schemas " + ("yes" if check["ok"] else "NO")
        if side == "engine_warm" and check is not None:
            same = "byte for byte " + ("yes" if check["ok"] else "NO")
        cells = [
            f"{s[k]['min']:.2f} / {s[k]['median']:.2f}"
            for k in ("process_s", "lock_s", "debit_s", "steps_s")
        ]
        lines.append(
            f"| {side} | {' | '.join(cells)} | {s['members_per_s_steps_median']:,} "
            f"| {s['peak_rss_mib']:,} | {same} |"
        )
    if result.get("warm_ray_start_s") is not None:
        lines.append(f"\nwarm Ray head started once, in {result['warm_ray_start_s']:.2f} s")
    for name, r in result["ratios"].items():
        label = f"{name} ({r['peer']})" if "peer" in r else name
        lines.append(
            f"\n{label}: lock + debit {r['steps_s_median']:.2f} (median), "
            f"{r['steps_s_min']:.2f} (min); whole process {r['process_s_median']:.2f} (median), "
            f"{r['process_s_min']:.2f} (min)"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("pyarrow", "duckdb", "polars", "ray", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def run_round_side(
    side: str,
    job: Job,
    source: PlanSource,
    reference: dict[str, Any],
    checks: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """One run of one side, then its check against the engine's files: a peer's and the
    floor's by their rows and schemas, the warm engine's byte for byte. The engine's run
    fills `reference` (its figures and its files' digests)."""
    if side in ENGINES:
        prepare_engine(job, source)
    else:
        shutil.rmtree(job.work / side, ignore_errors=True)
    figures = run_side(side, job)
    if side == "engine":
        reference.clear()
        reference.update(figures, digests=engine_digests(job))
        return figures
    problems = []
    if side == "engine_warm":
        if engine_digests(job) != reference["digests"]:
            problems.append("its files are not byte-identical to the engine's")
    else:
        problems = check_side(side, job)
    if side != "floor":
        for key in ("roster", "share_fen", "paid_fen", "unpaid_fen", "subsidy_fen"):
            if figures[key] != reference[key]:
                problems.append(f"{key} {figures[key]}, the engine's {reference[key]}")
    check = checks[side]
    check["runs_checked"] += 1
    check["problems"] = (check["problems"] + problems)[:20]
    check["ok"] = check["ok"] and not problems
    shutil.rmtree(job.work / side, ignore_errors=True)
    return figures


def engine_digests(job: Job) -> dict[str, str]:
    """The sha256 of every file the engine's two steps wrote: the roster and debit snapshots
    (shards, owing files, manifests) and the sharing day's ledgers with their done markers."""
    store = job.store()
    folders = [
        Path(store.snapshot_dir(roster_snapshot(PUBLICITY))),
        Path(store.snapshot_dir(debit_snapshot(PUBLICITY, 0))),
        Path(store.ledger_dir(PUBLICITY.isoformat(), 0)),
    ]
    return {
        str(path.relative_to(job.work)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def drive(job: Job, source: PlanSource, sides: Sequence[str], repeat: int) -> dict[str, Any]:
    plan = source.plan
    log = sys.stderr
    generate_s = prepare_population(job, plan)
    print(f"population {job.snapshot}: {generate_s or 'reused'}", file=log, flush=True)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    checks: dict[str, dict[str, Any]] = {
        side: {"ok": True, "runs_checked": 0, "problems": []} for side in sides if side != "engine"
    }
    warm_start_s = None
    try:
        if "engine_warm" in sides:
            job.warm_ray.down()  # one left by a killed run: start afresh, so the start is timed
            started = time.perf_counter()
            job.warm_ray.up()
            warm_start_s = round(time.perf_counter() - started, 2)
            print(f"warm Ray head started in {warm_start_s} s", file=log, flush=True)
        reference: dict[str, Any] = {}
        for round_ in range(repeat):
            for side in sides:
                figures = run_round_side(side, job, source, reference, checks)
                runs[side].append(figures)
                print(
                    f"run {round_ + 1}/{repeat} {side}: process {figures['process_s']:.2f} s, "
                    f"lock {figures['lock_s']:.2f} s, debit {figures['debit_s']:.2f} s",
                    file=log,
                    flush=True,
                )
    finally:
        if "engine_warm" in sides:
            job.warm_ray.down()
    first = runs["engine"][0]
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "members": job.members,
        "shards": job.shards,
        "seed": job.seed,
        "repeat": repeat,
        "order": list(sides),
        "generate_s": generate_s,
        "roster": first["roster"],
        "share_fen": first["share_fen"],
        "parquet": f"zstd level {ZSTD_LEVEL}, row groups of {ROW_GROUP_ROWS:,} rows",
        "peer_shards_in_flight": IN_FLIGHT,
        "warm_ray_start_s": warm_start_s,
        **summarise(job, runs),
        "checks": checks,
        "runs": runs,
    }
    result["identical"] = all(c["ok"] for c in checks.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument(
        "--shards", type=int, default=0, help="default: ~1.5M a shard, whole waves over the CPUs"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="benchmarks/.work")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved")
    parser.add_argument("--sides", default=",".join(SIDES), help="the engine first: the reference")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shards = args.shards or fitted_shards(args.members, local_cpus())
    job = Job(
        members=args.members,
        shards=shards,
        seed=args.seed,
        workdir=Path(args.workdir).resolve(),
    )
    source = next(s for s in builtin_plan_sources() if s.plan.id == PLAN_ID)
    if args.side in ENGINES:
        print(json.dumps(run_engine(job, source.plan, warm=args.side == "engine_warm")))
        return
    if args.side is not None:
        print(json.dumps(run_peer(args.side, job, source.plan)))
        return
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if sides[:1] != ["engine"] or any(s not in SIDES for s in sides) or args.repeat < 1:
        parser.error(f"--sides: engine, then some of {','.join(SIDES[1:])}; --repeat: 1 or more")
    result = drive(job, source, sides, args.repeat)
    print(markdown(result))
    print()
    print(json.dumps(result))
    if not result["identical"]:
        for side, check in result["checks"].items():
            for problem in check["problems"]:
                print(f"{side}: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
