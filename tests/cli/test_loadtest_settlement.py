"""`loadtest settlement` on local Ray at small sizes: every step of a period run, timed and
its money checked, reported as JSON and HTML with the charts of a sweep; a population left
in the work folder is reused; bad options refused in one line before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["lock", "debit", "retry 1", "retry 2", "retry 3", "retry 4", "retry 5"]


def loadtest_settlement(
    *args: str, state: Path, timeout: float = 280
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    env["MUTUALAID_STATE_DIR"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "loadtest", "settlement", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.timeout(300)
def test_a_sweep_runs_every_step_checks_the_money_and_charts_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = loadtest_settlement("--sweep", "20k,50k", "--shards", "2", state=state)
    assert result.returncode == 0, result.stderr[-3000:]
    out = state / "loadtest" / "settlement" / "report"
    summary = json.loads(result.stdout)
    assert summary["report"] == str(out)
    assert [s["members"] for s in summary["sizes"]] == [20_000, 50_000]
    assert all(s["money_ok"] for s in summary["sizes"])
    report = json.loads((out / "report.json").read_text())
    for size in report["sizes"]:
        assert size["population"] == "generated" and size["shards"] == 2
        assert [s["step"] for s in size["steps"]] == STEPS
        assert all(s["seconds"] > 0 and s["members_per_s"] > 0 for s in size["steps"])
        assert all(
            s["peak_rss_mib_with_ray"] >= s["peak_rss_mib_driver"] > 0 for s in size["steps"]
        )
        # Every step adds files; a retry writes the owing families' rows, not the shards.
        written = {s["step"]: s["bytes_written"] for s in size["steps"]}
        assert all(b > 0 for b in written.values()), written
        assert written["retry 1"] * 3 < written["debit"], written
        # The last retry removes the members still unpaid, and only it.
        assert [s["removed"] for s in size["steps"][1:-1]] == [0] * 5
        assert size["steps"][-1]["removed"] > 0
        money = size["money"]
        assert money["charges_settled"] and money["ledger_paid_matches"] and money["balanced"]
        assert money["ok"] and money["problems"] == []
        assert money["share_fen"] == 470
        assert money["billed_fen"] == money["share_fen"] * size["roster"]
        assert money["paid_fen"] + money["unpaid_fen"] + money["subsidy_fen"] == money["billed_fen"]
        assert money["ledger_paid_fen"] == sum(s["paid_fen"] or 0 for s in size["steps"])
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2
    assert "N 20,000" in page and "N 50,000" in page and "retry 5" in page

    # The population left in the work folder is used again.
    again = loadtest_settlement(
        "--members", "20k", "--shards", "2", "--out", str(tmp_path / "again"), state=state
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (size,) = json.loads((tmp_path / "again" / "report.json").read_text())["sizes"]
    assert size["population"] == "reused" and size["generate_s"] is None
    assert size["money"]["ok"]
    # One size has nothing to chart against N.
    assert "<svg" not in (tmp_path / "again" / "report.html").read_text()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--sweep", "20k,1x"], "sweep='1x'"),
        (["--sweep", "20k,500"], "sweep='500'"),
        (["--sweep", "20k,20000"], "sweep='20000,20000'"),
        (["--members", "999"], "members='999'"),
        (["--members", "20k", "--sweep", "50k"], "sweep='50k'"),
        ([], "members=''"),
        (["--members", "20k", "--shards", "0"], "shards=0"),
        (["--members", "20k", "--seed", "-1"], "seed=-1"),
    ],
)
def test_bad_options_are_refused_in_one_line_and_write_nothing(
    tmp_path: Path, options: list[str], field: str
) -> None:
    state = tmp_path / "state"
    result = loadtest_settlement(*options, state=state, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), result.stderr
    assert result.stdout == ""
    assert not state.exists()


def test_a_work_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    result = loadtest_settlement(
        "--members", "20k", "--workdir", str(taken), state=tmp_path / "state", timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: workdir='{taken}': is not a folder"
    assert taken.read_text() == "not a folder"
