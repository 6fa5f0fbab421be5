"""The chain as an operator meets it on the command line: a lock that must wait says for what
and exits 4; a wrong period is cancelled and the chain goes on; a damaged store exits 5."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from infra.db import make_engine
from settlement.engine import Settlement, retry
from settlement.executor import InlineExecutor
from tests.helpers import run_cli
from tests.settlement.conftest import CHRONIC, LATER


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path / "state")}
    generated = run_cli(
        "population",
        "generate",
        "--members",
        "600",
        "--shards",
        "2",
        "--as-of",
        "2026-10-01",
        "--executor",
        "inline",
        env=env,
    )
    assert generated.returncode == 0, generated.stderr
    return env


def settle(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = run_cli("settle", *args, "--executor", "inline", env=env)
    return result.returncode, result.stdout, result.stderr


def test_a_lock_that_must_wait_names_the_period_and_exits_4_and_a_cancel_undoes_a_lock(
    env: dict[str, str],
) -> None:
    assert settle(env, "lock", "--publicity-date", "2026-10-07")[0] == 0
    assert settle(env, "debit", "--sharing-date", "2026-10-14", "--aid-fen", "500000")[0] == 0
    code, _, err = settle(env, "lock", "--publicity-date", "2026-10-21")
    assert code == 4
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "waits for period-chronic-2026-10-07 (debiting) to close" in err
    # The retries as the period workflow runs them (the command line's retry has its tests).
    state = Path(env["MUTUALAID_STATE_DIR"])
    db = make_engine(f"sqlite:///{state / 'mutualaid.db'}")
    ctx = Settlement(
        db=db, store_root=str(state / "store"), plan=CHRONIC.plan, executor=InlineExecutor()
    )
    for _ in range(5):
        retry(ctx, date(2026, 10, 14), now=LATER)
    db.dispose()
    assert settle(env, "lock", "--publicity-date", "2026-10-21")[0] == 0

    cancel = run_cli(
        "settle",
        "cancel",
        "--publicity-date",
        "2026-10-21",
        "--reason",
        "locked by mistake",
        "--json",
        env=env,
    )
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout)["roster_removed"] is True
    refused = run_cli(
        "settle", "cancel", "--publicity-date", "2026-10-07", "--reason", "x", env=env
    )
    assert refused.returncode == 3
    assert "money may have moved" in refused.stderr
    status = json.loads(run_cli("settle", "status", "--json", env=env).stdout)
    assert [(p["period"], p["state"]) for p in status] == [
        ("period-chronic-2026-10-07", "closed"),
        ("period-chronic-2026-10-21", "cancelled"),
    ]
    assert settle(env, "lock", "--publicity-date", "2026-11-07")[0] == 0
    reconciled = run_cli(
        "settle", "reconcile", "--sharing-date", "2026-10-14", "--executor", "inline", env=env
    )
    assert reconciled.returncode == 0, reconciled.stdout


def test_a_damaged_store_stops_with_exit_5_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "state" / "store" / "chronic"
    head = (store / "HEAD").read_text().strip()
    (store / "snapshots" / head / "shard-00001.parquet").unlink()
    code, _, err = settle(env, "lock", "--publicity-date", "2026-10-07")
    assert code == 5, err
    assert "is missing" in err
    status = json.loads(run_cli("settle", "status", "--json", env=env).stdout)
    assert status == []
