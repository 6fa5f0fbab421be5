"""Outages and kills in the middle of a period, on the real Temporal dev server with the
demo's compressed clock (2 real seconds a program day):

1. the Temporal server goes away for 15 seconds while the first period runs: the demo and its
   in-process worker ride it out and carry on;
2. later, the demo (with its worker) is killed with SIGKILL and the server stopped at the
   same moment; both are started again and the demo resumes its run from what SQL and
   Temporal say.

The period and the one after it finish balanced, each ran once, and no claim is paid twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from infra.models import ClaimEventRow, PayoutRow, PeriodRow
from tests.helpers import BIN, eventually_sync, run_cli

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(420)]

DEMO = ("demo", "--members", "4000", "--seconds-per-day", "2", "--json")


class Demo:
    """`mutualaid demo` as a process, its output kept in files (a pipe could fill up)."""

    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
        full_env.update(env)
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [str(BIN / "mutualaid"), *DEMO], env=full_env, stdout=out, stderr=err
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def said(self) -> str:
        return self.err.read_text(errors="replace")

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)


@pytest.fixture
def database(stack_env: dict[str, str]) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{stack_env['MUTUALAID_STATE_DIR']}/mutualaid.db")
    yield engine
    engine.dispose()


def periods(engine: Engine) -> list[PeriodRow]:
    try:
        with Session(engine) as session:
            return list(session.scalars(select(PeriodRow).order_by(PeriodRow.publicity_date)))
    except Exception:  # not migrated yet, or busy: nothing to see yet
        return []


def wait_for(what: str, condition: Callable[[], bool], demo: Demo, timeout: float) -> None:
    def seen() -> bool:
        if condition():
            return True
        if not demo.alive():  # it will never happen: fail now, not at the timeout
            pytest.fail(f"the demo exited while waiting for {what}:\n{demo.said()[-3000:]}")
        raise AssertionError(f"no {what}; the demo said:\n{demo.said()[-3000:]}")

    eventually_sync(seen, timeout=timeout, interval=0.5, what=what)


def test_a_period_rides_out_an_outage_and_a_kill_and_the_next_one_balances(
    stack_env: dict[str, str], database: Engine, tmp_path: Path
) -> None:
    # The deployment runs on the demo's clock from its first set-up: `db upgrade` records it.
    stack_env = {**stack_env, "MUTUALAID_SECONDS_PER_DAY": "2"}
    for command in (("dev", "up"), ("db", "upgrade")):
        done = run_cli(*command, env=stack_env)
        assert done.returncode == 0, done.stderr
    for name, role in (("demo-reviewer", "reviewer"), ("demo-firm", "investigator")):
        added = run_cli("actors", "add", "--name", name, "--role", role, env=stack_env)
        assert added.returncode == 0, added.stderr
    first = Demo(stack_env, tmp_path, "first")
    try:
        # 1. A Temporal outage while the first period runs: the demo rides it out.
        wait_for(
            "first period locked",
            lambda: any(p.members is not None for p in periods(database)),
            first,
            timeout=150,
        )
        assert run_cli("dev", "down", env=stack_env).returncode == 0
        time.sleep(15)
        assert first.alive(), first.said()[-3000:]
        assert run_cli("dev", "up", env=stack_env).returncode == 0

        # 2. Killed, with the server, in the middle of the periods; both started again.
        wait_for(
            "first period debited after the outage",
            lambda: any(p.collected_fen is not None for p in periods(database)),
            first,
            timeout=150,
        )
        first.kill()
        assert run_cli("dev", "down", env=stack_env).returncode == 0
        states = {p.publicity_date: p.state for p in periods(database)}
        assert any(state != "closed" for state in states.values()), states
        time.sleep(5)
        assert run_cli("dev", "up", env=stack_env).returncode == 0
        second = Demo(stack_env, tmp_path, "second")
        try:
            second.process.wait(240)
        finally:
            second.kill()
    finally:
        first.kill()
    assert second.process.returncode == 0, second.said()[-3000:]
    assert "resuming the demo's run" in second.said()
    reports = json.loads(second.out.read_text())
    assert len(reports) == 2
    assert all(r["balanced"] for r in reports), reports
    assert all(r["payouts missing"] == 0 for r in reports), reports
    rows = periods(database)
    assert [r["period"] for r in reports] == [p.workflow_id for p in rows]
    assert rows[0].publicity_date == min(states)  # the period that was cut in the middle
    assert [p.state for p in rows] == ["closed", "closed"]
    assert all(p.report is not None and p.report["balanced"] for p in rows)
    with database.connect() as connection:
        paid_twice = connection.execute(
            select(PayoutRow.claim_id)
            .group_by(PayoutRow.claim_id)
            .having(func.count(PayoutRow.id) > 1)
        ).all()
        paid_events = connection.execute(
            select(ClaimEventRow.claim_id, func.count(ClaimEventRow.id))
            .where(ClaimEventRow.kind == "paid")
            .group_by(ClaimEventRow.claim_id)
        ).all()
        payouts = connection.execute(select(PayoutRow.claim_id, PayoutRow.state)).all()
    assert paid_twice == []
    assert all(count == 1 for _, count in paid_events), paid_events
    assert {state for _, state in payouts} <= {"paid"}, payouts
    made = sum(int(r["payouts made"].split()[0]) for r in reports)
    assert made == len(payouts)
