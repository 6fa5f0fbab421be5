"""`mutualaid schedules apply` on a real dev server: 00:00 Shanghai on the 7th and 21st,
idempotent, one per plan; a backfill before any apply is refused in one line."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.temporal import DATA_CONVERTER
from tests.helpers import BIN, free_port, run_cli

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(180)]


async def test_schedules_are_created_once_then_updated_in_place() -> None:
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        ip="127.0.0.1",
        port=port,
        ui=False,
        data_converter=DATA_CONVERTER,
    )
    try:
        cli_env = {"MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
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
