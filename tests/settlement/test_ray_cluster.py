"""The engine on a real Ray cluster: a head started with `ray start --head`, steps submitted as
Ray Jobs with deterministic ids, and a Ray worker killed in the middle of a debit."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import BIN, free_port, run_cli
from tests.settlement.conftest import locked_store_by_cli

pytestmark = pytest.mark.timeout(600)

DEBIT = ("settle", "debit", "--sharing-date", "2026-10-14", "--aid-fen", "30000000", "--json")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A local Ray head as its own process, with the job server and token authentication."""
    temp = tmp_path_factory.mktemp("ray")
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, **auth}
    gcs, dashboard, client = free_port(), free_port(), free_port()
    started = subprocess.run(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            f"--port={gcs}",
            f"--dashboard-port={dashboard}",
            "--dashboard-host=127.0.0.1",
            f"--ray-client-server-port={client}",
            "--min-worker-port=21000",
            "--max-worker-port=21999",
            "--num-cpus=2",
            "--include-dashboard=true",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield auth | {"MUTUALAID_RAY_ADDRESS": f"http://127.0.0.1:{dashboard}"}
    finally:
        subprocess.run(
            [str(BIN / "ray"), "stop", "--force"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def prepared(state: Path, members: int = 60_000, shards: int = 6) -> None:
    locked_store_by_cli(state, members=members, shards=shards)


def parquet_files(state: Path) -> dict[str, bytes]:
    root = state / "store" / "chronic"
    patterns = ("ledgers/**/*.parquet", "snapshots/debit-*/*.parquet")
    return {
        str(p.relative_to(root)): p.read_bytes() for pat in patterns for p in sorted(root.glob(pat))
    }


def test_a_debit_runs_as_a_ray_job_and_a_second_submission_is_refused_by_ray(
    ray_head: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    prepared(state)
    clean = tmp_path / "clean"
    shutil.copytree(state, clean)
    assert (
        run_cli(*DEBIT, "--executor", "inline", env={"MUTUALAID_STATE_DIR": str(clean)}).returncode
        == 0
    )

    env = ray_head | {"MUTUALAID_STATE_DIR": str(state)}
    first = run_cli(*DEBIT, env=env, timeout=400)
    assert first.returncode == 0, first.stderr
    assert '"submission_id": "mutualaid-chronic-debit-2026-10-14-a0-' in first.stdout
    assert '"submitted": true' in first.stdout
    second = run_cli(*DEBIT, env=env, timeout=400)
    assert second.returncode == 0, second.stderr
    assert '"submitted": false' in second.stdout
    assert parquet_files(state) == parquet_files(clean)

    retry = run_cli(
        "settle", "retry", "--sharing-date", "2026-10-14", "--json", env=env, timeout=400
    )
    assert retry.returncode == 0, retry.stderr
    assert '"submission_id": "mutualaid-chronic-retry-2026-10-14-a1-' in retry.stdout


def test_a_ray_worker_killed_mid_debit_is_retried_to_the_same_result(
    ray_head: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    # Shards big enough that a debit task runs long enough to be caught and killed.
    prepared(state, members=900_000, shards=2)
    clean = tmp_path / "clean"
    shutil.copytree(state, clean)
    assert (
        run_cli(*DEBIT, "--executor", "inline", env={"MUTUALAID_STATE_DIR": str(clean)}).returncode
        == 0
    )

    killed: list[int] = []
    stop = threading.Event()

    def kill_one_debit_worker() -> None:
        # Ray names a worker after the task it runs, in its process name and its command
        # line; look at both, as often as the machine allows.
        while not stop.is_set() and not killed:
            for process in psutil.process_iter(["pid", "name", "cmdline"]):
                title = " ".join([process.info["name"] or "", *(process.info["cmdline"] or [])])
                if "ray::debit_task" in title:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.info["pid"], signal.SIGKILL)
                        killed.append(process.info["pid"])
                        return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_one_debit_worker)
    killer.start()
    env = ray_head | {"MUTUALAID_STATE_DIR": str(state)}
    result = run_cli(*DEBIT, env=env, timeout=400)
    stop.set()
    killer.join()
    assert result.returncode == 0, result.stderr
    assert killed, "no debit worker was seen to kill"
    assert parquet_files(state) == parquet_files(clean)
    check = run_cli(
        "settle",
        "reconcile",
        "--sharing-date",
        "2026-10-14",
        "--executor",
        "inline",
        "--json",
        env={"MUTUALAID_STATE_DIR": str(state)},
    )
    assert '"balanced": true' in check.stdout, check.stdout + check.stderr
