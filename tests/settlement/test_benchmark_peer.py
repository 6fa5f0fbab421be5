"""The benchmark's DuckDB peer is an independent implementation of the same lock and debit in
SQL: at a small size it must reach the engine's totals to the fen, and it takes its exit age
and annual cap from the plan it is given, as the engine does."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infra.plans import builtin_plan_sources
from mutualaid.money import Fen
from mutualaid.plan import Plan
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard
from settlement.population import PopulationSpec, population_shard

ROOT = Path(__file__).resolve().parents[2]
CHRONIC = next(s.plan for s in builtin_plan_sources() if s.plan.id == "chronic")


def benchmark_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settlement_benchmark", ROOT / "benchmarks" / "settlement.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(300)
def test_the_engine_and_duckdb_reach_identical_totals(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "settlement.py"),
            "--members",
            "30000",
            "--shards",
            "3",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["identical_totals"] is True
    assert figures["members"] == 30000 and figures["roster"] > 28000
    assert figures["share_fen"] == 470


def kernel_totals(
    bench: ModuleType, plan: Plan, population: list[pa.Table], share: int
) -> dict[str, int]:
    """What the engine's kernels make of the population under this plan, as the peer counts."""
    totals = {"members": 0, "paid_fen": 0, "unpaid_fen": 0, "subsidy_fen": 0}
    for shard, accounts in enumerate(population):
        locked, lock = lock_shard(
            accounts,
            [],
            LockParams(
                plan_id=plan.id,
                publicity_date=bench.PUBLICITY,
                exit_age_years=plan.joining.exit_age_years,
                opening_funds_fen=0,
            ),
            shard=shard,
        )
        _, _, debited = debit_shard(
            locked,
            DebitParams(
                publicity_date=bench.PUBLICITY,
                attempt=0,
                share_fen=share,
                annual_cap_fen=plan.sharing.annual_cap_fen,
                year=bench.SHARING.year,
                remove_unpaid_on=None,
            ),
            shard=shard,
        )
        totals["members"] += lock.on_roster
        totals["paid_fen"] += debited.paid_fen
        totals["unpaid_fen"] += debited.unpaid_fen
        totals["subsidy_fen"] += debited.subsidy_fen
    return totals


def test_the_duckdb_peer_takes_the_exit_age_and_the_annual_cap_from_the_plan(
    tmp_path: Path,
) -> None:
    bench = benchmark_module()
    spec = PopulationSpec(members=3_000, shards=3, seed=11, as_of=bench.AS_OF)
    population = [population_shard(CHRONIC, spec, shard) for shard in range(spec.shards)]
    for shard, accounts in enumerate(population):
        pq.write_table(accounts, tmp_path / f"{shard}.parquet")
    # Not the chronic plan's 60 and 188 yuan: a peer with either written in would miss.
    varied = dataclasses.replace(
        CHRONIC,
        joining=dataclasses.replace(CHRONIC.joining, exit_age_years=45),
        sharing=dataclasses.replace(CHRONIC.sharing, annual_cap_fen=Fen(1_000)),
    )
    figures = {}
    for plan in (CHRONIC, varied):
        duck = bench.duckdb_settlement(
            str(tmp_path / "*.parquet"), tmp_path / "duckdb", plan=plan, share=470
        )
        got = {k: duck[k] for k in ("members", "paid_fen", "unpaid_fen", "subsidy_fen")}
        assert got == kernel_totals(bench, plan, population, 470), plan.joining.exit_age_years
        figures[plan.joining.exit_age_years] = got
    # The varied plan really does change things: more members aged out, more subsidy.
    assert figures[45]["members"] < figures[60]["members"]
    assert figures[45]["subsidy_fen"] > figures[60]["subsidy_fen"]
