"""The engine on a real Ray cluster: a head started with `ray start --head`, steps submitted as
Ray Jobs with deterministic ids, a failed job run again under a new attempt id, results read
from the committed state, and a Ray worker killed in the middle of a debit."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.config import load_settings
from infra.db import make_engine, reading
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.errors import NotYetError
from settlement import steps
from settlement.engine import Settlement
from settlement.executor import InlineExecutor
from settlement.outcome import run_outcome
from tests.helpers import BIN, free_port, run_cli
from tests.settlement.conftest import CHRONIC, locked_store_by_cli

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


JOB_FIELDS = ("submission_id", "submitted", "job_status", "failed_attempts")


def generated(state: Path, *, members: int = 2_000, shards: int = 2) -> None:
    """A small population, not yet locked."""
    result = run_cli(
        "population",
        "generate",
        "--members",
        str(members),
        "--shards",
        str(shards),
        "--as-of",
        "2026-10-01",
        "--executor",
        "inline",
        env={"MUTUALAID_STATE_DIR": str(state)},
    )
    assert result.returncode == 0, result.stderr


def step_jobs(ray_head: dict[str, str], prefix: str) -> dict[str, str]:
    """The Ray Jobs the head holds whose submission id starts with `prefix`, and their status
    (asked from another process, so this one never holds the cluster's token)."""
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, os, sys\n"
            "from ray.job_submission import JobSubmissionClient\n"
            "jobs = JobSubmissionClient(os.environ['MUTUALAID_RAY_ADDRESS']).list_jobs()\n"
            "print(json.dumps({j.submission_id: str(j.status) for j in jobs\n"
            "    if (j.submission_id or '').startswith(sys.argv[1])}))",
            prefix,
        ],
        env={**os.environ, **ray_head},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    jobs: dict[str, str] = json.loads(listed.stdout)
    return jobs


def without_job(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in JOB_FIELDS}


def test_a_failed_lock_job_runs_again_under_a_new_attempt_id_and_reports_what_sql_holds(
    ray_head: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    generated(state)
    local = tmp_path / "local"
    shutil.copytree(state, local)
    lock = ("settle", "lock", "--publicity-date", "2026-10-07", "--json")
    env = ray_head | {"MUTUALAID_STATE_DIR": str(state)}

    # Too early: the step fails on the cluster as it fails here, with the same exit code.
    early = run_cli(*lock, "--as-of", "2026-10-06", env=env, timeout=400)
    here = tmp_path / "here"
    shutil.copytree(state, here)
    early_here = run_cli(
        *lock,
        "--as-of",
        "2026-10-06",
        "--executor",
        "inline",
        env={"MUTUALAID_STATE_DIR": str(here)},
    )
    assert early.returncode == early_here.returncode != 0, early.stderr
    assert "roster locks at 00:00" in early.stderr
    [failed] = step_jobs(ray_head, "mutualaid-chronic-lock-2026-10-07-")

    # On the day the step runs again, as attempt r1, and its result is the committed state's.
    done = run_cli(*lock, "--as-of", "2026-10-07", env=env, timeout=400)
    assert done.returncode == 0, done.stderr
    cluster = json.loads(done.stdout)
    assert cluster["submission_id"] == failed + "-r1"
    assert cluster["submitted"] is True
    assert cluster["failed_attempts"] == [failed]
    assert cluster["already_done"] is False
    expected = run_cli(
        *lock,
        "--as-of",
        "2026-10-07",
        "--executor",
        "inline",
        env={"MUTUALAID_STATE_DIR": str(local)},
    )
    assert expected.returncode == 0, expected.stderr
    assert without_job(cluster) == json.loads(expected.stdout)
    engine = make_engine(f"sqlite:///{state / 'mutualaid.db'}")
    try:
        with reading(engine) as session:
            period = PeriodRepository(session).get("chronic", date(2026, 10, 7))
            assert period is not None
            assert cluster["members"] == period.members
    finally:
        engine.dispose()

    # Asked again: the succeeded job is followed, no new job, the same figures.
    again = run_cli(*lock, "--as-of", "2026-10-07", env=env, timeout=400)
    assert again.returncode == 0, again.stderr
    followed = json.loads(again.stdout)
    assert followed["submission_id"] == failed + "-r1"
    assert followed["submitted"] is False
    assert followed["already_done"] is True
    assert without_job(followed) == without_job(cluster) | {"already_done": True}
    assert step_jobs(ray_head, "mutualaid-chronic-lock-2026-10-07-") == {
        failed: "FAILED",
        failed + "-r1": "SUCCEEDED",
    }


@pytest.mark.slow
def test_the_period_path_debits_on_the_cluster_runs_a_failed_job_again_and_reads_sql(
    ray_head: dict[str, str], tmp_path: Path
) -> None:
    """What the period activities call (`settlement.steps`), against the cluster: a debit
    asked for before its day fails as "not yet" (so the workflow waits), then runs under a new
    attempt id; its result is the debit run SQL committed, equal to a local run's; asked again
    it follows the job; a retry goes the same way. Run in its own process, which holds the
    cluster's token."""
    state = tmp_path / "state"
    prepared(state, members=3_000, shards=2)
    local = tmp_path / "local"
    shutil.copytree(state, local)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.settlement.test_ray_cluster import period_path_on_cluster; "
            "period_path_on_cluster(sys.argv[1], sys.argv[2])",
            str(state),
            str(local),
        ],
        env=env | ray_head | {"MUTUALAID_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "period path checked" in checked.stdout


def period_path_on_cluster(state_dir: str, local_dir: str) -> None:
    """The checks of the test above, in a process whose environment names the cluster."""
    state, local = Path(state_dir), Path(local_dir)
    server = steps.job_server(load_settings())
    assert server is not None
    engine = make_engine(f"sqlite:///{state / 'mutualaid.db'}")
    local_engine = make_engine(f"sqlite:///{local / 'mutualaid.db'}")
    beats: list[str] = []  # what an activity would heartbeat

    def progress(label: str) -> Callable[[int, int], None]:
        return lambda done, total: beats.append(label)

    ctx = Settlement(
        db=engine,
        store_root=str(state / "store"),
        plan=CHRONIC.plan,
        executor=InlineExecutor(),
        progress=progress,
    )
    here = dataclasses.replace(ctx, db=local_engine, store_root=str(local / "store"), progress=None)
    sharing, publicity = date(2026, 10, 14), date(2026, 10, 7)
    early, later = datetime(2026, 10, 13, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)
    aid = 30_000_000
    try:
        with pytest.raises(NotYetError, match="has not come yet"):
            steps.debit(ctx, sharing, aid_fen=aid, now=early, jobs=server)
        ran = steps.debit_step(ctx, sharing, aid_fen=aid, now=later, jobs=server)
        assert ran.job is not None and ran.job.submission_id.endswith("-r1")
        assert ran.job.submitted and len(ran.job.passed_over) == 1
        assert "debit as a Ray job" in beats  # the wait heartbeats
        assert ran.result == steps.debit(here, sharing, aid_fen=aid, now=later, jobs=None)
        assert ran.result == run_outcome(ctx, publicity, 0)
        with reading(engine) as session:
            period = PeriodRepository(session).get("chronic", publicity)
            assert period is not None
            run = DebitRunRepository(session).get(period.id, 0)
            assert run is not None and run.state == "committed"
            assert (ran.result.paid_fen, ran.result.unpaid_fen, ran.result.subsidy_fen) == (
                run.paid_fen,
                run.unpaid_fen,
                run.subsidy_fen,
            )

        again = steps.debit_step(ctx, sharing, aid_fen=aid, now=later, jobs=server)
        assert again.job is not None
        assert (again.job.submission_id, again.job.submitted) == (ran.job.submission_id, False)
        assert again.result == dataclasses.replace(ran.result, already_done=True)

        retried = steps.retry_step(ctx, sharing, now=later, jobs=server)
        assert retried.job is not None and "-retry-2026-10-14-a1-" in retried.job.submission_id
        assert retried.result == steps.retry(here, sharing, now=later, jobs=None)
    finally:
        engine.dispose()
        local_engine.dispose()
    print("period path checked")
