"""The cluster profile on this machine, as an operator starts it: `mutualaid dev up --profile
cluster` starts SeaweedFS (S3), PostgreSQL, a Ray cluster of two nodes and the Temporal dev
server; `dev down --profile cluster` stops them all.

On it: a whole period runs from its roster lock to its payouts (the real period workflow, its
steps as Ray Jobs whose shard tasks read and write the store only through S3, on both nodes);
and a debit survives its driver, a Ray worker and a whole Ray node killed in the middle, each
time with the bytes of a clean run on a local disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import psutil
import pyarrow.fs as pafs
import pytest
from sqlalchemy import create_engine, text

from infra.clusterstack import ClusterProfile
from tests.helpers import BIN, run_cli

pytestmark = [pytest.mark.timeout(1200), pytest.mark.postgres]

DEBIT = ("settle", "debit", "--sharing-date", "2026-10-14", "--aid-fen", "30000000", "--json")
# Shards big enough that a debit task on S3 runs long enough to be caught and killed.
MEMBERS, SHARDS = 400_000, 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    state = tmp_path_factory.mktemp("cluster")
    env = {"MUTUALAID_STATE_DIR": str(state)}
    up = run_cli("dev", "up", "--profile", "cluster", "--json", env=env, timeout=400)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        settings = json.loads(up.stdout)
        assert Path(settings.pop("settings file")).exists()
        status = run_cli("dev", "status", "--profile", "cluster", "--json", env=env)
        assert status.returncode == 0, status.stdout
        yield state, settings
    finally:
        down = run_cli("dev", "down", "--profile", "cluster", env=env, timeout=300)
        assert down.returncode == 0, down.stderr
        after = run_cli("dev", "status", "--profile", "cluster", "--json", env=env)
        assert after.returncode == 1
        assert not any(part["running"] for part in json.loads(after.stdout)), after.stdout


def s3_filesystem(settings: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    for key, value in settings.items():
        if key.startswith("AWS_"):
            os.environ[key] = value
    fs, base = pafs.FileSystem.from_uri(settings["MUTUALAID_STORE_ROOT"])
    return fs, base


def s3_files(settings: dict[str, str], *patterns: str) -> dict[str, bytes]:
    """The store's objects under these folders of the plan, by path inside the plan."""
    fs, base = s3_filesystem(settings)
    root = f"{base}/chronic"
    found: dict[str, bytes] = {}
    for folder in patterns:
        selector = pafs.FileSelector(f"{root}/{folder}", recursive=True, allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
                with fs.open_input_stream(info.path) as stream:
                    found[info.path.removeprefix(f"{root}/")] = bytes(stream.read())
    return found


def test_a_whole_period_runs_from_lock_to_payout_on_the_cluster(
    cluster: tuple[Path, dict[str, str]],
) -> None:
    _, settings = cluster
    # A program day a second: the period's week and its retries take seconds, not weeks.
    env = settings | {"MUTUALAID_SECONDS_PER_DAY": "1"}
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    result = run_cli(
        "loadtest", "periods", "--cases", "6", "--members", "20000", "--workers", "1",
        env=env, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    period = json.loads(result.stdout)["period"]
    assert period["balanced"] is True
    assert period["cases_cleared"] == 6 and period["payouts_made"] == 6
    assert period["payouts_missing"] == 0
    # Its files are objects in S3; the state folder holds no member store.
    written = s3_files(settings, "snapshots", "ledgers")
    assert any(name.startswith("snapshots/roster-") for name in written)
    assert any(name.startswith("ledgers/") for name in written)
    assert not (Path(settings["MUTUALAID_STATE_DIR"]) / "store").exists()
    # No rename on S3: every object was written once to its own name, none staged.
    fs, base = s3_filesystem(settings)
    names = [i.path for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))]
    assert names and not [n for n in names if "/staging/" in n or ".tmp-" in n]
    # Its steps ran as Ray Jobs, and their shard tasks on both nodes.
    jobs = ray_jobs(settings)
    for step in ("lock", "debit", "retry"):
        assert any(f"-{step}-" in job and status == "SUCCEEDED" for job, status in jobs.items())
    assert len(task_nodes(settings, "debit_task")) == 2

    # The retention policy on S3: the closed period's account files go, except HEAD's and the
    # first debit's it is laid over; no ledger goes; the period still reconciles.
    retained = run_cli("settle", "retain", "--keep-periods", "0", "--apply", "--json", env=env)
    assert retained.returncode == 0, retained.stderr
    assert json.loads(retained.stdout)["files_removed"] > 0
    roster = sorted(n.split("/")[1] for n in written if n.startswith("snapshots/roster-"))[0]
    left = s3_files(settings, "snapshots", "ledgers")
    assert not [n for n in left if n.startswith(f"snapshots/{roster}/")]
    assert {n for n in left if n.startswith("ledgers/")} == {
        n for n in written if n.startswith("ledgers/")
    }
    sharing = date.fromisoformat(roster.removeprefix("roster-")) + timedelta(days=7)
    check = run_cli("settle", "reconcile", "--sharing-date", sharing.isoformat(), "--json", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["balanced"] is True


def ray_jobs(settings: dict[str, str]) -> dict[str, str]:
    listed = python_with(
        settings,
        "import json, os\n"
        "from ray.job_submission import JobSubmissionClient\n"
        "jobs = JobSubmissionClient(os.environ['MUTUALAID_RAY_ADDRESS']).list_jobs()\n"
        "print(json.dumps({j.submission_id: str(j.status) for j in jobs if j.submission_id}))",
    )
    jobs: dict[str, str] = json.loads(listed)
    return jobs


def task_nodes(settings: dict[str, str], name: str) -> set[str]:
    """The nodes that ran tasks of this name (Ray's state API, from another process)."""
    listed = python_with(
        settings,
        "import json, os, sys\n"
        "from ray.util.state import list_tasks\n"
        "tasks = list_tasks(address=os.environ['MUTUALAID_RAY_ADDRESS'], limit=10000,\n"
        "    filters=[('name', '=', sys.argv[1])], raise_on_missing_output=False)\n"
        "print(json.dumps(sorted({t.node_id for t in tasks if t.node_id})))",
        name,
    )
    nodes: list[str] = json.loads(listed)
    return set(nodes)


def python_with(settings: dict[str, str], program: str, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "-c", program, *args],
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- a debit and its kills -------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The debit's files from a clean run on a local disk and SQLite, in this process."""
    state = tmp_path_factory.mktemp("clean")
    env = {"MUTUALAID_STATE_DIR": str(state)}
    prepare(env)
    debited = run_cli(*DEBIT, "--executor", "inline", env=env, timeout=600)
    assert debited.returncode == 0, debited.stderr
    root = state / "store" / "chronic"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for pattern in ("ledgers/**/*.parquet", "snapshots/debit-*/*.parquet")
        for p in sorted(root.glob(pattern))
    }


def prepare(env: dict[str, str]) -> None:
    population = ("population", "generate", "--members", str(MEMBERS), "--shards", str(SHARDS))
    for args in (
        ("db", "upgrade"),
        (*population, "--as-of", "2026-10-01", "--executor", "inline"),
        ("settle", "lock", "--publicity-date", "2026-10-07", "--executor", "inline"),
    ):
        done = run_cli(*args, env=env, timeout=600)
        assert done.returncode == 0, done.stderr


def deployment(settings: dict[str, str], state: Path) -> dict[str, str]:
    """A deployment of its own on the profile's servers: a new database, a new S3 prefix."""
    name = f"crash_{uuid.uuid4().hex[:10]}"
    admin = create_engine(settings["MUTUALAID_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = settings["MUTUALAID_DATABASE_URL"].replace("/postgres?", f"/{name}?", 1)
    store = settings["MUTUALAID_STORE_ROOT"].replace("/store?", f"/{name}?", 1)
    return settings | {
        "MUTUALAID_DATABASE_URL": url,
        "MUTUALAID_STORE_ROOT": store,
        "MUTUALAID_STATE_DIR": str(state),
    }


def debit_workers(parent_of: Callable[[psutil.Process], bool] = lambda _: True) -> list[int]:
    """Ray workers running a debit task (Ray names a worker after its task)."""
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        title = " ".join([process.info["name"] or "", *(process.info["cmdline"] or [])])
        if "ray::debit_task" in title:
            with contextlib.suppress(psutil.Error):
                if parent_of(process):
                    found.append(process.info["pid"])
    return found


def kill_when(find: Callable[[], list[int]], killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        for pid in find():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.002)


def job_driver(submitter: int) -> list[int]:
    """The Ray Job's driver of the debit: `mutualaid settle debit` run by the job, not the
    command that submitted it; looked for once a debit task runs, so the step is mid-way."""
    if not debit_workers():
        return []
    drivers = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["pid"] != submitter and "settle" in cmdline and "debit" in cmdline:
            drivers.append(process.info["pid"])
    return drivers


# A whole node killed is what only this cluster can show, so it stays in the default run; a
# driver or a Ray worker killed mid-debit is driven in the default run on a local store and
# local Ray (tests/settlement/test_crash.py, test_ray_cluster.py), and here by `make test-all`.
@pytest.mark.parametrize(
    "kill",
    [
        pytest.param("driver", marks=pytest.mark.slow),
        pytest.param("worker", marks=pytest.mark.slow),
        "node",
    ],
)
def test_a_debit_on_the_cluster_survives_a_kill_with_the_bytes_of_a_clean_run(
    cluster: tuple[Path, dict[str, str]],
    clean_run: dict[str, bytes],
    tmp_path: Path,
    kill: str,
) -> None:
    state, settings = cluster
    profile = ClusterProfile(state)
    env = deployment(settings, tmp_path / "state")
    prepare(env)
    submitter = subprocess.Popen(
        [str(BIN / "mutualaid"), *DEBIT],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second_node = profile.second_node_raylet()
    assert second_node is not None
    targets: dict[str, Callable[[], list[int]]] = {
        "driver": lambda: job_driver(submitter.pid),
        "worker": debit_workers,
        # A debit task running on the second node: then its raylet goes, and the node with it.
        "node": lambda: (
            [second_node.pid] if debit_workers(lambda p: p.ppid() == second_node.pid) else []
        ),
    }
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_when, args=(targets[kill], killed, stop))
    killer.start()
    try:
        out, err = submitter.communicate(timeout=900)
    finally:
        stop.set()
        killer.join()
    assert killed, f"nothing to kill was seen ({kill})"
    if kill == "driver":
        # The job failed with its driver; asked again, the step runs under a new attempt id.
        assert submitter.returncode != 0, out
        again = run_cli(*DEBIT, env=env, timeout=900)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["failed_attempts"], again.stdout
    else:
        assert submitter.returncode == 0, err[-3000:]
    if kill == "node":
        profile.start_second_node()
    assert s3_files(env, "ledgers", "snapshots/debit-2026-10-07-a0") == clean_run
    check = run_cli(
        "settle", "reconcile", "--sharing-date", "2026-10-14", "--json", env=env, timeout=600
    )
    assert '"balanced": true' in check.stdout, check.stdout + check.stderr
