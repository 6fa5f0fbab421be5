"""Killing the driver at any point: the rerun finishes with the same bytes, nobody charged twice."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import BIN, run_cli
from tests.settlement.conftest import locked_store_by_cli

pytestmark = pytest.mark.timeout(300)


def files(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern))}


def env_for(state: Path) -> dict[str, str]:
    return {"MUTUALAID_STATE_DIR": str(state)}


def prepared(tmp_path: Path, name: str) -> Path:
    state = tmp_path / name
    locked_store_by_cli(state, members=80_000, shards=8)
    return state


DEBIT = (
    "settle",
    "debit",
    "--sharing-date",
    "2026-10-14",
    "--aid-fen",
    "30000000",
    "--executor",
    "inline",
    "--json",
)


@pytest.mark.parametrize("kill_after_markers", [1, 8])
def test_a_driver_killed_mid_debit_is_finished_by_a_rerun_with_identical_files(
    tmp_path: Path, kill_after_markers: int
) -> None:
    state = prepared(tmp_path, "killed")
    clean = tmp_path / "clean"
    shutil.copytree(state, clean)
    assert run_cli(*DEBIT, env=env_for(clean)).returncode == 0

    ledger_dir = state / "store" / "chronic" / "ledgers" / "2026-10-07" / "attempt-0"
    process = subprocess.Popen(
        [str(BIN / "mutualaid"), *DEBIT],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")},
            **env_for(state),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(ledger_dir.glob("*.done"))) >= kill_after_markers:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the driver finished before it could be killed"

    rerun = run_cli(*DEBIT, env=env_for(state))
    assert rerun.returncode == 0, rerun.stderr
    for pattern in (
        "store/chronic/ledgers/**/*.parquet",
        "store/chronic/snapshots/debit-*/*.parquet",
    ):
        assert files(state, pattern) == files(clean, pattern)
        assert files(state, pattern)
    again = run_cli(*DEBIT, env=env_for(state))
    assert '"already_done": true' in again.stdout
    check = run_cli(
        "settle",
        "reconcile",
        "--sharing-date",
        "2026-10-14",
        "--executor",
        "inline",
        "--json",
        env=env_for(state),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert '"balanced": true' in check.stdout


def retry_command(attempt: int) -> tuple[str, ...]:
    return ("settle", "retry", "--sharing-date", "2026-10-14", "--attempt", str(attempt),
            "--executor", "inline", "--json")  # fmt: skip


def test_retries_killed_at_random_points_finish_with_the_bytes_of_a_clean_run(
    tmp_path: Path,
) -> None:
    """Each of the five retries (which write patches over the first debit's files) is killed
    after a seeded random delay, wherever it is (starting, debiting, reconciling, committing,
    or done), then asked again: the ledgers, patches and manifests equal a clean run's."""
    state = tmp_path / "killed"
    locked_store_by_cli(state, members=40_000, shards=4)
    clean = tmp_path / "clean"
    shutil.copytree(state, clean)
    for command in (DEBIT, *(retry_command(a) for a in range(1, 6))):
        assert run_cli(*command, env=env_for(clean)).returncode == 0
    assert run_cli(*DEBIT, env=env_for(state)).returncode == 0

    delays = random.Random(11)
    killed = 0
    for attempt in range(1, 6):
        process = subprocess.Popen(
            [str(BIN / "mutualaid"), *retry_command(attempt)],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")},
                **env_for(state),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=delays.uniform(0.5, 3.5))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            killed += 1
        rerun = run_cli(*retry_command(attempt), env=env_for(state))
        assert rerun.returncode == 0, rerun.stderr
    assert killed >= 2, "too few retries were killed for the test to mean anything"

    for pattern in ("store/chronic/ledgers/**/*.*", "store/chronic/snapshots/debit-*/*.*"):
        assert files(state, pattern) == files(clean, pattern)
    assert files(state, "store/chronic/snapshots/debit-*-a5/patch-*.parquet")
    check = run_cli("settle", "reconcile", "--sharing-date", "2026-10-14", "--executor",
                    "inline", "--json", env=env_for(state))  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert '"balanced": true' in check.stdout
