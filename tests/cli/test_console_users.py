"""`mutualaid users ...` and `mutualaid web` as an operator runs them: a token is shown once
and only its hash is stored; a new token replaces the old; a revoked user is the public;
bad input is one line naming the field, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from infra.db import make_engine
from infra.models import ConsoleUserRow
from tests.helpers import BIN, free_port, run_cli

pytestmark = pytest.mark.timeout(180)


def added(env: dict[str, str], *args: str) -> dict[str, object]:
    result = run_cli("users", "add", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_users_are_added_with_a_token_shown_once(tmp_path: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path)}
    li = added(env, "--name", "li", "--role", "reviewer")
    member = added(env, "--name", "m7", "--role", "member", "--member", "7")
    token = str(li["token"])
    assert token.startswith("ma_") and len(token) > 40
    engine = make_engine(f"sqlite:///{tmp_path / 'mutualaid.db'}")
    with engine.connect() as db:
        stored = db.execute(select(ConsoleUserRow.name, ConsoleUserRow.token_sha256)).all()
    engine.dispose()
    assert {name for name, _ in stored} == {"li", "m7"}
    assert all(token not in digest and str(member["token"]) not in digest for _, digest in stored)
    # The reviewer is registered staff too: its steps pass the claims' registry check.
    actors = json.loads(run_cli("actors", "list", "--json", env=env).stdout)
    assert {"name": "li", "role": "reviewer"}.items() <= actors[0].items()
    listed = run_cli("users", "list", "--json", env=env)
    assert token not in listed.stdout and "token" not in json.loads(listed.stdout)[0]

    for args, code, line in (
        (("--name", "x", "--role", "king"), 2, "error: role='king': must be one of"),
        (("--name", "x", "--role", "member"), 2, "error: member=None: is needed"),
        (("--name", "li", "--role", "reviewer"), 3, "error: name='li': is already"),
        (("--name", "y", "--role", "member", "--member", "-4"), 2, "error: member=-4"),
    ):
        result = run_cli("users", "add", *args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith(line) and result.stderr.count("\n") == 1, result.stderr
    names = [u["name"] for u in json.loads(run_cli("users", "list", "--json", env=env).stdout)]
    assert names == ["li", "m7"]
    assert run_cli("users", "revoke", "--name", "nobody", env=env).returncode == 2


def test_the_console_serves_signs_in_and_forgets_a_revoked_token(tmp_path: Path) -> None:
    port = free_port()
    env = {"MUTUALAID_STATE_DIR": str(tmp_path), "MUTUALAID_CONSOLE_PORT": str(port)}
    token = str(added(env, "--name", "op", "--role", "operator")["token"])
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")} | env
    log = (tmp_path / "console.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "mutualaid"), "web"], env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "no console"
            time.sleep(0.2)
        with httpx.Client(base_url=url) as web:
            signed = web.post(
                "/login", data={"token": token, "next": "/periods"}, headers={"Origin": url}
            )
            assert signed.status_code == 303 and signed.headers["location"] == "/periods"
            assert web.get("/api/periods").status_code == 200
            wrong = httpx.post(f"{url}/login", data={"token": "ma_guess"}, headers={"Origin": url})
            assert wrong.status_code == 401
            renewed = run_cli("users", "token", "--name", "op", "--json", env=env)
            assert renewed.returncode == 0
            assert web.get("/api/periods").status_code == 401  # the old token stopped working
            new = json.loads(renewed.stdout)["token"]
            assert run_cli("users", "revoke", "--name", "op", env=env).returncode == 0
            revoked = web.get("/api/periods", headers={"Authorization": f"Bearer {new}"})
            assert revoked.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    logged = (tmp_path / "console.log").read_text()
    assert f"console: {url}" in logged and "mutualaid.console.access POST /login 303" in logged
    assert token not in logged and new not in logged


def test_a_bad_port_is_one_line(tmp_path: Path) -> None:
    result = run_cli("web", "--port", "70000", env={"MUTUALAID_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr == "error: port=70000: must be a TCP port (1-65535)\n"
