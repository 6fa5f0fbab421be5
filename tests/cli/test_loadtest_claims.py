"""`mutualaid loadtest claims` on the real dev server: claims driven through their whole life
by the simulated people, the ids carrying the run's id, the reports written; bad options
refused before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.temporal]


def loadtest(
    *args: str, env: dict[str, str], timeout: float = 280
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "loadtest", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_a_short_run_takes_every_claim_to_its_end_and_reports_it(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = loadtest(
        "claims", "--claims", "20", "--concurrency", "10", "--workers", "1",
        "--run-id", "t1", "--out", str(out), "--drain", "90s", env=stack_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["run_id"] == "t1"
    assert summary["claims completed"] == 20
    assert summary["claims errors"] == 0
    report = json.loads((out / "report.json").read_text())
    (phase,) = report["phases"]
    assert phase["errors"] == {} and phase["open_at_end"] == 0
    assert sum(phase["outcomes"].values()) == 20
    assert "Paid" in phase["outcomes"]
    steps = {x["step"]: x for x in phase["latencies"]}
    assert steps["end_to_end"]["count"] == 20
    assert 0 < steps["end_to_end"]["p50_s"] <= steps["end_to_end"]["max_s"]
    # Program days are the same durations on the run's clock (0.2 s a day).
    assert steps["end_to_end"]["p50_days"] == pytest.approx(steps["end_to_end"]["p50_s"] * 5)
    assert {"review", "investigation", "decision", "publicised", "funded"} <= set(steps)
    assert sum(c for _, c in phase["completed_per_second"]) == 20
    assert report["longest_history"]["workflow_id"].startswith("claim-lt-t1-")
    assert report["claim_shape"]["updates"] == 3
    assert phase["processes"]["workers"]["rss_peak_mib"] > 0
    html = (out / "report.html").read_text()
    assert "claim-lt-t1-" in html and "end_to_end" in html
    # Every workflow of the run carries its id: cleaning the run finds and deletes them all.
    cleaned = loadtest("clean", "t1", env=stack_env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.strip().endswith("20 deleted")


def test_a_period_takes_the_approved_claims_from_lock_to_payout(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = loadtest(
        "periods", "--cases", "12", "--concurrency", "6", "--workers", "1",
        "--seconds-per-day", "1", "--run-id", "p1", "--out", str(out), env=stack_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    period = json.loads((out / "report.json").read_text())["period"]
    assert period["cases_cleared"] == 12 and period["payouts_made"] == 12, period
    assert period["payouts_missing"] == 0 and period["balanced"], period
    steps = {s["step"]: s for s in period["steps"]}
    # Three messages to 12 claims: one activity each, not 36 signals in the history.
    assert steps["periods.tell_claims"]["calls"] == 3
    assert period["history_events"] < 200
    assert "The period" in (out / "report.html").read_text()
    cleaned = loadtest("clean", "p1", env=stack_env)
    assert cleaned.returncode == 0, cleaned.stderr
    # The claims and the run's period.
    assert cleaned.stdout.strip().endswith("13 deleted")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--rate", "-3", "--claims", "5"], "rate=-3.0"),
        (["--rate", "1", "--duration", "ten minutes"], "duration='ten minutes'"),
        (["--rate", "1", "--concurrency", "2", "--claims", "5"], "rate=1.0"),
        (["--concurrency", "2"], "duration=None"),
        (["--concurrency", "2", "--claims", "5", "--workers", "0"], "workers=0"),
        (["--concurrency", "2", "--claims", "5", "--scenario", "nope"], "scenario='nope'"),
    ],
)
def test_bad_options_are_refused_in_one_line_and_start_nothing(
    stack_env: dict[str, str], options: list[str], field: str
) -> None:
    result = loadtest("claims", *options, env=stack_env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), result.stderr
    assert not Path(stack_env["MUTUALAID_STATE_DIR"]).exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_minute_of_open_loop_arrivals_beside_the_ceiling(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = loadtest(
        "claims", "--rate", "2", "--duration", "60s", "--workers", "2", "--ceiling",
        "--run-id", "slow1", "--out", str(out), env=stack_env, timeout=800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [p["name"] for p in report["phases"]] == ["ceiling", "claims"]
    ceiling, claims = report["phases"]
    assert ceiling["errors"] == {} and claims["errors"] == {}
    assert claims["completed"] == claims["started"] >= 60
    assert report["summary"]["claims / ceiling"] > 0
