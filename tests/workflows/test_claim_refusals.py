"""Validators refuse, with the core's reason, an action not allowed in the claim's state or
by that role; a refused action changes nothing (state, timeline, SQL history)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from infra.db import unit_of_work
from infra.models import ClaimEventRow, ObjectionRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from tests.workflows.claim_support import (
    ALL_DOCUMENTS,
    CHRONIC,
    INVESTIGATOR,
    REVIEWER,
    World,
    applicant,
    member_actor,
    new_member_id,
    status_of,
    step,
    timeline_of,
    to_approved,
    to_decision,
    wait_for_event,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def sql_events(world: World, handle: WorkflowHandle[Any, Any]) -> int:
    with unit_of_work(world.engine) as session:
        return int(
            session.scalar(
                select(func.count(ClaimEventRow.id)).where(
                    ClaimEventRow.claim_id == handle.id.removeprefix("claim-")
                )
            )
            or 0
        )


async def refused(
    world: World, handle: WorkflowHandle[Any, Any], name: str, request: object
) -> tuple[str | None, str]:
    """Send an update that must be refused; check that nothing moved. (type, message)."""

    async def snapshot() -> tuple[msg.ClaimStatus, int, int]:
        status = dataclasses.replace(await status_of(handle), program_now=EPOCH)
        return status, len(await timeline_of(handle)), sql_events(world, handle)

    before = await snapshot()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, request, result_type=msg.StepResult)
    assert await snapshot() == before
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type, cause.message


async def test_a_member_cannot_review_and_an_investigator_cannot_decide(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        review = msg.Review(actor=member_actor(new_member_id()), outcome=ReviewOutcome.PASS)
        assert await refused(world, handle, msg.REVIEW, review) == (
            "role_not_allowed",
            "a member cannot review",
        )
        as_applicant = msg.Review(actor=applicant(member), outcome=ReviewOutcome.PASS)
        kind, _ = await refused(world, handle, msg.REVIEW, as_applicant)
        assert kind == "role_not_allowed"
        await to_decision(handle)
        decide = msg.Decide(actor=INVESTIGATOR, approve=True)
        assert (await refused(world, handle, msg.DECIDE, decide))[0] == "role_not_allowed"


async def test_a_reviewer_cannot_decide_their_own_or_a_relatives_claim(world: World) -> None:
    today = await world.today()
    payer = await world.member()
    attached = world.join(
        birth=today.replace(year=today.year - 30), joined=today - timedelta(days=400), payer=payer
    )
    async with world.worker():
        handle = await world.report(attached)
        own = Actor(role=Role.REVIEWER, name="staff-1", member_id=attached, family_id=payer)
        kind, message = await refused(
            world, handle, msg.REVIEW, msg.Review(actor=own, outcome=ReviewOutcome.PASS)
        )
        assert (kind, message) == ("own_claim", "a reviewer cannot review their own claim")
        relative = Actor(role=Role.REVIEWER, name="staff-2", member_id=payer, family_id=payer)
        kind, message = await refused(
            world, handle, msg.REVIEW, msg.Review(actor=relative, outcome=ReviewOutcome.PASS)
        )
        assert (kind, message) == ("relative_claim", "a reviewer cannot review a relative's claim")
        await to_decision(handle)
        for actor in (own, relative):
            kind, _ = await refused(
                world, handle, msg.DECIDE, msg.Decide(actor=actor, approve=True)
            )
            assert kind in {"own_claim", "relative_claim"}
        stranger = Actor(role=Role.REVIEWER, name="staff-3", member_id=new_member_id())
        decided = await step(handle, msg.DECIDE, msg.Decide(actor=stranger, approve=True))
        assert decided.state is ClaimState.AWAITING_PUBLICITY


async def test_only_the_applicant_appeals_and_only_in_the_denied_state(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        early = await refused(world, handle, msg.APPEAL, msg.Appeal(actor=applicant(member)))
        assert early == ("wrong_state", "cannot appeal a claim that is InReview")
        await to_decision(handle)
        await step(handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=False, reason="no"))
        other = applicant(new_member_id())
        kind, _ = await refused(world, handle, msg.APPEAL, msg.Appeal(actor=other))
        assert kind == "not_the_applicant"
        withdraw = msg.Withdraw(actor=other)
        assert (await refused(world, handle, msg.WITHDRAW, withdraw))[0] == "not_the_applicant"


async def test_bad_payloads_are_refused(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member, documents=())
        oversized = tuple(
            Document(kind=DocumentKind.OTHER, reference=f"scan-{i}.jpg") for i in range(51)
        )
        kind, message = await refused(
            world,
            handle,
            msg.SUBMIT_MATERIALS,
            msg.SubmitMaterials(actor=applicant(member), documents=oversized),
        )
        assert (kind, message) == ("bad_payload", "51 documents; at most 50 per claim")
        await step(
            handle,
            msg.SUBMIT_MATERIALS,
            msg.SubmitMaterials(
                actor=applicant(member),
                documents=ALL_DOCUMENTS,
            ),
        )
        incomplete = msg.Review(actor=REVIEWER, outcome=ReviewOutcome.INCOMPLETE)
        assert (await refused(world, handle, msg.REVIEW, incomplete))[0] == "bad_payload"
        deny = msg.Review(actor=REVIEWER, outcome=ReviewOutcome.DENY)
        assert (await refused(world, handle, msg.REVIEW, deny))[1] == "a reason is required"


async def test_an_unconfirmed_diagnosis_cannot_be_approved_only_denied(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        await wait_for_event(handle, "investigation_commissioned")
        unconfirmed = Findings(
            diagnosis_confirmed=False, declaration_consistent=True, summary="no pathology"
        )
        await step(
            handle,
            msg.RECORD_FINDINGS,
            msg.RecordFindings(actor=INVESTIGATOR, findings=unconfirmed),
        )
        approve = msg.Decide(actor=REVIEWER, approve=True)
        assert (await refused(world, handle, msg.DECIDE, approve))[0] == "diagnosis_not_confirmed"
        denied = await step(
            handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=False, reason="unconfirmed")
        )
        assert denied.state is ClaimState.DENIED


async def test_objections_are_heard_only_from_members_inside_the_publicity_window(
    world: World,
) -> None:
    member = await world.member()
    objector = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_approved(handle)
        objection = msg.Objection(actor=member_actor(objector), reason="saw them at work")
        kind, _ = await refused(world, handle, msg.OBJECT, objection)
        assert kind == "wrong_state"  # not publicised yet
        await world.publicise(handle)
        own = msg.Objection(actor=member_actor(member), reason="mine")
        assert (await refused(world, handle, msg.OBJECT, own))[0] == "not_the_applicant"
        stranger = msg.Objection(actor=member_actor(new_member_id()), reason="rumour")
        kind, message = await refused(world, handle, msg.OBJECT, stranger)
        assert kind == "ObjectionRefused"
        assert message.endswith("is not a current member of plan chronic")
        status = await status_of(handle)
        window_days = CHRONIC.sharing.objection_window_days
        await world.env.sleep(timedelta(days=window_days))
        kind, message = await refused(world, handle, msg.OBJECT, objection)
        assert kind == "outside_publicity_window"
        assert status.publicity_date is not None
        assert status.publicity_date.isoformat() in message
    with unit_of_work(world.engine) as session:
        assert session.scalar(select(func.count(ObjectionRow.id))) == 0
