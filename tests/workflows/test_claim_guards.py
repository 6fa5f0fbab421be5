"""Claims guards (issue 8, point 14): a staff step by a login the actors registry does not
hold in that role is refused before anything is recorded; a batch of votes that names one
juror twice is refused whole."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from infra.db import unit_of_work
from infra.models import ClaimEventRow, JuryVoteRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_review import ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from tests.workflows.claim_support import (
    CONFIRMED,
    INVESTIGATOR,
    REVIEWER,
    World,
    applicant,
    status_of,
    step,
    timeline_of,
    to_decision,
    to_denied,
    wait_until,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
NOBODY = Actor(role=Role.REVIEWER, name="nobody")


def sql_rows(world: World, handle: WorkflowHandle[Any, Any]) -> tuple[int, int]:
    claim_id = handle.id.removeprefix("claim-")
    with unit_of_work(world.engine) as session:
        events = session.scalar(
            select(func.count(ClaimEventRow.id)).where(ClaimEventRow.claim_id == claim_id)
        )
        votes = session.scalar(
            select(func.count(JuryVoteRow.id)).where(JuryVoteRow.claim_id == claim_id)
        )
    return int(events or 0), int(votes or 0)


async def refused(
    world: World, handle: WorkflowHandle[Any, Any], name: str, request: object
) -> tuple[str | None, str]:
    """Send an update that must be refused; check that nothing moved: state, timeline, the
    SQL history and votes. Returns (type, message)."""

    async def snapshot() -> tuple[msg.ClaimStatus, int, tuple[int, int]]:
        status = dataclasses.replace(await status_of(handle), program_now=EPOCH)
        return status, len(await timeline_of(handle)), sql_rows(world, handle)

    before = await snapshot()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, request, result_type=object)
    assert await snapshot() == before
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type, cause.message


async def test_an_unregistered_reviewer_cannot_approve_and_nothing_is_recorded(
    world: World,
) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_decision(handle)
        kind, message = await refused(
            world, handle, msg.DECIDE, msg.Decide(actor=NOBODY, approve=True)
        )
        assert kind == "unknown_actor"
        assert message.startswith("actor='nobody': is not a registered actor")
        decided = await step(handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=True))
        assert decided.state is ClaimState.AWAITING_PUBLICITY
        assert [e.actor for e in await timeline_of(handle)][-1] == REVIEWER.name


async def test_unregistered_staff_cannot_review_or_record_findings(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        review = msg.Review(actor=NOBODY, outcome=ReviewOutcome.PASS)
        assert (await refused(world, handle, msg.REVIEW, review))[0] == "unknown_actor"
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        await wait_until(handle, lambda s: s.investigation_reference is not None)
        stranger = Actor(role=Role.INVESTIGATOR, name="a-firm-nobody-hired")
        findings = msg.RecordFindings(actor=stranger, findings=CONFIRMED)
        kind, message = await refused(world, handle, msg.RECORD_FINDINGS, findings)
        assert (kind, message.split(":")[0]) == ("unknown_actor", "actor='a-firm-nobody-hired'")


async def test_a_login_acts_only_in_the_role_it_is_registered_in(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_decision(handle)
        # Sent in its own role, the validator refuses the step for that role.
        as_itself = msg.Decide(actor=INVESTIGATOR, approve=True)
        assert await refused(world, handle, msg.DECIDE, as_itself) == (
            "role_not_allowed",
            "a investigator cannot decide",
        )
        # Claiming a role it does not hold (a client other than the command line), the
        # registry check refuses it before the claim moves.
        forged = msg.Decide(actor=Actor(role=Role.REVIEWER, name=INVESTIGATOR.name), approve=True)
        kind, message = await refused(world, handle, msg.DECIDE, forged)
        assert kind == "unknown_actor"
        assert message.endswith("is registered as investigator, not reviewer")
        # An operator runs the program but takes no claim step.
        operator = msg.Decide(actor=Actor(role=Role.OPERATOR, name="ops"), approve=True)
        assert (await refused(world, handle, msg.DECIDE, operator))[0] == "role_not_allowed"


async def test_a_staff_step_without_a_name_is_refused_by_the_validator(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        for name in ("", " reviewer-li", "x" * 101):
            review = msg.Review(
                actor=Actor(role=Role.REVIEWER, name=name), outcome=ReviewOutcome.PASS
            )
            kind, message = await refused(world, handle, msg.REVIEW, review)
            assert kind == "unknown_actor"
            assert message.startswith("a reviewer must be named")


async def test_a_batch_naming_one_juror_twice_is_refused_whole(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_denied(handle)
        await step(handle, msg.APPEAL, msg.Appeal(actor=applicant(member)))
        for second in (False, True):  # contradicting, then the same vote twice
            batch = msg.JuryVotes(
                votes=(
                    msg.JuryVote(juror_id=11, approve=True),
                    msg.JuryVote(juror_id=12, approve=True),
                    msg.JuryVote(juror_id=11, approve=second),
                )
            )
            assert await refused(world, handle, msg.VOTE, batch) == (
                "bad_payload",
                "juror 11 votes twice in one batch (votes 1 and 3); one vote per juror",
            )
        assert sql_rows(world, handle)[1] == 0
