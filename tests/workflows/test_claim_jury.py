"""The members' jury: appeal, batched votes recorded in SQL, quorum and majority at the
deadline, de-duplication per juror, and each jury rule refusing its juror."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from infra.db import unit_of_work
from infra.models import JuryVoteRow
from infra.repositories import JuryRepository, MemberChangeRepository
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.membership import ChangeKind, MemberChange
from tests.workflows.claim_support import (
    World,
    applicant,
    new_member_id,
    status_of,
    step,
    to_denied,
    wait_until,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(90)]

POOL = 1001
JOINED = date(2025, 1, 1)
QUALIFIED_ON = date(2025, 6, 1)


@pytest.fixture(scope="module")
def jurors(claims_db: Engine) -> list[int]:
    """1,001 paying adult members of long standing who passed the juror test, joined the
    real way (queued JOIN changes). Shared by the module: votes are per claim and round."""
    ids = [new_member_id() for _ in range(POOL)]
    with unit_of_work(claims_db) as session:
        changes = MemberChangeRepository(session)
        jury = JuryRepository(session)
        for member in ids:
            changes.queue(
                MemberChange(
                    plan_id="chronic",
                    member_id=member,
                    kind=ChangeKind.JOIN,
                    effective_on=JOINED,
                    birth_date=date(1980, 3, 1),
                    chronic_groups=(2,),
                ),
                change_key=f"juror-join-{member}",
                at=datetime.now(UTC),
            )
            jury.qualify("chronic", member, passed_on=QUALIFIED_ON, at=datetime.now(UTC))
    return ids


def votes(jurors: list[int], approvals: int, total: int) -> tuple[msg.JuryVote, ...]:
    return tuple(
        msg.JuryVote(juror_id=juror, approve=index < approvals)
        for index, juror in enumerate(jurors[:total])
    )


async def appealed(world: World) -> WorkflowHandle[Any, Any]:
    member = await world.member()
    handle = await world.report(member)
    await to_denied(handle)
    await step(handle, msg.APPEAL, msg.Appeal(actor=applicant(member), reason="I declared it"))
    return handle


async def cast(
    handle: WorkflowHandle[Any, Any], batch: tuple[msg.JuryVote, ...]
) -> msg.VoteReceipt:
    receipt: msg.VoteReceipt = await handle.execute_update(
        msg.VOTE, msg.JuryVotes(votes=batch), result_type=msg.VoteReceipt
    )
    return receipt


def stored_votes(world: World, handle: WorkflowHandle[Any, Any]) -> int:
    with unit_of_work(world.engine) as session:
        return int(
            session.scalar(
                select(func.count(JuryVoteRow.id)).where(
                    JuryVoteRow.claim_id == handle.id.removeprefix("claim-")
                )
            )
            or 0
        )


async def test_999_unanimous_votes_are_no_quorum_and_the_denial_stands(
    world: World, jurors: list[int]
) -> None:
    async with world.worker():
        handle = await appealed(world)
        receipt = await cast(handle, votes(jurors, 999, 999))
        assert (receipt.counted, receipt.repeated, receipt.refused) == (999, 0, ())
        outcome = await handle.result()  # time skips to the end of the vote
    assert outcome.state is ClaimState.FINALLY_DENIED
    assert outcome.reasons[-1] == "jury: no_quorum: 999 of 999 approve"
    assert stored_votes(world, handle) == 999


async def test_exactly_half_in_favour_is_not_enough(world: World, jurors: list[int]) -> None:
    async with world.worker():
        handle = await appealed(world)
        await cast(handle, votes(jurors, 500, 1000))
        outcome = await handle.result()
    assert outcome.state is ClaimState.FINALLY_DENIED
    assert outcome.reasons[-1] == "jury: rejected: 500 of 1000 approve"


async def test_a_majority_of_a_quorum_approves_and_a_second_vote_does_not_count(
    world: World, jurors: list[int]
) -> None:
    async with world.worker():
        handle = await appealed(world)
        first = await cast(handle, votes(jurors, 501, 600))
        # The second batch repeats juror 0 with the opposite vote: the first vote stands.
        rest = (msg.JuryVote(juror_id=jurors[0], approve=False), *votes(jurors, 0, 1000)[600:])
        second = await cast(handle, rest)
        assert (first.counted, second.counted, second.repeated) == (600, 400, 1)
        await world.env.sleep(timedelta(days=4))
        status = await wait_until(handle, lambda s: s.state is not ClaimState.JURY_VOTING)
        with pytest.raises(WorkflowUpdateFailedError) as late:
            await cast(handle, votes(jurors[1000:], 1, 1))
        history = await handle.fetch_history()
    assert isinstance(late.value.cause, ApplicationError)
    assert late.value.cause.message == "cannot vote a claim that is AwaitingPublicity"
    assert status.state is ClaimState.AWAITING_PUBLICITY
    assert status.jury_votes_counted == 1000
    # Two updates, not a thousand events: the votes live in SQL.
    assert len(history.events) < 150
    assert stored_votes(world, handle) == 1000


async def test_each_jury_rule_refuses_its_juror_and_nothing_is_recorded(
    world: World, jurors: list[int]
) -> None:
    today = await world.today()
    long_ago = today - timedelta(days=400)
    young = world.join(birth=today.replace(year=today.year - 17), joined=long_ago)
    new = world.join(birth=date(1980, 1, 1), joined=today - timedelta(days=30))
    unqualified = world.join(birth=date(1980, 1, 1), joined=long_ago)
    attached = world.join(birth=date(1980, 1, 1), joined=long_ago, payer=jurors[0])
    stranger = new_member_id()
    world.qualify([young, new, attached], passed_on=QUALIFIED_ON)
    async with world.worker():
        handle = await appealed(world)
        claimant = (await status_of(handle)).member_id
        world.qualify([claimant], passed_on=QUALIFIED_ON)
        receipt = await cast(
            handle,
            tuple(
                msg.JuryVote(juror_id=juror, approve=True)
                for juror in (young, new, unqualified, attached, stranger, claimant, jurors[5])
            ),
        )
    assert receipt.counted == 1
    assert {vote.juror_id: vote.code for vote in receipt.refused} == {
        young: "juror_too_young",
        new: "juror_too_new",
        unqualified: "juror_not_qualified",
        attached: "juror_not_paying",
        stranger: "juror_not_a_member",
        claimant: "juror_conflict",
    }
    assert stored_votes(world, handle) == 1
