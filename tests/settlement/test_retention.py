"""The retention policy: ledgers and manifests stay, old account files go, nothing breaks.

Driven out of order: the policy applied after every step of three periods (in the middle of
a period's retries too) must leave the same ledgers and the same latest snapshot as a run
that never applied it, every period must still reconcile, and an apply killed half-way is
finished by the next.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import PlanRepository
from mutualaid.errors import IntegrityError
from settlement.engine import Settlement, cancel_period, debit, lock_roster, retry
from settlement.reconcile_period import reconcile_period
from settlement.retention import RetentionPlan, apply_retention, retention_plan
from tests.helpers import run_cli
from tests.settlement.conftest import LATER, locked_store_by_cli, small_settlement

PERIODS = [
    (date(2026, 10, 7), date(2026, 10, 14)),
    (date(2026, 10, 21), date(2026, 10, 28)),
    (date(2026, 11, 7), date(2026, 11, 14)),
]
AID = 30_000_000


def _steps(ctx: Settlement) -> list[Callable[[], object]]:
    steps: list[Callable[[], object]] = []
    for publicity, sharing in PERIODS:
        steps.append(lambda p=publicity: lock_roster(ctx, p, now=LATER))
        steps.append(lambda s=sharing: debit(ctx, s, aid_fen=AID, now=LATER))
        steps += [lambda s=sharing: retry(ctx, s, now=LATER) for _ in range(5)]
    return steps


def _files(root: Path, *, under: str) -> dict[str, bytes]:
    folder = root / "chronic" / under
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_policy_keeps_ledgers_manifests_and_the_latest_periods(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root)
    for step in _steps(ctx):
        step()
    before = [reconcile_period(ctx, p) for p, _ in PERIODS]
    ledgers = _files(root, under="ledgers")
    manifests = {k: v for k, v in _files(root, under="snapshots").items() if "manifest" in k}

    plan = retention_plan(ctx, keep_periods=1)
    removed = {r.snapshot for r in plan.removals}
    assert removed == {
        "population-n3000-seed7",
        *(f"roster-{p}" for p, _ in PERIODS[:2]),
        *(f"debit-{p}-a{a}" for p, _ in PERIODS[:2] for a in range(6)),
    }
    assert set(plan.kept) == {f"roster-{PERIODS[2][0]}"} | {
        f"debit-{PERIODS[2][0]}-a{a}" for a in range(6)
    }
    # Listing removes nothing.
    snapshots = root / "chronic" / "snapshots"
    assert all((snapshots / r.snapshot / r.files[0]).exists() for r in plan.removals)

    # Killed half-way: the first snapshots done, the rest left; the next run finishes.
    half = RetentionPlan(keep_periods=1, kept=plan.kept, removals=plan.removals[:3])
    assert apply_retention(ctx, half) > 0
    assert apply_retention(ctx, plan) == sum(len(r.files) for r in plan.removals[3:])
    assert apply_retention(ctx, retention_plan(ctx, keep_periods=1)) == 0

    assert _files(root, under="ledgers") == ledgers
    after = {k: v for k, v in _files(root, under="snapshots").items() if "manifest" in k}
    assert after == manifests
    for removal in plan.removals:
        folder = root / "chronic" / "snapshots" / removal.snapshot
        assert not list(folder.glob("*.parquet"))
        record = json.loads((folder / "compacted.json").read_text())
        assert [f["file"] for f in record["removed"]] == sorted(removal.files)
    assert [reconcile_period(ctx, p) for p, _ in PERIODS] == before
    assert all(r.balanced for r in before)

    # A reader sent to a removed file is told why.
    store = ctx.store()
    with pytest.raises(IntegrityError, match="retention policy"):
        store.read_shard(store.manifest(f"roster-{PERIODS[0][0]}"), 0)
    # The chain goes on from what was kept.
    assert lock_roster(ctx, date(2026, 11, 21), now=LATER).members > 0


def test_a_cancelled_first_period_finds_the_population_it_was_built_on(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    lock_roster(ctx, PERIODS[0][0], now=LATER)
    apply_retention(ctx, retention_plan(ctx, keep_periods=0))
    cancel_period(ctx, PERIODS[0][0], reason="locked by mistake", now=LATER)
    assert ctx.store().head() == "population-n3000-seed7"
    assert lock_roster(ctx, PERIODS[1][0], now=LATER).members > 2_500


def test_the_policy_applied_at_random_points_changes_no_result(
    fresh_db: Engine, tmp_path: Path
) -> None:
    clean_root, compacted_root = tmp_path / "clean", tmp_path / "compacted"
    clean = small_settlement(fresh_db, clean_root)
    for step in _steps(clean):
        step()

    # A second plan store on the same database would collide in SQL: a fresh one instead.
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    with unit_of_work(other) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=LATER)
    ctx = small_settlement(other, compacted_root)
    chosen = random.Random(5)
    for step in _steps(ctx):
        step()
        if chosen.random() < 0.5:
            apply_retention(ctx, retention_plan(ctx, keep_periods=chosen.choice([0, 1])))
    assert _files(compacted_root, under="ledgers") == _files(clean_root, under="ledgers")
    head = ctx.store().head()
    assert head == clean.store().head() == f"debit-{PERIODS[-1][0]}-a5"
    # Every file the policy left is the clean run's, byte for byte, and the latest snapshot
    # (with the first debit it is laid over) is all there.
    left = {
        k: v for k, v in _files(compacted_root, under="snapshots").items() if "compacted" not in k
    }
    assert left == {k: v for k, v in _files(clean_root, under="snapshots").items() if k in left}
    for snapshot in (head, f"debit-{PERIODS[-1][0]}-a0"):
        assert sum(k.startswith(f"{snapshot}/") and k.endswith(".parquet") for k in left) >= 3
    assert all(reconcile_period(ctx, p).balanced for p, _ in PERIODS)
    other.dispose()


def test_retain_on_the_command_line_lists_then_applies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    locked_store_by_cli(state, members=300, shards=2)
    env = {"MUTUALAID_STATE_DIR": str(state)}
    result = run_cli(
        "settle",
        "debit",
        "--sharing-date",
        "2026-10-14",
        "--aid-fen",
        "3000000",
        "--as-of",
        "2027-01-01T00:00:00+00:00",
        "--executor",
        "inline",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    # The period is open: its roster's parent (the population) stays too.
    listed = run_cli("settle", "retain", "--keep-periods", "0", "--json", env=env)
    assert json.loads(listed.stdout)["snapshots"] == []
    for _ in range(5):
        retried = run_cli("settle", "retry", "--sharing-date", "2026-10-14", "--as-of",
                          "2027-01-01T00:00:00+00:00", "--executor", "inline", env=env)  # fmt: skip
        assert retried.returncode == 0, retried.stderr
    bad = run_cli("settle", "retain", "--keep-periods", "-1", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: keep_periods=-1")
    listed = run_cli("settle", "retain", "--keep-periods", "0", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert report["applied"] is False and report["files_removed"] == 0
    # The period closed: all but its final snapshot and the first debit under it can go.
    assert [s["snapshot"] for s in report["snapshots"]] == [
        "population-n300-seed7",
        "roster-2026-10-07",
        *(f"debit-2026-10-07-a{a}" for a in range(1, 5)),
    ]
    applied = run_cli("settle", "retain", "--keep-periods", "0", "--apply", "--json", env=env)
    assert json.loads(applied.stdout)["files_removed"] == 2 + 2 + 4 * 2
    again = run_cli("settle", "retain", "--keep-periods", "0", "--apply", "--json", env=env)
    assert json.loads(again.stdout)["files_removed"] == 0
