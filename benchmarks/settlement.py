"""Settlement benchmark: the engine (lock + debit + ledger + commit + reconcile, on local Ray)
against DuckDB doing the same lock and debit in SQL, on the same population snapshot.

    .venv/bin/python benchmarks/settlement.py --members 1000000

Prints one JSON line. Generates the population once per size under --workdir and reuses it
(the engine's later snapshots and the database are reset before each run).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import PlanRepository
from loadtest.settlement import PeakRss, reset_to_population
from mutualaid.calendar import latest_birth_date_for_age
from mutualaid.plan import Plan
from mutualaid.share import compute_share
from settlement.engine import Settlement, debit, lock_roster
from settlement.executor import RayExecutor, start_ray
from settlement.population import PopulationSpec, generate_population
from settlement.store import MemberStore

AS_OF = date(2026, 11, 1)
PUBLICITY = date(2026, 11, 7)
SHARING = date(2026, 11, 14)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
ROWS_PER_SHARD = 1_500_000


def duckdb_settlement(population_glob: str, out: Path, *, plan: Plan, share: int) -> dict[str, Any]:
    """The same lock (age-out, roster count) and debit (cap, family order, ledger, next
    accounts) in SQL, written to Parquet like the engine's outputs. The exit age and the
    annual cap are the plan's."""
    out.mkdir(parents=True, exist_ok=True)
    cap = plan.sharing.annual_cap_fen
    limit = latest_birth_date_for_age(plan.joining.exit_age_years, PUBLICITY)
    day_before = PUBLICITY - timedelta(days=1)
    con = duckdb.connect()
    con.execute("SET threads = 2; SET memory_limit = '3GB'; SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{out / 'spill'}'")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    aged = f"(status = 0 AND birth_date <= DATE '{limit}')"
    con.execute(
        f"""COPY (SELECT member_id, payer_id, birth_date, join_date, chronic_groups,
                CASE WHEN {aged} THEN 1 ELSE status END::TINYINT AS status,
                CASE WHEN {aged} THEN 2 ELSE exit_reason END::TINYINT AS exit_reason,
                CASE WHEN {aged} THEN DATE '{day_before}' ELSE exit_date END AS exit_date,
                funds_fen, deposit_fen, paid_year, paid_this_year_fen, unpaid_fen
            FROM read_parquet('{population_glob}'))
           TO '{out / "roster.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    on_roster = (
        f"(join_date < DATE '{PUBLICITY}' "
        f"AND (exit_date IS NULL OR exit_date >= DATE '{PUBLICITY}'))"
    )
    (members,) = con.execute(
        f"SELECT count(*) FROM read_parquet('{out / 'roster.parquet'}') WHERE {on_roster}"
    ).fetchone()
    timings["lock_s"] = time.perf_counter() - started
    started = time.perf_counter()
    con.execute(
        f"""CREATE TEMP TABLE debited AS
            WITH acc AS (SELECT * FROM read_parquet('{out / "roster.parquet"}')),
            r AS (SELECT *, {on_roster} AS on_roster,
                         CASE WHEN paid_year = {SHARING.year} THEN paid_this_year_fen ELSE 0 END
                             AS already
                  FROM acc),
            c AS (SELECT *, CASE WHEN on_roster THEN LEAST({share}, GREATEST(0, {cap} - already))
                                 ELSE 0 END AS charge FROM r),
            f AS (SELECT c.*, p.funds_fen AS payer_funds,
                         SUM(c.charge) OVER (PARTITION BY c.payer_id
                             ORDER BY (c.member_id <> c.payer_id), c.join_date, c.member_id
                             ROWS UNBOUNDED PRECEDING) AS running
                  FROM c JOIN acc p ON p.member_id = c.payer_id)
            SELECT *, CASE WHEN on_roster AND running <= payer_funds THEN charge ELSE 0 END AS paid
            FROM f"""
    )
    con.execute(
        f"""COPY (SELECT member_id, payer_id, 0::TINYINT AS attempt, {share}::BIGINT AS share_fen,
                  charge AS charge_fen, paid AS paid_fen, {share} - charge AS subsidy_fen,
                  charge - paid AS unpaid_fen, false AS removed
                  FROM debited WHERE on_roster ORDER BY member_id)
            TO '{out / "ledger.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    con.execute(
        f"""COPY (WITH spent AS (SELECT payer_id, SUM(paid) AS paid FROM debited GROUP BY payer_id)
                  SELECT d.member_id, d.payer_id, d.birth_date, d.join_date, d.chronic_groups,
                         d.status, d.exit_reason, d.exit_date,
                         d.funds_fen - COALESCE(s.paid, 0) AS funds_fen, d.deposit_fen,
                         CASE WHEN d.on_roster THEN {SHARING.year} ELSE d.paid_year END
                             AS paid_year,
                         CASE WHEN d.on_roster THEN d.already + d.charge
                              ELSE d.paid_this_year_fen END AS paid_this_year_fen,
                         CASE WHEN d.on_roster THEN d.charge - d.paid ELSE d.unpaid_fen END
                             AS unpaid_fen
                  FROM debited d LEFT JOIN spent s ON s.payer_id = d.member_id)
            TO '{out / "accounts.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    paid, unpaid, subsidy = con.execute(
        f"""SELECT sum(paid_fen), sum(unpaid_fen), sum(subsidy_fen)
            FROM read_parquet('{out / "ledger.parquet"}')"""
    ).fetchone()
    timings["debit_s"] = time.perf_counter() - started
    con.close()
    shutil.rmtree(out)
    return {
        "members": int(members),
        "paid_fen": int(paid),
        "unpaid_fen": int(unpaid),
        "subsidy_fen": int(subsidy),
        **timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=0, help="default: ~1.5M members a shard")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="benchmarks/.work")
    args = parser.parse_args()
    shards = args.shards or max(2, math.ceil(args.members / ROWS_PER_SHARD))
    work = Path(args.workdir).resolve() / f"n{args.members}-s{shards}"
    root = str(work / "store")
    plan_source = next(s for s in builtin_plan_sources() if s.plan.id == "chronic")
    plan = plan_source.plan
    spec = PopulationSpec(members=args.members, shards=shards, seed=args.seed, as_of=AS_OF)

    start_ray(None)
    executor = RayExecutor()
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "members": args.members,
        "shards": shards,
    }
    with PeakRss() as memory:
        started = time.perf_counter()
        store = MemberStore.create(root, plan.id, shards=shards)
        if store.head() is None:
            generate_population(root, plan, spec, executor=executor)
            result["generate_s"] = round(time.perf_counter() - started, 2)
        else:
            reset_to_population(store, spec.snapshot)
            result["generate_s"] = None  # reused
        db_file = work / "bench.db"
        db_file.unlink(missing_ok=True)
        db = make_engine(f"sqlite:///{db_file}")
        upgrade(db)
        with unit_of_work(db) as session:
            PlanRepository(session).record(plan_source, at=NOW)
        ctx = Settlement(db=db, store_root=root, plan=plan, executor=executor)

        started = time.perf_counter()
        locked = lock_roster(ctx, PUBLICITY, now=NOW)
        result["engine_lock_s"] = round(time.perf_counter() - started, 2)
        aid = locked.members * 435  # about 4.70 yuan a member once the fee is on
        started = time.perf_counter()
        run = debit(ctx, SHARING, aid_fen=aid, now=NOW)
        result["engine_debit_s"] = round(time.perf_counter() - started, 2)
        engine_peak_total = memory.peak_total
        engine_peak_self = memory.peak_self

    share = compute_share(
        aid_fen=aid, surplus_in_fen=0, members=locked.members, fee_rate=plan.sharing.fee_rate
    )
    with PeakRss() as duck_memory:
        duck = duckdb_settlement(
            f"{store.snapshot_dir(spec.snapshot)}/*.parquet",
            work / "duckdb",
            plan=plan,
            share=share.share_fen,
        )
    engine_totals = (locked.members, run.paid_fen, run.unpaid_fen, run.subsidy_fen)
    duck_totals = (duck["members"], duck["paid_fen"], duck["unpaid_fen"], duck["subsidy_fen"])
    engine_s = result["engine_lock_s"] + result["engine_debit_s"]
    duck_s = duck["lock_s"] + duck["debit_s"]
    result |= {
        "roster": locked.members,
        "share_fen": run.share_fen,
        "engine_end_to_end_s": round(engine_s, 2),
        "engine_members_per_s": round(args.members / engine_s),
        "duckdb_lock_s": round(duck["lock_s"], 2),
        "duckdb_debit_s": round(duck["debit_s"], 2),
        "duckdb_end_to_end_s": round(duck_s, 2),
        "duckdb_members_per_s": round(args.members / duck_s),
        "ratio_engine_over_duckdb": round(engine_s / duck_s, 3),
        "identical_totals": engine_totals == duck_totals,
        "engine_peak_rss_mib_driver": engine_peak_self // 2**20,
        "engine_peak_rss_mib_with_ray": engine_peak_total // 2**20,
        "duckdb_peak_rss_mib": duck_memory.peak_self // 2**20,
    }
    print(json.dumps(result))
    if engine_totals != duck_totals:
        print(f"totals differ: engine {engine_totals} duckdb {duck_totals}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
