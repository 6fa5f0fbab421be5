"""`mutualaid population` and `mutualaid settle`: results as JSON, bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from settlement.store import fitted_shards, local_cpus
from tests.helpers import run_cli


def generated(state: Path, members: int, *more: str) -> dict[str, object]:
    """`population generate` in a state folder, inline, as of 2026-10-01; its JSON answer."""
    done = run_cli(
        "population",
        "generate",
        "--members",
        str(members),
        "--as-of",
        "2026-10-01",
        "--executor",
        "inline",
        "--json",
        *more,
        env={"MUTUALAID_STATE_DIR": str(state)},
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("settle-cli")
    assert generated(folder, 2000, "--shards", "2")["members"] == 2000
    return folder


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("population", "generate", "--members", "0"), "error: members=0: must be at least 1"),
        (
            ("population", "generate", "--cannot-pay", "2"),
            "error: cannot_pay='2': must be between 0 and 1",
        ),
        (
            ("settle", "lock", "--publicity-date", "2026-02-30"),
            "error: publicity_date='2026-02-30': is not a real date",
        ),
        (
            ("settle", "lock", "--publicity-date", "2026-10-08"),
            "error: publicity_date='2026-10-08': is not the 7th or 21st",
        ),
        (
            ("settle", "debit", "--sharing-date", "2026-10-15", "--aid-fen", "100"),
            "error: sharing_date='2026-10-15': is not the 14th or 28th",
        ),
        (
            ("settle", "debit", "--sharing-date", "2026-10-14", "--aid-fen", "-5"),
            "error: aid_fen='-5': must not be negative",
        ),
        (
            ("settle", "debit", "--sharing-date", "2026-10-14", "--aid-fen", "1.5"),
            "error: aid_fen='1.5': must be a whole number of fen",
        ),
        (
            ("settle", "debit", "--sharing-date", "2026-10-14"),
            "error: aid_fen='': is required: give --aid-fen, or --case-fen per case",
        ),
        (
            (
                "settle",
                "debit",
                "--sharing-date",
                "2026-10-14",
                "--aid-fen",
                "100",
                "--case-fen",
                "100",
            ),
            "error: case_fen='100': cannot be given with --aid-fen",
        ),
        (
            ("settle", "debit", "--sharing-date", "2026-10-14", "--case-fen", "-1"),
            "error: case_fen='-1': must not be negative",
        ),
        (
            ("settle", "lock", "--publicity-date", "2026-10-07", "--plan", "nope"),
            "error: plan='nope': is not a known plan",
        ),
        (
            ("settle", "lock", "--publicity-date", "2026-10-07", "--executor", "gpu"),
            "error: executor='gpu': must be ray or inline",
        ),
    ],
)
def test_bad_settlement_input_is_one_line_and_exit_2(
    state: Path, args: tuple[str, ...], expected: str
) -> None:
    before = sorted(p.name for p in (state / "store" / "chronic" / "snapshots").iterdir())
    result = run_cli(*args, env={"MUTUALAID_STATE_DIR": str(state)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in (state / "store" / "chronic" / "snapshots").iterdir()) == before


def test_a_store_from_a_newer_schema_stops_the_lock(tmp_path: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path)}
    assert (
        run_cli(
            "population",
            "generate",
            "--members",
            "100",
            "--shards",
            "1",
            "--as-of",
            "2026-10-01",
            "--executor",
            "inline",
            env=env,
        ).returncode
        == 0
    )
    meta = tmp_path / "store" / "chronic" / "store.json"
    meta.write_text(meta.read_text().replace('"format": 2', '"format": 3'))
    result = run_cli(
        "settle", "lock", "--publicity-date", "2026-10-07", "--executor", "inline", env=env
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: store format=3: was written by a newer schema")


def test_settle_status_lists_periods_and_runs(state: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(state)}
    assert (
        run_cli(
            "settle", "lock", "--publicity-date", "2026-10-07", "--executor", "inline", env=env
        ).returncode
        == 0
    )
    debit = run_cli(
        "settle",
        "debit",
        "--sharing-date",
        "2026-10-14",
        "--aid-fen",
        "500000",
        "--executor",
        "inline",
        "--json",
        env=env,
    )
    assert debit.returncode == 0, debit.stderr
    assert json.loads(debit.stdout)["attempt"] == 0
    periods = json.loads(run_cli("settle", "status", "--json", env=env).stdout)
    assert [p["period"] for p in periods] == ["period-chronic-2026-10-07"]
    assert periods[0]["state"] == "debiting"
    runs = json.loads(
        run_cli("settle", "status", "--sharing-date", "2026-10-14", "--json", env=env).stdout
    )
    assert [(r["attempt"], r["state"]) for r in runs] == [(0, "committed")]
    too_early = run_cli(
        "settle", "retry", "--sharing-date", "2026-10-14", "--as-of", "2026-10-14T12:00", env=env
    )
    assert too_early.returncode == 4  # not yet: wait, then run it again
    assert "attempt=1: is due on 2026-10-15" in too_early.stderr


def test_population_shards_default_to_the_fit_for_this_machine_then_to_the_stores_own(
    tmp_path: Path,
) -> None:
    fitted = fitted_shards(3_000, local_cpus())
    assert generated(tmp_path, 3000)["shards"] == fitted
    # A re-run (after a crash, or from a machine with other CPUs) keeps the store's count.
    assert generated(tmp_path, 3000)["shards"] == fitted
    refused = run_cli(
        "population",
        "generate",
        "--members",
        "4000",
        "--shards",
        str(fitted + 1),
        env={"MUTUALAID_STATE_DIR": str(tmp_path)},
    )
    assert refused.returncode == 2
    assert f"shards={fitted + 1}: the store of plan chronic has {fitted} shards" in refused.stderr
