"""Intake: the core's eligibility decision with all its reasons, on the real workflow.

Boundaries: the 90th day of the waiting period still waits (refund and exit), the 91st is
covered; the benefit band turns at the 40th birthday on the diagnosis date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle

from infra.db import unit_of_work
from infra.models import ClaimEventRow, ClaimRow, MemberChangeRow
from infra.repositories import MemberChangeRepository
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.membership import ChangeKind, ExitReason, MemberChange
from tests.workflows.claim_support import (
    ALL_DOCUMENTS,
    World,
    applicant,
    closed_result,
    new_member_id,
    status_of,
    step,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


def claim_id(handle: WorkflowHandle[Any, Any]) -> str:
    return handle.id.removeprefix("claim-")


def exit_member(world: World, member: int, *, on: date, reason: ExitReason) -> None:
    with unit_of_work(world.engine) as session:
        MemberChangeRepository(session).queue(
            MemberChange(
                plan_id="chronic",
                member_id=member,
                kind=ChangeKind.EXIT,
                effective_on=on,
                exit_reason=reason,
            ),
            change_key=f"test-exit-{member}",
            at=datetime.now(UTC),
        )


async def test_the_90th_waiting_day_is_refused_with_refund_and_exit_and_the_91st_is_covered(
    world: World,
) -> None:
    today = await world.today()
    joined = today - timedelta(days=120)
    waiting = world.join(birth=date(1990, 1, 1), joined=joined)
    covered = world.join(birth=date(1990, 1, 1), joined=joined)
    async with world.worker():
        # One claim at a time: the refused claim finishes (its result skips time on the test
        # server) before the covered one starts, so neither waits on the other's timers.
        on_day_90 = await world.report(waiting, diagnosed=joined + timedelta(days=90))
        refused = await closed_result(on_day_90)
        on_day_91 = await world.report(covered, diagnosed=joined + timedelta(days=91))
        first = await status_of(on_day_91)
    assert refused.state is ClaimState.INELIGIBLE
    assert [r.split(":")[0] for r in refused.reasons] == ["waiting_period"]
    assert (first.eligible, first.state) == (True, ClaimState.IN_REVIEW)
    with unit_of_work(world.engine) as session:
        change = session.scalars(
            select(MemberChangeRow).where(
                MemberChangeRow.change_key == f"waiting-exit-{claim_id(on_day_90)}"
            )
        ).one()
        assert (change.kind, change.detail["exit_reason"]) == ("exit", "waiting_period_diagnosis")
        row = session.get(ClaimRow, claim_id(on_day_90))
        assert row is not None and (row.state, row.benefit_fen) == ("Ineligible", None)
        kinds = session.scalars(
            select(ClaimEventRow.kind)
            .where(ClaimEventRow.claim_id == claim_id(on_day_90))
            .order_by(ClaimEventRow.seq)
        ).all()
        assert list(kinds) == ["reported", "member_exit_queued", "intake_refused"]


async def test_the_benefit_band_turns_on_the_40th_birthday_at_diagnosis(world: World) -> None:
    today = await world.today()
    diagnosed = today - timedelta(days=5)
    forty_tomorrow = world.join(
        birth=diagnosed.replace(year=diagnosed.year - 40) + timedelta(days=1),
        joined=today - timedelta(days=400),
    )
    forty_today = world.join(
        birth=diagnosed.replace(year=diagnosed.year - 40), joined=today - timedelta(days=400)
    )
    async with world.worker():
        young = await status_of(await world.report(forty_tomorrow, diagnosed=diagnosed))
        older = await status_of(await world.report(forty_today, diagnosed=diagnosed))
    assert (young.age_at_diagnosis, young.benefit_fen) == (39, 30_000_000)
    assert (older.age_at_diagnosis, older.benefit_fen) == (40, 10_000_000)


async def _refusal_of(world: World, case: str) -> list[str]:
    today = await world.today()
    old = today - timedelta(days=400)
    adult = date(1990, 1, 1)
    condition = "malignant tumour"
    diagnosed = today - timedelta(days=10)
    if case == "unknown_member":
        member = new_member_id()
    elif case == "diagnosis_in_future":
        member = world.join(birth=adult, joined=old)
        diagnosed = today + timedelta(days=1)
    elif case == "not_a_member_at_diagnosis":
        member = world.join(birth=adult, joined=today - timedelta(days=5))
    elif case == "condition_not_covered":
        member = world.join(birth=adult, joined=old)
        condition = "asthma"
    elif case == "no_benefit_band":
        member = world.join(birth=diagnosed.replace(year=diagnosed.year - 60), joined=old)
    elif case == "already_paid_out":
        member = world.join(birth=adult, joined=old)
        exit_member(world, member, on=today - timedelta(days=20), reason=ExitReason.PAID_OUT)
    elif case == "member_exited":
        member = world.join(birth=adult, joined=old)
        exit_member(world, member, on=today - timedelta(days=20), reason=ExitReason.LEFT)
    else:
        raise AssertionError(case)
    handle = await world.report(member, diagnosed=diagnosed, condition=condition)
    outcome = await handle.result()
    assert outcome.state is ClaimState.INELIGIBLE
    assert outcome.benefit_fen is None
    return [reason.split(":")[0] for reason in outcome.reasons]


@pytest.mark.parametrize(
    "case",
    [
        "unknown_member",
        "diagnosis_in_future",
        "not_a_member_at_diagnosis",
        "condition_not_covered",
        "no_benefit_band",
        "already_paid_out",
        "member_exited",
    ],
)
async def test_each_eligibility_refusal_closes_the_claim_with_its_reason(
    world: World, case: str
) -> None:
    async with world.worker():
        reasons = await _refusal_of(world, case)
    assert case in reasons


async def test_a_second_claim_for_the_same_diagnosis_is_a_duplicate_kept_out_of_sql(
    world: World,
) -> None:
    member = await world.member()
    diagnosed = (await world.today()) - timedelta(days=3)
    async with world.worker():
        first = await world.report(member, diagnosed=diagnosed)
        second = await world.report(member, diagnosed=diagnosed, condition="Malignant Tumour ")
        # Both claims are open: wait for the duplicate to close in real time rather than let
        # its result skip the first claim's timers (CI hung 60 s on that once).
        outcome = await closed_result(second)
        assert (await status_of(first)).eligible is True
    assert outcome.state is ClaimState.INELIGIBLE
    assert any(r.startswith("duplicate") for r in outcome.reasons)
    with unit_of_work(world.engine) as session:
        assert session.get(ClaimRow, claim_id(second)) is None
        assert session.get(ClaimRow, claim_id(first)) is not None


async def test_a_claim_missing_documents_waits_and_then_takes_them(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member, documents=())
        status = await status_of(handle)
        assert status.state is ClaimState.REPORTED
        assert [k.value for k in status.missing_documents] == [
            "diagnosis",
            "medical_record",
            "identity",
        ]
        partial = await step(
            handle,
            msg.SUBMIT_MATERIALS,
            msg.SubmitMaterials(actor=applicant(member), documents=ALL_DOCUMENTS[:1]),
        )
        assert partial.state is ClaimState.REPORTED
        done = await step(
            handle,
            msg.SUBMIT_MATERIALS,
            msg.SubmitMaterials(actor=applicant(member), documents=ALL_DOCUMENTS[1:]),
        )
        assert done.state is ClaimState.IN_REVIEW
