"""The claim activities without a server (ActivityEnvironment), against real SQLite and
PostgreSQL: each write idempotent under its key, business refusals final, transient errors
left to Temporal's retries."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.claims import ClaimActivities
from activities.investigation import (
    FirmUnavailableError,
    InvestigationActivities,
    SimulatedFirm,
)
from activities.payment import PaymentRail
from infra.db import make_engine, unit_of_work, upgrade
from infra.models import ClaimEventRow, ClaimRow, MemberChangeRow, ObjectionRow, PayoutRow
from infra.plans import builtin_plan_sources
from infra.repositories import (
    JuryRepository,
    MemberChangeRepository,
    PeriodRepository,
    PlanRepository,
)
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_roles import Claimant
from mutualaid.claim_terms import ClaimTerms
from mutualaid.membership import ChangeKind, ExitReason, MemberChange
from tests.conftest import BACKENDS, database_url_for

PLANS = {source.plan.id: source.plan for source in builtin_plan_sources()}
TERMS = ClaimTerms.from_plan(PLANS["chronic"])
AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A fresh migrated database per backend for this module (activities commit)."""
    url = database_url_for(request.param, request, tmp_path_factory.mktemp(request.param))
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        plans = PlanRepository(session)
        for source in builtin_plan_sources():
            plans.record(source, at=AT)
    yield engine
    engine.dispose()


@pytest.fixture
def claims(engine: Engine, tmp_path: Path) -> ClaimActivities:
    return ClaimActivities(engine=engine, store_root=str(tmp_path / "store"), plans=PLANS)


def join(engine: Engine, *, birth: date = date(1990, 1, 1), joined: date = date(2025, 1, 1)) -> int:
    member = uuid.uuid4().int % 10**12
    with unit_of_work(engine) as session:
        MemberChangeRepository(session).queue(
            MemberChange(
                plan_id="chronic",
                member_id=member,
                kind=ChangeKind.JOIN,
                effective_on=joined,
                birth_date=birth,
                chronic_groups=(1,),
            ),
            change_key=f"join-{member}",
            at=AT,
        )
    return member


def intake_request(member: int, claim_id: str | None = None) -> msg.IntakeRequest:
    return msg.IntakeRequest(
        claim_id=claim_id or f"c-{uuid.uuid4().hex[:12]}",
        plan_id="chronic",
        member_id=member,
        condition="Malignant tumour",
        diagnosis_date=date(2026, 11, 1),
        hospital="Ruijin Hospital",
        accident=False,
        as_of=TODAY,
        at=AT,
    )


def run_final(fn: object, *args: object) -> ApplicationError:
    """Run an activity that must refuse for good; return the error."""
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(fn, *args)  # type: ignore[arg-type]
    assert caught.value.non_retryable
    return caught.value


def test_intake_records_the_claim_and_a_retry_finds_the_same(
    engine: Engine, claims: ClaimActivities
) -> None:
    request = intake_request(join(engine))
    first = ActivityEnvironment().run(claims.intake, request)
    again = ActivityEnvironment().run(claims.intake, request)
    assert first == again
    assert (first.eligible, first.recorded, first.benefit_fen) == (True, True, 30_000_000)
    assert first.claimant.family_id == request.member_id
    assert first.terms == TERMS
    with unit_of_work(engine) as session:
        row = session.get(ClaimRow, request.claim_id)
        assert row is not None
        assert (row.state, row.benefit_fen, row.rules_version) == (
            "Reported",
            30_000_000,
            "chronic-2020.1",
        )


def test_a_second_claim_for_the_same_diagnosis_is_refused_and_not_recorded(
    engine: Engine, claims: ClaimActivities
) -> None:
    member = join(engine)
    ActivityEnvironment().run(claims.intake, intake_request(member))
    duplicate = ActivityEnvironment().run(claims.intake, intake_request(member))
    assert not duplicate.recorded
    assert [reason.code.value for reason in duplicate.reasons] == ["duplicate"]
    with unit_of_work(engine) as session:
        count = session.scalar(select(func.count(ClaimRow.id)).where(ClaimRow.member_id == member))
    assert count == 1


def test_intake_for_an_unknown_plan_is_refused_for_good(claims: ClaimActivities) -> None:
    error = run_final(claims.intake, dataclasses.replace(intake_request(1), plan_id="nope"))
    assert "plan='nope'" in error.message


def test_an_event_recorded_twice_under_its_key_is_written_once(
    engine: Engine, claims: ClaimActivities
) -> None:
    request = intake_request(join(engine))
    ActivityEnvironment().run(claims.intake, request)
    with unit_of_work(engine) as session:
        period, _ = PeriodRepository(session).open(
            "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
        )
        period_id = period.id
    record = msg.EventRecord(
        claim_id=request.claim_id,
        event_key="0007-publicised",
        kind="publicised",
        state=ClaimState.PUBLICISED,
        actor=f"period:{period_id}",
        at=AT,
        detail={"period_id": period_id},
        set_period=True,
        period_id=period_id,
    )
    ActivityEnvironment().run(claims.record_event, record)
    ActivityEnvironment().run(claims.record_event, record)
    with unit_of_work(engine) as session:
        events = session.scalars(
            select(ClaimEventRow).where(ClaimEventRow.claim_id == request.claim_id)
        ).all()
        assert [(e.event_key, e.state) for e in events] == [("0007-publicised", "Publicised")]
        row = session.get(ClaimRow, request.claim_id)
        assert row is not None and (row.state, row.period_id) == ("Publicised", period_id)
    leaving = msg.EventRecord(
        claim_id=request.claim_id,
        event_key="0008-objected",
        kind="objected",
        state=ClaimState.REINVESTIGATING,
        actor="member:5",
        at=AT,
        set_period=True,
        period_id=None,
    )
    ActivityEnvironment().run(claims.record_event, leaving)
    with unit_of_work(engine) as session:
        row = session.get(ClaimRow, request.claim_id)
        assert row is not None and (row.state, row.period_id) == ("Reinvestigating", None)


def test_votes_are_checked_per_juror_and_counted_once(
    engine: Engine, claims: ClaimActivities
) -> None:
    request = intake_request(join(engine))
    ActivityEnvironment().run(claims.intake, request)
    jurors = [join(engine) for _ in range(3)]
    newcomer = join(engine, joined=TODAY - timedelta(days=10))
    with unit_of_work(engine) as session:
        for member in [*jurors, newcomer, request.member_id]:
            JuryRepository(session).qualify("chronic", member, passed_on=date(2025, 6, 1), at=AT)
    batch = msg.VoteBatch(
        claim_id=request.claim_id,
        round=1,
        terms=TERMS,
        claimant=Claimant(member_id=request.member_id, family_id=request.member_id),
        on=TODAY,
        at=AT,
        votes=(
            msg.JuryVote(juror_id=jurors[0], approve=True),
            msg.JuryVote(juror_id=jurors[1], approve=False),
            msg.JuryVote(juror_id=jurors[0], approve=False),  # the same juror again
            msg.JuryVote(juror_id=newcomer, approve=True),
            msg.JuryVote(juror_id=request.member_id, approve=True),
        ),
    )
    first = ActivityEnvironment().run(claims.record_votes, batch)
    assert (first.counted, first.repeated) == (2, 1)
    assert {(r.juror_id, r.code) for r in first.refused} == {
        (newcomer, "juror_too_new"),
        (request.member_id, "juror_conflict"),
    }
    again = ActivityEnvironment().run(claims.record_votes, batch)
    assert (again.counted, again.repeated) == (0, 3)
    tally = ActivityEnvironment().run(
        claims.tally_jury, msg.TallyRequest(claim_id=request.claim_id, round=1)
    )
    assert (tally.valid_votes, tally.approvals) == (2, 1)


def test_only_a_current_member_may_object_and_only_once_per_period(
    engine: Engine, claims: ClaimActivities
) -> None:
    request = intake_request(join(engine))
    ActivityEnvironment().run(claims.intake, request)
    with unit_of_work(engine) as session:
        period, _ = PeriodRepository(session).open(
            "chronic", date(2026, 12, 21), rules_version="chronic-2020.1", at=AT
        )
        period_id = period.id
    objector = join(engine)

    def objection(member: int) -> msg.ObjectionRecord:
        return msg.ObjectionRecord(
            claim_id=request.claim_id,
            plan_id="chronic",
            period_id=period_id,
            objector_id=member,
            reason="seen at work",
            at=AT,
        )

    error = run_final(claims.record_objection, objection(999_999_999_999))
    assert error.type == "NotAMember"
    ActivityEnvironment().run(claims.record_objection, objection(objector))
    ActivityEnvironment().run(claims.record_objection, objection(objector))
    with unit_of_work(engine) as session:
        count = session.scalar(
            select(func.count(ObjectionRow.id)).where(ObjectionRow.claim_id == request.claim_id)
        )
    assert count == 1


def test_a_member_exit_is_queued_once_under_its_key(
    engine: Engine, claims: ClaimActivities
) -> None:
    member = join(engine)
    exit_ = msg.MemberExit(
        plan_id="chronic",
        member_id=member,
        effective_on=TODAY,
        reason=ExitReason.PAID_OUT,
        change_key=f"payout-exit-c-{member}",
        at=AT,
    )
    assert ActivityEnvironment().run(claims.queue_exit, exit_) is True
    assert ActivityEnvironment().run(claims.queue_exit, exit_) is False
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(MemberChangeRow).where(MemberChangeRow.change_key == exit_.change_key)
        ).all()
        assert [(r.kind, r.detail["exit_reason"]) for r in rows] == [("exit", "paid_out")]


def test_the_rail_pays_a_claim_once_whatever_the_retries(
    engine: Engine, claims: ClaimActivities
) -> None:
    request = intake_request(join(engine))
    ActivityEnvironment().run(claims.intake, request)
    with unit_of_work(engine) as session:
        period, _ = PeriodRepository(session).open(
            "chronic", date(2027, 1, 7), rules_version="chronic-2020.1", at=AT
        )
        period_id = period.id
    rail = PaymentRail(engine=engine)
    payout = msg.PayoutRequest(
        claim_id=request.claim_id, period_id=period_id, amount_fen=30_000_000, at=AT
    )
    first = ActivityEnvironment().run(rail.pay_out, payout)
    second = ActivityEnvironment().run(rail.pay_out, payout)
    assert (first.already_paid, second.already_paid) == (False, True)
    assert first.reference == second.reference == f"rail-{request.claim_id}"
    other_amount = msg.PayoutRequest(
        claim_id=request.claim_id, period_id=period_id, amount_fen=10_000_000, at=AT
    )
    assert run_final(rail.pay_out, other_amount).type == "InvariantError"
    with unit_of_work(engine) as session:
        rows = session.scalars(select(PayoutRow).where(PayoutRow.claim_id == request.claim_id))
        assert [(r.state, r.amount_fen) for r in rows] == [("paid", 30_000_000)]


def test_a_database_that_does_not_answer_is_left_to_temporal_to_retry(tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: every query fails
    activities = ClaimActivities(engine=broken, store_root=str(tmp_path), plans=PLANS)
    with pytest.raises(OperationalError):
        ActivityEnvironment().run(activities.tally_jury, msg.TallyRequest(claim_id="c", round=1))
    broken.dispose()


def test_the_simulated_firm_retries_when_unanswered_and_refuses_declined_cases() -> None:
    request = msg.CommissionRequest(
        claim_id="c-1",
        round=1,
        plan_id="chronic",
        condition="malignant tumour",
        diagnosis_date=date(2026, 11, 1),
        hospital="Far Away Clinic",
    )
    down = InvestigationActivities(SimulatedFirm(failure_rate=1.0))
    with pytest.raises(FirmUnavailableError):
        ActivityEnvironment().run(down.commission, request)
    picky = InvestigationActivities(
        SimulatedFirm(declined_hospitals=frozenset({"far away clinic"}))
    )
    assert run_final(picky.commission, request).type == "FirmDeclined"
    firm = SimulatedFirm(failure_rate=0.5, seed=11)
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(firm.take_case(request))
        except FirmUnavailableError:
            outcomes.append(None)
    assert 0 < outcomes.count(None) < 20
    again = SimulatedFirm(failure_rate=0.5, seed=11)
    replay = []
    for _ in range(20):
        try:
            replay.append(again.take_case(request))
        except FirmUnavailableError:
            replay.append(None)
    assert replay == outcomes  # seeded: a demo repeats
    with pytest.raises(ValueError):
        SimulatedFirm(failure_rate=1.5)
