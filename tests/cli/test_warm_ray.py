"""`mutualaid dev up --warm-ray`: one local Ray head that every command of the state folder
joins instead of starting and stopping Ray itself; `dev down` stops it; without it (or with a
stale record of it) commands start their own Ray as before."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infra.devstack import port_open
from infra.warmray import WarmRay
from tests.helpers import run_cli

pytestmark = pytest.mark.temporal

GENERATE = ("population", "generate", "--members", "3000", "--shards", "2", "--as-of",
            "2026-10-01", "--json")  # fmt: skip
LOCK = ("settle", "lock", "--publicity-date", "2026-10-07", "--as-of",
        "2026-10-07T00:00:00+00:00", "--json")  # fmt: skip


def drivers(ray: WarmRay) -> set[str]:
    """The drivers that joined the warm head: Ray logs each in the head's session."""
    logs = Path(ray.temp_dir) / "session_latest" / "logs"
    return {p.name for p in logs.glob("python-core-driver-*")}


@pytest.mark.timeout(300)
def test_commands_join_the_warm_ray_and_down_stops_it(stack_env: dict[str, str]) -> None:
    up = run_cli("dev", "up", "--warm-ray", "--json", env=stack_env)
    assert up.returncode == 0, up.stderr
    address = json.loads(up.stdout)["warm_ray"]
    assert address and address.startswith("127.0.0.1:")
    warm = WarmRay(Path(stack_env["MUTUALAID_STATE_DIR"]))
    assert oct(Path(warm.record).stat().st_mode & 0o777) == "0o600"  # it holds the token
    # A second `up` finds it running and starts nothing.
    again = run_cli("dev", "up", "--warm-ray", "--json", env=stack_env)
    assert json.loads(again.stdout)["warm_ray"] == address
    status = run_cli("dev", "status", "--json", env=stack_env)
    assert json.loads(status.stdout)["warm_ray"] == address

    for command in (GENERATE, LOCK):
        before = drivers(warm)
        result = run_cli(*command, env=stack_env)
        assert result.returncode == 0, result.stderr
        assert len(drivers(warm) - before) == 1, command  # it ran on the warm head
    assert json.loads(result.stdout)["members"] > 2_500

    # A process that imported Ray before it knew the head's token cannot join (Ray read its
    # authentication mode on import): it is told nothing to join and starts its own Ray.
    import ray

    assert "ray" in sys.modules and ray is sys.modules["ray"]
    assert warm.join() is None

    down = run_cli("dev", "down", env=stack_env)
    assert down.returncode == 0
    host, _, port = address.rpartition(":")
    assert not port_open(host, int(port))
    assert not warm.record.exists() and not Path(warm.temp_dir).exists()
    # Without it a command starts its own Ray again.
    status = run_cli("dev", "status", "--json", env=stack_env)
    assert json.loads(status.stdout)["warm_ray"] is None
    debit = run_cli("settle", "debit", "--sharing-date", "2026-10-14", "--aid-fen", "3000000",
                    "--as-of", "2026-10-14T00:00:00+00:00", "--json", env=stack_env)  # fmt: skip
    assert debit.returncode == 0, debit.stderr


def test_a_stale_record_is_not_joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = WarmRay(tmp_path)
    ray.root.mkdir(parents=True)
    ray.record.write_text(json.dumps({"address": "127.0.0.1:9", "token": "x", "cpus": 2}))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    assert ray.join() is None
    assert "RAY_AUTH_TOKEN" not in __import__("os").environ
    assert not ray.status().running


def test_warm_ray_is_for_the_local_profile(stack_env: dict[str, str]) -> None:
    result = run_cli("dev", "up", "--warm-ray", "--profile", "cluster", env=stack_env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: warm_ray=True: is for the local profile")
