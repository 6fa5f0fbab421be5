"""The settlement benchmark's peers are independent implementations of the lock and the debit
(DuckDB, Polars): they must write the engine's files, row for row and with its schemas, under
any plan, and the benchmark must say so only when it is true."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from datetime import date
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
from settlement.schema import MEMBERS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "settlement.py"
CHRONIC = next(s.plan for s in builtin_plan_sources() if s.plan.id == "chronic")
PEERS = ("duckdb", "polars")


def benchmark_module() -> ModuleType:
    name = "settlement_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def with_rules(*, exit_age: int, cap_fen: int) -> Plan:
    return dataclasses.replace(
        CHRONIC,
        joining=dataclasses.replace(CHRONIC.joining, exit_age_years=exit_age),
        sharing=dataclasses.replace(CHRONIC.sharing, annual_cap_fen=Fen(cap_fen)),
    )


def engine_files(bench: ModuleType, plan: Plan, population: Path, out: Path, share: int) -> int:
    """What the engine's kernels write for one shard, written as the engine writes it;
    returns the members on the roster."""
    roster, lock = lock_shard(
        pq.read_table(population),
        [],
        LockParams(
            plan_id=plan.id,
            publicity_date=bench.PUBLICITY,
            exit_age_years=plan.joining.exit_age_years,
            opening_funds_fen=0,
        ),
        shard=0,
    )
    ledger, next_accounts, _ = debit_shard(
        roster,
        DebitParams(
            publicity_date=bench.PUBLICITY,
            attempt=0,
            share_fen=share,
            annual_cap_fen=plan.sharing.annual_cap_fen,
            year=bench.SHARING.year,
            remove_unpaid_on=None,
        ),
        shard=0,
    )
    out.mkdir(parents=True)
    # Account tables cast to the member schema, as `MemberStore.write_shard` does.
    tables = (roster.cast(MEMBERS), ledger, next_accounts.cast(MEMBERS))
    for kind, table in zip(bench.FILES, tables, strict=True):
        bench._engine_write(table, out / f"{kind}.parquet")
    return lock.on_roster


def peer_files(
    bench: ModuleType, peer: str, plan: Plan, population: Path, out: Path, share: int
) -> int:
    """What a peer writes for the same shard; returns the members on its roster."""
    lock, debit = bench.PEER_SHARDS[peer]
    rules = bench.Rules.of(plan)
    out.mkdir(parents=True)
    members = lock(population, out / "roster.parquet", rules)
    debit(out / "roster.parquet", out / "ledger.parquet", out / "accounts.parquet", rules, share)
    return int(members)


def families_at_the_edges() -> pa.Table:
    """One shard whose families test the order and the roster rules: a payer who joined after
    the members it pays for and has a larger id, two of them joined on one day; a payer aged
    out at the lock who still pays for a young member; exits before and after publicity day;
    a member who joined on publicity day; paid this year in an earlier year and near the cap."""
    cap = CHRONIC.sharing.annual_cap_fen
    rows = [
        # member, payer, birth, joined, status, reason, exit, funds, paid year, paid this year
        (3, 10, date(1990, 1, 1), date(2025, 1, 1), 0, 0, None, 0, 2026, 0),
        (5, 10, date(1990, 1, 1), date(2024, 6, 1), 0, 0, None, 0, 2026, 0),
        (7, 10, date(1990, 1, 1), date(2024, 6, 1), 0, 0, None, 0, 2026, 0),
        (10, 10, date(1980, 1, 1), date(2024, 7, 1), 0, 0, None, 1_000, 2026, 0),
        (20, 20, date(1966, 11, 7), date(2024, 1, 1), 0, 0, None, 900, 2026, 0),
        (21, 20, date(2000, 1, 1), date(2024, 1, 1), 0, 0, None, 0, 2026, 0),
        (30, 30, date(1980, 1, 1), date(2024, 1, 1), 1, 1, date(2026, 10, 1), 5_000, 2026, 0),
        (40, 40, date(1980, 1, 1), date(2024, 1, 1), 1, 1, date(2026, 11, 10), 300, 2026, 0),
        (50, 50, date(1980, 1, 1), date(2026, 11, 7), 0, 0, None, 5_000, 2026, 0),
        (60, 60, date(1980, 1, 1), date(2024, 1, 1), 0, 0, None, 5_000, 2025, cap),
        (61, 61, date(1980, 1, 1), date(2024, 1, 1), 0, 0, None, 5_000, 2026, cap - 200),
    ]
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "member_id": columns[0],
            "payer_id": columns[1],
            "birth_date": columns[2],
            "join_date": columns[3],
            "chronic_groups": [1] * len(rows),
            "status": columns[4],
            "exit_reason": columns[5],
            "exit_date": columns[6],
            "funds_fen": columns[7],
            "deposit_fen": [0] * len(rows),
            "paid_year": columns[8],
            "paid_this_year_fen": columns[9],
            "unpaid_fen": [0] * len(rows),
        },
        schema=MEMBERS,
    )


# A population drawn under the chronic plan, locked and debited under each plan and share.
CASES = {
    "chronic": (CHRONIC, 470),
    "exit age 45 and a 10-yuan cap": (with_rules(exit_age=45, cap_fen=1_000), 470),
    "a share that splits families": (with_rules(exit_age=60, cap_fen=10_000_000), 9_000),
    "families at the edges": (CHRONIC, 400),
}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("case", list(CASES))
def test_a_peer_writes_the_engines_files_row_for_row(peer: str, case: str, tmp_path: Path) -> None:
    bench = benchmark_module()
    plan, share = CASES[case]
    if case == "families at the edges":
        accounts = families_at_the_edges()
    else:
        spec = PopulationSpec(members=3_000, shards=2, seed=11, as_of=bench.AS_OF)
        accounts = population_shard(CHRONIC, spec, 1)
    population = tmp_path / "population.parquet"
    bench._engine_write(accounts, population)
    on_roster = engine_files(bench, plan, population, tmp_path / "engine", share)
    assert peer_files(bench, peer, plan, population, tmp_path / peer, share) == on_roster
    for kind in bench.FILES:
        assert (
            bench.compare_files(
                tmp_path / "engine" / f"{kind}.parquet", tmp_path / peer / f"{kind}.parquet"
            )
            == []
        ), kind
    # The case tests what it says: the rule it is about changes what members pay.
    ledger = pq.read_table(tmp_path / "engine" / "ledger.parquet").to_pydict()
    paid = dict(zip(ledger["member_id"], ledger["paid_fen"], strict=True))
    if case == "families at the edges":
        assert paid == {3: 0, 5: 400, 7: 0, 10: 400, 21: 400, 40: 0, 60: 400, 61: 200}
    elif case == "a share that splits families":
        by_family: dict[int, set[bool]] = {}
        for member, payer in zip(ledger["member_id"], ledger["payer_id"], strict=True):
            by_family.setdefault(payer, set()).add(paid[member] > 0)
        assert any(outcomes == {True, False} for outcomes in by_family.values())
    elif case == "exit age 45 and a 10-yuan cap":
        assert on_roster < 0.6 * accounts.num_rows
        assert sum(ledger["subsidy_fen"]) > 0


def test_the_check_names_each_way_a_file_can_differ(tmp_path: Path) -> None:
    bench = benchmark_module()
    table = families_at_the_edges()
    bench._engine_write(table, tmp_path / "engine.parquet")
    assert bench.compare_files(tmp_path / "engine.parquet", tmp_path / "engine.parquet") == []
    funds = table["funds_fen"].to_pylist()
    funds[3] += 1
    changed = table.set_column(8, MEMBERS.field("funds_fen"), pa.array(funds, pa.int64()))
    wider = table.cast(MEMBERS.set(6, pa.field("exit_reason", pa.int32(), nullable=False)))
    nullable = table.cast(MEMBERS.set(0, pa.field("member_id", pa.int64())))
    cases = {
        "changed": (changed, "funds_fen differs in 1 rows (first member 10)"),
        "reversed": (table.take(list(range(table.num_rows))[::-1]), "not in member_id order"),
        "wider": (wider, "schema"),
        "nullable": (nullable, "schema"),
        "short": (table.slice(1), "10 rows, the engine wrote 11"),
    }
    for name, (other, problem) in cases.items():
        pq.write_table(other, tmp_path / f"{name}.parquet")
        found = bench.compare_files(tmp_path / "engine.parquet", tmp_path / f"{name}.parquet")
        assert len(found) == 1 and problem in found[0], (name, found)
    assert "missing" in bench.compare_files(tmp_path / "engine.parquet", tmp_path / "none")[0]


@pytest.mark.timeout(240)
def test_the_benchmark_runs_every_side_and_finds_the_peers_identical(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--members=20000",
            "--shards=2",
            "--repeat=1",
            f"--workdir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["identical"] is True
    assert figures["members"] == 20000 and figures["roster"] > 19_000
    assert figures["share_fen"] == 470
    for peer in PEERS:
        assert figures["checks"][peer] == {"ok": True, "runs_checked": 1, "problems": []}
    assert figures["checks"]["floor"]["ok"] is True
    assert figures["checks"]["engine_warm"] == {"ok": True, "runs_checked": 1, "problems": []}
    assert list(figures["sides"]) == ["engine", "engine_warm", "duckdb", "polars", "floor"]
    for side in figures["sides"].values():
        assert side["runs"] == 1
        assert 0 < side["steps_s"]["median"] < side["process_s"]["median"]
        assert side["peak_rss_mib"] > 0
    # The warm head was started once, counted in the warm engine's memory, and stopped after.
    assert figures["warm_ray_start_s"] > 0
    assert (
        figures["sides"]["engine_warm"]["peak_rss_mib"]
        > 2 * (figures["sides"]["engine_warm"]["peak_rss_mib_main_process"])
    )
    bench = benchmark_module()
    job = bench.Job(members=20000, shards=2, seed=7, workdir=tmp_path)
    assert job.warm_ray.status().running is False and not job.warm_ray.processes()
    best = min(PEERS, key=lambda p: figures["sides"][p]["process_s"]["median"])
    for engine in ("engine", "engine_warm"):
        assert figures["ratios"][f"{engine}_over_best_peer"]["peer"] == best
        assert figures["ratios"][f"{engine}_over_floor"]["process_s_median"] > 0
    assert "| engine |" in result.stdout and "| floor |" in result.stdout
    assert "| engine_warm |" in result.stdout and "byte for byte yes" in result.stdout
