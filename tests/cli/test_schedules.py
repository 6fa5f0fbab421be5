"""`mutualaid schedules apply` on a real dev server: 00:00 Shanghai on the 7th and 21st,
idempotent, one per plan; a backfill before any apply is refused in one line. On a compressed
deployment clock the Schedule fires every program day and the period it starts agrees on the
program day with a claim reported from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import messages.claims as claim_msg
from infra.config import Settings
from infra.temporal import DATA_CONVERTER
from mutualaid.calendar import program_date
from tests.helpers import BIN, eventually, free_port, run_cli
from workers.stack import deployment_clock
from workflows.search_attributes import ALL

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(180)]


async def test_schedules_are_created_once_then_updated_in_place(tmp_path: Path) -> None:
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        ip="127.0.0.1",
        port=port,
        ui=False,
        data_converter=DATA_CONVERTER,
    )
    try:
        cli_env = {
            "MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "MUTUALAID_STATE_DIR": str(tmp_path),
        }
        # Before any Schedule exists, a backfill is refused in one line (no traceback).
        early = run_cli(
            "schedules", "backfill", "--from", "2026-12-07", "--to", "2026-12-21", env=cli_env
        )
        assert early.returncode == 3, early.stderr
        assert early.stderr == (
            "error: plan='chronic': has no Schedule periods-chronic yet; run `mutualaid "
            "schedules apply` first\n"
        )
        assert early.stdout == ""
        first = run_cli("schedules", "apply", "--json", env=cli_env)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == [
            {"plan": "chronic", "schedule": "periods-chronic", "created": True},
            {"plan": "major", "schedule": "periods-major", "created": True},
        ]
        again = run_cli("schedules", "apply", "--json", env=cli_env)
        assert [row["created"] for row in json.loads(again.stdout)] == [False, False]

        client: Client = env.client
        described = await client.get_schedule_handle("periods-chronic").describe()
        spec = described.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        calendar = spec.calendars[0]
        assert [r.start for r in calendar.day_of_month] == [7, 21]
        assert [r.start for r in calendar.hour] == [0]
        assert described.schedule.policy.catchup_window.days == 7
        action = described.schedule.action
        assert action.workflow == "PeriodTrigger"  # type: ignore[attr-defined]

        bad = run_cli(
            "schedules", "backfill", "--from", "2026-12-21", "--to", "2026-12-07", env=cli_env
        )
        assert bad.returncode == 2
        assert "to='2026-12-07': is before from 2026-12-21" in bad.stderr
    finally:
        await env.shutdown()


def test_periods_show_refuses_a_malformed_id() -> None:
    result = run_cli("periods", "show", "chronic-2026-12-07")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: period='chronic-2026-12-07': is not like period-chronic-2026-12-07"
    )


async def test_a_scheduled_period_and_a_claim_from_the_command_line_share_one_clock(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        ip="127.0.0.1",
        port=port,
        ui=False,
        search_attributes=ALL,
        data_converter=DATA_CONVERTER,
    )
    env = {
        "MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "MUTUALAID_STATE_DIR": str(tmp_path),
        "MUTUALAID_TASK_QUEUE": "one-clock",
    }
    worker: subprocess.Popen[str] | None = None
    try:
        # The deployment is set up at 2 s a program day; nothing after names the speed.
        upgraded = run_cli("db", "upgrade", env=env | {"MUTUALAID_SECONDS_PER_DAY": "2"})
        assert upgraded.returncode == 0, upgraded.stderr
        clock = deployment_clock(Settings(state_dir=tmp_path))
        joined = run_cli(
            "claims", "standin", "join", "--member", "7", "--birth-date", "1990-05-01",
            "--joined", "2025-01-01", env=env,
        )  # fmt: skip
        assert joined.returncode == 0, joined.stderr
        worker = subprocess.Popen(
            [str(BIN / "mutualaid"), "worker"],
            env={k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")} | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("worker ready")
        # Reported a while after the set-up: on its own clock the claim would start at day 0.
        await asyncio.sleep(3)
        submitted = run_cli(
            "claims", "submit", "--member", "7", "--diagnosed", "2026-10-01", "--hospital",
            "Ruijin Hospital, ward 5", "--document", "diagnosis:d.pdf", "--document",
            "medical_record:r.pdf", "--document", "identity:id.jpg", "--json", env=env,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        claim_id = json.loads(submitted.stdout)["claim"]
        applied = run_cli("schedules", "apply", "--json", env=env)
        assert applied.returncode == 0, applied.stderr

        client: Client = server.client
        described = await client.get_schedule_handle("periods-chronic").describe()
        interval = described.schedule.spec.intervals[0]
        assert interval.every == timedelta(seconds=2)  # one program day
        # The first 7th or 21st on the deployment's clock is at most 15 program days away.
        period_id = await eventually(
            lambda: _first_period(client), timeout=60, interval=0.5, what="a scheduled period"
        )
        claim_input = await _input_of(client, claim_msg.workflow_id(claim_id))
        period_input = await _input_of(client, period_id)
        recorded = (str(clock.seconds_per_day), clock.origin_real, clock.origin_program)
        for started in (claim_input, period_input):
            assert (
                started["seconds_per_day"],
                datetime.fromisoformat(started["clock_origin"]),
                datetime.fromisoformat(started["program_origin"]),
            ) == recorded
        # The day the period publicises is the program date its start had on that clock (the
        # trigger fires at 00:00; starting the period takes under a program day).
        period_start = (await client.get_workflow_handle(period_id).describe()).start_time
        publicity = date.fromisoformat(period_input["publicity_date"])
        started_on = program_date(clock.program_now(period_start))
        assert started_on in (publicity, publicity + timedelta(days=1))
        # And the claim's report is dated on the same clock, not its own start.
        shown = run_cli("claims", "show", claim_id, "--json", env=env)
        reported_at = datetime.fromisoformat(json.loads(shown.stdout)["timeline"][0]["at"])
        claim_start = (await client.get_workflow_handle(
            claim_msg.workflow_id(claim_id)
        ).describe()).start_time  # fmt: skip
        assert abs(reported_at - clock.program_now(claim_start)) < timedelta(days=2)
    finally:
        if worker is not None:
            worker.terminate()
            worker.communicate(timeout=30)
        await server.shutdown()


async def _first_period(client: Client) -> str:
    async for execution in client.list_workflows("WorkflowType = 'Period'"):
        return execution.id
    raise AssertionError("no period started yet")


async def _input_of(client: Client, workflow_id: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    payload = started.input.payloads[0]
    decoded: dict[str, Any] = json.loads(payload.data)
    return decoded
