"""The README's main job end to end on the real Temporal dev server with a compressed clock:
a small population, claims worked by the simulated team, two periods settled and reported."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from mutualaid.calendar import publicity_days_between
from tests.helpers import run_cli

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(900)]


def test_the_demo_settles_two_periods_whose_reports_balance(stack_env: dict[str, str]) -> None:
    result = run_cli(
        "demo", "--members", "4000", "--seconds-per-day", "1", "--json", env=stack_env, timeout=800
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout)
    assert [r["period"] for r in reports] == sorted(r["period"] for r in reports)
    assert len(reports) == 2
    assert all(r["balanced"] for r in reports)
    assert sum(int(r["payouts made"].split()[0]) for r in reports) >= 1
    assert all(r["payouts missing"] == 0 for r in reports)
    assert "claims by state:" in result.stderr
    follow_a_claim_in_the_console(stack_env, result.stderr, [r["period"] for r in reports])
    # The periods are in SQL with their reports, as `periods show` prints them.
    shown = run_cli("periods", "show", reports[0]["period"], "--json", env=stack_env)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["state"] == "closed"
    assert detail["collected_fen"] + detail["unpaid_fen"] == detail["billed_fen"]

    # A second run continues from where the first left: the next two periods.
    again = run_cli(
        "demo",
        "--members",
        "4000",
        "--seconds-per-day",
        "1",
        "--periods",
        "1",
        "--json",
        env=stack_env,
        timeout=800,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    later = json.loads(again.stdout)
    assert later[0]["period"] > reports[-1]["period"]
    assert later[0]["balanced"]
    # The chain never skips a publicity day: one the demo was not running for is cancelled on
    # the record, and every day between the two runs is accounted for.
    listed = json.loads(run_cli("periods", "list", "--json", env=stack_env).stdout)
    states = {p["period"]: p["state"] for p in listed}
    assert states[later[0]["period"]] == "closed"
    assert set(states.values()) <= {"closed", "cancelled"}
    days = sorted(date.fromisoformat(p.removeprefix("period-chronic-")) for p in states)
    assert days == publicity_days_between(days[0], days[-1])


def follow_a_claim_in_the_console(env: dict[str, str], said: str, periods: list[str]) -> None:
    """The console the demo printed answers, and an operator signed in with the demo's token
    follows a paid claim from the pipeline to its payout, and sees the periods' money."""
    url = f"http://127.0.0.1:{env['MUTUALAID_CONSOLE_PORT']}"
    assert f"Console: {url}" in said
    tokens_path = Path(env["MUTUALAID_STATE_DIR"]) / "console-tokens.json"
    assert tokens_path.stat().st_mode & 0o077 == 0
    operator = json.loads(tokens_path.read_text())["demo-operator"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator}"}) as web:
        counts = web.get("/api/claims", params={"state": "Paid"}).json()
        assert counts["total"] >= 1
        paid = counts["claims"][0]
        claim = web.get(f"/api/claims/{paid['claim']}").json()
        events = [e["event"] for e in claim["timeline"]]
        assert events[0] == "reported" and events[-1] == "paid"
        assert claim["payout"]["state"] == "paid"
        assert claim["period"] in periods
        listed = {p["period"]: p for p in web.get("/api/periods").json()["periods"]}
        assert all(listed[p]["balanced"] and listed[p]["stage"] == "closed" for p in periods)
        chart = web.get("/periods").text
        assert "<svg" in chart and "Share per period" in chart
