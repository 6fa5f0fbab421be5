"""Claims guards from the command line (issue 8, point 14): staff are registered with a role
and anyone else is refused; a vote file naming a juror twice is refused whole; `claims show`
without a worker and `claims appeal` on a finished claim are one line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from infra.db import make_engine
from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER
from messages import claims as msg
from tests.helpers import free_port, run_cli
from tests.workflows.claim_support import (
    World,
    applicant,
    migrated_sqlite,
    register_search_attributes,
    step,
    wait_until,
)

pytestmark = pytest.mark.temporal
Commands = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated SQLite database (the test staff registered) in a state folder."""
    folder = tmp_path_factory.mktemp("guards-state")
    migrated_sqlite(str(folder / "mutualaid.db")).dispose()
    yield folder


def offline(state: Path) -> dict[str, str]:
    """Settings whose Temporal address answers nothing: a command that is refused before it
    talks to Temporal says so; one that talks to it would fail on the connection instead."""
    return {
        "MUTUALAID_STATE_DIR": str(state),
        "MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    stderr = result.stderr
    assert result.returncode != 0, stderr
    assert stderr.startswith("error: "), stderr
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    return stderr.removesuffix("\n")


# ---- actors ------------------------------------------------------------------------------


def test_actors_are_added_once_in_one_role_and_listed(state: Path) -> None:
    env = offline(state)
    added = run_cli("actors", "add", "--name", "zhao", "--role", "reviewer", "--json", env=env)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"name": "zhao", "role": "reviewer", "added": True}
    again = run_cli("actors", "add", "--name", "zhao", "--role", "reviewer", "--json", env=env)
    assert json.loads(again.stdout)["added"] is False
    other_role = run_cli("actors", "add", "--name", "zhao", "--role", "investigator", env=env)
    assert one_line_error(other_role) == (
        "error: name='zhao': is registered as reviewer, not investigator; one role a login"
    )
    assert other_role.returncode == 3  # a conflict
    juror = run_cli("actors", "add", "--name", "qian", "--role", "juror", env=env)
    assert one_line_error(juror) == (
        "error: role='juror': must be one of investigator, operator, reviewer"
    )
    listed = run_cli("actors", "list", "--role", "reviewer", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    names = {row["name"]: row["role"] for row in json.loads(listed.stdout)}
    assert names["zhao"] == "reviewer" and names["li"] == "reviewer"
    assert "wang" not in names  # an investigator


def test_an_unregistered_reviewer_is_refused_before_anything_is_sent(state: Path) -> None:
    result = run_cli(
        "claims",
        "decide",
        "chronic-7-20261001-36c881ba",
        "--reviewer",
        "nobody",
        "--approve",
        env=offline(state),
    )
    assert one_line_error(result) == (
        "error: reviewer='nobody': is not a registered actor "
        "(see `mutualaid actors add --name nobody --role reviewer`)"
    )
    assert result.returncode == 3  # refused by a rule, before Temporal is asked anything
    unknown_firm = run_cli(
        "claims",
        "investigate",
        "c-1",
        "--investigator",
        "nobody",
        "--summary",
        "s",
        env=offline(state),
    )
    assert "investigator='nobody': is not a registered actor" in one_line_error(unknown_firm)


# ---- vote files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second_vote", "how"), [("reject", "contradicting votes"), ("approve", "the same vote")]
)
def test_a_vote_file_naming_a_juror_twice_is_refused_whole(
    state: Path, tmp_path: Path, second_vote: str, how: str
) -> None:
    votes = tmp_path / "votes.csv"
    votes.write_text(
        "juror_id,vote\n101,approve\n102,reject\n123,approve\n104,approve\n"
        f"105,reject\n106,approve\n107,approve\n123,{second_vote}\n",
        encoding="utf-8",
    )
    result = run_cli("claims", "vote", "c-1", "--votes", str(votes), env=offline(state))
    message = one_line_error(result)
    assert result.returncode == 2  # bad input
    assert message.startswith("error: votes='")
    assert message.endswith(
        f"votes.csv': juror 123 votes twice (lines 4 and 9, {how}); "
        "one vote per juror, nothing was sent"
    )


# ---- a claim's steps against a server, with and without a worker -------------------------


@asynccontextmanager
async def served(state: Path, tmp_path: Path) -> AsyncIterator[tuple[World, Commands]]:
    """A time-skipping server of the test's own, a World over the module's database, and
    a way to run commands against both."""
    server = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    engine = make_engine(f"sqlite:///{state / 'mutualaid.db'}")
    try:
        await register_search_attributes(server.client)
        world = World(env=server, engine=engine, store_root=str(tmp_path / "store"))
        env = {
            "MUTUALAID_STATE_DIR": str(state),
            "MUTUALAID_TEMPORAL_ADDRESS": server.client.service_client.config.target_host,
            "MUTUALAID_TASK_QUEUE": world.task_queue,
        }

        async def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(run_cli, *args, env=env)

        yield world, cli
    finally:
        engine.dispose()
        await server.shutdown()


async def test_a_login_in_another_role_is_refused_by_the_claims_validator(
    state: Path, tmp_path: Path
) -> None:
    async with served(state, tmp_path) as (world, cli), world.worker():
        handle = await world.report(world.join(birth=date(1990, 5, 1), joined=date(2025, 1, 1)))
        claim = handle.id.removeprefix("claim-")
        # wang is registered as an investigator: the role sent is the registry's, and the
        # claim's validator refuses it for a review.
        as_investigator = await cli(
            "claims", "review", claim, "--reviewer", "wang", "--outcome", "pass"
        )
        assert one_line_error(as_investigator) == (
            f"error: claim='{claim}': review refused: a investigator cannot review"
        )
        assert as_investigator.returncode == 3
        reviewed = await cli("claims", "review", claim, "--reviewer", "li", "--outcome", "pass")
        assert reviewed.returncode == 0, reviewed.stderr


async def test_show_without_a_worker_and_appeal_on_a_finished_claim_are_one_line(
    state: Path, tmp_path: Path
) -> None:
    async with served(state, tmp_path) as (world, cli):
        member = world.join(birth=date(1990, 5, 1), joined=date(2025, 1, 1))
        async with world.worker():
            handle = await world.report(member)
            claim = handle.id.removeprefix("claim-")
            await step(handle, msg.WITHDRAW, msg.Withdraw(actor=applicant(member)))
            await wait_until(handle, lambda s: s.state.value == "Withdrawn")
            appeal = await cli("claims", "appeal", claim)
            assert one_line_error(appeal) == (
                f"error: claim='{claim}': appeal refused: the claim is Withdrawn (finished)"
            )
            assert appeal.returncode == 3
            await handle.result()
        # No worker from here on: the claim is shown from its SQL record, said to be so.
        shown = await cli("claims", "show", claim, "--json")
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert document["source"] == "sql"
        assert document["status"]["state"] == "Withdrawn"
        assert [row["event"] for row in document["timeline"]][-1] == "withdrawn"
        assert shown.stderr.startswith(f"note: claim='{claim}': no worker answered in 5s")
        assert shown.stderr.count("\n") == 1
        table = await cli("claims", "show", claim)
        assert table.returncode == 0 and "SQL record" in table.stdout
        finished = await cli("claims", "appeal", claim)
        assert one_line_error(finished) == (
            f"error: claim='{claim}': appeal refused: the claim has finished (workflow completed)"
        )
        assert finished.returncode == 3
        # A claim no worker has taken in: nothing in SQL either, so one line says why.
        waiting = await world.report(
            world.join(birth=date(1991, 1, 1), joined=date(2025, 1, 1)), wait=False
        )
        unanswered = await cli("claims", "show", waiting.id.removeprefix("claim-"))
        assert one_line_error(unanswered).endswith(
            f"no worker answered in 5s; is `mutualaid worker` running on task queue "
            f"{world.task_queue}?"
        )
        assert unanswered.returncode == 4  # not yet: start a worker and ask again
