"""`mutualaid claims ...` and `mutualaid worker` as an operator runs them.

Bad input stops with one line naming the field and the value, exit 2, and no workflow
started (checked against a running server). The slow test drives a claim from the command
line to paid on the real dev server, with the stand-in for the period's signals, and lists
it through visibility.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from infra.db import make_engine
from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.errors import InputError
from tests.helpers import BIN, eventually_sync, free_port, run_cli
from tests.workflows.claim_support import (
    World,
    migrated_sqlite,
    register_search_attributes,
    wait_until,
)
from workers.claims_intake import documents
from workers.claims_search import claims_query
from workflows.search_attributes import ALL

pytestmark = pytest.mark.temporal


@pytest.fixture(scope="module")
def claims_cli_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Settings for a migrated SQLite database with one member (7) who joined in 2025."""
    state = tmp_path_factory.mktemp("cli-state")
    engine = migrated_sqlite(str(state / "mutualaid.db"))
    engine.dispose()
    env = {"MUTUALAID_STATE_DIR": str(state)}
    joined = run_cli(
        "claims",
        "standin",
        "join",
        "--member",
        "7",
        "--birth-date",
        "1990-05-01",
        "--joined",
        "2025-01-01",
        env=env,
    )
    assert joined.returncode == 0, joined.stderr
    return env


SUBMIT = ("claims", "submit", "--claim-id", "cli-bad", "--hospital", "Ruijin Hospital")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--plan", "nope", "--member", "7", "--diagnosed", "2026-10-01"),
            "error: plan='nope': is not a known plan (known: chronic, major)",
        ),
        (
            ("--member", "8", "--diagnosed", "2026-10-01"),
            "error: member=8: is not a member of plan chronic",
        ),
        (
            ("--member", "7", "--diagnosed", "2026-02-30"),
            "error: diagnosed='2026-02-30': is not a real date in the form YYYY-MM-DD",
        ),
        (
            ("--member", "7", "--diagnosed", "2099-01-01"),
            "error: diagnosed='2099-01-01': is in the future (today is ",
        ),
        (
            ("--member", "7", "--diagnosed", "2026-10-01", "--amount", "-5"),
            "error: amount='-5': must not be negative",
        ),
        (
            ("--member", "7", "--diagnosed", "2026-10-01", "--amount", "9999999999"),
            "error: amount='9999999999.00': exceeds the largest benefit of plan chronic "
            "(300000.00)",
        ),
        (
            (
                "--member",
                "7",
                "--diagnosed",
                "2026-10-01",
                *[arg for i in range(51) for arg in ("--document", f"other:scan-{i}.jpg")],
            ),
            "error: document='51 documents': at most 50",
        ),
    ],
    ids=[
        "unknown-plan",
        "unknown-member",
        "malformed-date",
        "future-diagnosis",
        "negative-amount",
        "absurd-amount",
        "oversized-documents",
    ],
)
async def test_bad_input_is_one_line_exit_2_and_no_workflow_starts(
    claims_cli_env: dict[str, str],
    time_skipping_env: WorkflowEnvironment,
    args: tuple[str, ...],
    expected: str,
) -> None:
    address = time_skipping_env.client.service_client.config.target_host
    env = {**claims_cli_env, "MUTUALAID_TEMPORAL_ADDRESS": address}
    result = await asyncio.to_thread(run_cli, *SUBMIT, *args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1
    with pytest.raises(RPCError) as missing:
        await time_skipping_env.client.get_workflow_handle("claim-cli-bad").describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


def test_documents_are_kind_and_reference() -> None:
    assert documents(["diagnosis: d.pdf"]) == [
        Document(kind=DocumentKind.DIAGNOSIS, reference="d.pdf")
    ]
    with pytest.raises(InputError, match=r"document='selfie.jpg': must be KIND:REFERENCE"):
        documents(["selfie.jpg"])
    with pytest.raises(InputError, match=r"document='x-ray:a.png'"):
        documents(["x-ray:a.png"])


def test_a_bad_list_filter_is_refused_before_any_query() -> None:
    result = run_cli("claims", "list", "--state", "Lost")
    assert result.returncode == 2
    assert result.stderr.startswith("error: state='Lost': is not a claim state (Reported, ")
    assert claims_query(plan_id="chronic", period="period-chronic-2026-12-07", overdue=False) == (
        "WorkflowType = 'Claim' AND PlanId = 'chronic' "
        "AND PeriodId = 'period-chronic-2026-12-07' AND Overdue = false"
    )
    with pytest.raises(InputError, match="period='3'"):
        claims_query(period="3")


def test_a_claim_nobody_reported_is_named_as_such(
    claims_cli_env: dict[str, str], time_skipping_env: WorkflowEnvironment
) -> None:
    address = time_skipping_env.client.service_client.config.target_host
    result = run_cli(
        "claims",
        "show",
        "never-reported",
        env={**claims_cli_env, "MUTUALAID_TEMPORAL_ADDRESS": address},
    )
    assert (result.returncode, result.stderr) == (
        2,
        "error: claim='never-reported': no such claim\n",
    )


async def test_submit_show_and_review_from_the_command_line(
    claims_cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The small version of the slow test below: a worker in this process, the commands in
    subprocesses, on a time-skipping server of its own."""
    server = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(server.client)
        engine = make_engine(f"sqlite:///{claims_cli_env['MUTUALAID_STATE_DIR']}/mutualaid.db")
        world = World(env=server, engine=engine, store_root=str(tmp_path / "store"))
        env = {
            **claims_cli_env,
            "MUTUALAID_TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
            "MUTUALAID_TASK_QUEUE": world.task_queue,
        }

        async def command(*args: str) -> Any:
            return await asyncio.to_thread(cli, env, *args)

        async with world.worker():
            reported = await command(
                "claims",
                "submit",
                "--member",
                "7",
                "--diagnosed",
                "2026-10-01",
                "--hospital",
                "Ruijin Hospital",
                "--document",
                "diagnosis:d.pdf",
                "--document",
                "medical_record:r.pdf",
                "--document",
                "identity:id.jpg",
            )
            handle = server.client.get_workflow_handle(str(reported["workflow"]))
            await wait_until(handle, lambda s: s.eligible is not None)
            shown = await command("claims", "show", str(reported["claim"]))
            reviewed = await command(
                "claims",
                "review",
                str(reported["claim"]),
                "--reviewer",
                "li",
                "--outcome",
                "pass",
            )
        engine.dispose()
    finally:
        await server.shutdown()
    assert reported["claim"] == "chronic-7-20261001-36c881ba"
    assert shown["status"]["state"] == "InReview"
    assert shown["status"]["benefit_fen"] == 30_000_000
    assert [entry["event"] for entry in shown["timeline"]] == ["reported", "materials_complete"]
    assert reviewed["state"] == "Investigating"


# ---- the whole road on the dev server --------------------------------------------------


@pytest.fixture
async def dev_server() -> AsyncIterator[str]:
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        ip="127.0.0.1",
        port=port,
        ui=False,
        search_attributes=ALL,
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await env.shutdown()


def cli(env: dict[str, str], *args: str) -> Any:
    """Run a command with --json; it must succeed."""
    result = run_cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def state_of(env: dict[str, str], claim: str) -> str:
    return str(cli(env, "claims", "show", claim)["status"]["state"])


def until(check: Callable[[], bool], *, what: str) -> None:
    """Commands run as processes, asked again every 0.2 s for up to 20 s."""
    eventually_sync(check, timeout=20, interval=0.2, what=what)


@pytest.mark.timeout(240)
def test_a_claim_is_driven_to_paid_from_the_command_line(dev_server: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        "MUTUALAID_STATE_DIR": str(state),
        "MUTUALAID_TEMPORAL_ADDRESS": dev_server,
        "MUTUALAID_TASK_QUEUE": "claims-cli",
        # A program day lasts a tenth of a second: the objection window passes in 0.3 s.
        "MUTUALAID_SECONDS_PER_DAY": "0.1",
    }
    assert run_cli("db", "upgrade", env=env).returncode == 0
    # Staff are registered before they act: an unknown reviewer is refused.
    for name, role in (("li", "reviewer"), ("wang", "investigator")):
        added = run_cli("actors", "add", "--name", name, "--role", role, env=env)
        assert added.returncode == 0, added.stderr
    for member in ("7", "8"):
        joined = run_cli(
            "claims",
            "standin",
            "join",
            "--member",
            member,
            "--birth-date",
            "1990-05-01",
            "--joined",
            "2025-01-01",
            env=env,
        )
        assert joined.returncode == 0, joined.stderr
    worker = subprocess.Popen(
        [str(BIN / "mutualaid"), "worker"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("worker ready")
        reported = cli(
            env,
            "claims",
            "submit",
            "--member",
            "7",
            "--diagnosed",
            "2026-10-01",
            "--hospital",
            "Ruijin Hospital, ward 5",
            "--document",
            "diagnosis:d.pdf",
            "--document",
            "medical_record:r.pdf",
            "--document",
            "identity:id.jpg",
        )
        claim = str(reported["claim"])
        until(lambda: state_of(env, claim) == "InReview", what="the claim in review")
        wrong = run_cli("claims", "appeal", claim, env=env)
        assert (wrong.returncode, wrong.stderr) == (
            3,  # refused by a rule of the claim
            f"error: claim='{claim}': appeal refused: cannot appeal a claim that is InReview\n",
        )
        cli(env, "claims", "review", claim, "--reviewer", "li", "--outcome", "pass")
        cli(
            env,
            "claims",
            "investigate",
            claim,
            "--investigator",
            "wang",
            "--summary",
            "records match",
        )
        decided = cli(env, "claims", "decide", claim, "--reviewer", "li", "--approve")
        assert decided["state"] == "AwaitingPublicity"
        assert run_cli("claims", "standin", "publicise", claim, env=env).returncode == 0
        until(
            lambda: any(
                row["claim"] == claim
                for row in cli(env, "claims", "list", "--state", "Publicised", "--plan", "chronic")
            ),
            what="the claim listed as Publicised",
        )
        assert run_cli("claims", "standin", "clear", claim, env=env).returncode == 0
        until(lambda: state_of(env, claim) == "AwaitingFunds", what="the claim awaiting funds")
        assert run_cli("claims", "standin", "fund", claim, env=env).returncode == 0
        until(lambda: state_of(env, claim) == "Paid", what="the claim paid")
        shown = cli(env, "claims", "show", claim)
        assert shown["status"]["payout_reference"] == f"rail-{claim}"
        listed = cli(env, "claims", "list", "--state", "Paid")
        assert [(r["claim"], r["benefit"], r["member"]) for r in listed] == [
            (claim, "300000.00", "7")
        ]
        table = run_cli("claims", "show", claim, env=env)
        assert table.returncode == 0 and "Timeline" in table.stdout and "paid" in table.stdout
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        if worker.stdout is not None:
            worker.stdout.close()
    assert worker.returncode == 0
