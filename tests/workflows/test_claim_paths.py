"""The claim's main roads on the time-skipping server: report to payout, denial, withdrawal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from activities.investigation import SimulatedFirm
from infra.db import unit_of_work
from infra.models import ClaimEventRow, ClaimRow, MemberChangeRow, PayoutRow
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_deadlines import DeadlineKind
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_review import ReviewOutcome
from tests.workflows.claim_support import (
    ALL_DOCUMENTS,
    CONFIRMED,
    INVESTIGATOR,
    REVIEWER,
    World,
    applicant,
    status_of,
    step,
    timeline_of,
    to_approved,
    to_denied,
    wait_for_event,
    wait_until,
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


async def test_a_covered_claim_runs_from_report_to_payout_and_the_member_leaves(
    world: World,
) -> None:
    member = await world.member(age=35)
    async with world.worker():
        handle = await world.report(member)
        status = await status_of(handle)
        assert (status.state, status.eligible, status.benefit_fen) == (
            ClaimState.IN_REVIEW,
            True,
            30_000_000,
        )
        await to_approved(handle)
        period_id = await world.publicise(handle)
        await world.clear_and_fund(handle, period_id)
        outcome = await handle.result()
        kinds = [e.kind for e in await timeline_of(handle)]
    assert outcome.state is ClaimState.PAID
    assert outcome.paid_fen == 30_000_000
    assert kinds == [
        "reported",
        "materials_complete",
        "review_passed",
        "investigation_commissioned",
        "findings_recorded",
        "approved",
        "publicised",
        "cleared",
        "paid",
    ]
    with unit_of_work(world.engine) as session:
        claim_id = handle.id.removeprefix("claim-")
        row = session.get(ClaimRow, claim_id)
        assert row is not None and (row.state, row.benefit_fen, row.period_id) == (
            "Paid",
            30_000_000,
            period_id,
        )
        events = session.scalars(
            select(ClaimEventRow.kind)
            .where(ClaimEventRow.claim_id == claim_id)
            .order_by(ClaimEventRow.seq)
        ).all()
        assert list(events) == kinds
        payout = session.scalars(select(PayoutRow).where(PayoutRow.claim_id == claim_id)).one()
        assert (payout.state, payout.amount_fen) == ("paid", 30_000_000)
        exit_change = session.scalars(
            select(MemberChangeRow).where(MemberChangeRow.change_key == f"payout-exit-{claim_id}")
        ).one()
        assert exit_change.detail["exit_reason"] == "paid_out"


async def test_materials_still_missing_after_the_deadline_close_the_claim(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member, documents=ALL_DOCUMENTS[:1])
        deadline = (await status_of(handle)).next_deadline
        assert deadline is not None and deadline.kind is DeadlineKind.MATERIALS
        outcome = await handle.result()  # time skips to the deadline
        entries = await timeline_of(handle)
    assert outcome.state is ClaimState.CLOSED
    assert entries[-1].kind == "materials_expired"
    assert entries[-1].at >= deadline.due


async def test_a_review_sending_documents_back_reopens_materials_until_they_come(
    world: World,
) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        back = await step(
            handle,
            msg.REVIEW,
            msg.Review(
                actor=REVIEWER,
                outcome=ReviewOutcome.INCOMPLETE,
                resubmit=(DocumentKind.IDENTITY,),
                reason="ID card unreadable",
            ),
        )
        assert back.state is ClaimState.REPORTED
        status = await status_of(handle)
        assert [k.value for k in status.missing_documents] == ["identity"]
        again = await step(
            handle,
            msg.SUBMIT_MATERIALS,
            msg.SubmitMaterials(
                actor=applicant(member),
                documents=(Document(kind=DocumentKind.IDENTITY, reference="id-card-2.jpg"),),
            ),
        )
        assert again.state is ClaimState.IN_REVIEW


async def test_a_denial_not_appealed_in_time_becomes_final(world: World) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await step(
            handle,
            msg.REVIEW,
            msg.Review(actor=REVIEWER, outcome=ReviewOutcome.DENY, reason="forged report"),
        )
        assert (await status_of(handle)).state is ClaimState.DENIED
        outcome = await handle.result()
    assert outcome.state is ClaimState.FINALLY_DENIED
    assert outcome.reasons == ("review: forged report",)


async def test_a_decision_to_deny_can_be_appealed_and_the_applicant_may_withdraw(
    world: World,
) -> None:
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await to_denied(handle)
        appealed = await step(handle, msg.APPEAL, msg.Appeal(actor=applicant(member)))
        assert appealed.state is ClaimState.JURY_VOTING
        withdrawn = await step(
            handle, msg.WITHDRAW, msg.Withdraw(actor=applicant(member), reason="recovered")
        )
        outcome = await handle.result()
    assert withdrawn.state is ClaimState.WITHDRAWN
    assert outcome.state is ClaimState.WITHDRAWN


async def test_an_unanswering_firm_is_retried_with_backoff_until_it_takes_the_case(
    world: World,
) -> None:
    # Seeded: the first calls go unanswered, then the firm answers.
    world.firm = SimulatedFirm(failure_rate=0.5, seed=3)
    member = await world.member()
    async with world.worker():
        handle = await world.report(member)
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        status = await wait_until(handle, lambda s: s.investigation_reference is not None)
    assert world.firm.calls > 1
    assert status.investigation_reference == f"inv-{handle.id.removeprefix('claim-')}-1"


async def test_a_declined_case_is_not_retried_and_waits_for_findings_by_hand(
    world: World,
) -> None:
    world.firm = SimulatedFirm(declined_hospitals=frozenset({"far away clinic"}))
    member = await world.member()
    async with world.worker():
        handle = await world.report(member, hospital="Far Away Clinic")
        await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
        entries = await wait_for_event(handle, "investigation_unassigned")
        assert entries[-1].kind == "investigation_unassigned"
        assert "outside the firm's area" in entries[-1].note
        assert world.firm.calls == 1
        found = await step(
            handle, msg.RECORD_FINDINGS, msg.RecordFindings(actor=INVESTIGATOR, findings=CONFIRMED)
        )
    assert found.state is ClaimState.AWAITING_DECISION
