"""The jury repository's additions for claims, on SQLite and PostgreSQL (rolled back): votes
recorded in batches with one vote per juror and round, and juror qualifications."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from infra.plans import builtin_plan_sources
from infra.repositories import ClaimRepository, JuryRepository, NewClaim, PlanRepository
from infra.repositories.jury import Vote

AT = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def jury(session: Session) -> JuryRepository:
    plans = PlanRepository(session)
    for source in builtin_plan_sources():
        plans.record(source, at=AT)
    ClaimRepository(session).add(
        NewClaim(
            claim_id="c-jury",
            plan_id="chronic",
            rules_version="chronic-2020.1",
            member_id=1,
            condition="malignant tumour",
            diagnosis_date=date(2026, 10, 1),
            hospital="Ruijin Hospital",
            state="JuryVoting",
        ),
        at=AT,
    )
    return JuryRepository(session)


def votes(*pairs: tuple[int, bool]) -> list[Vote]:
    return [Vote(juror_id=juror, approve=approve, at=AT) for juror, approve in pairs]


def test_a_batch_records_each_juror_once_and_keeps_the_first_vote(jury: JuryRepository) -> None:
    counted = jury.record_batch("c-jury", 1, votes((10, True), (11, False), (10, False)))
    assert counted == [10, 11]
    again = jury.record_batch("c-jury", 1, votes((11, True), (12, True)))
    assert again == [12]
    tally = jury.tally("c-jury", 1)
    assert (tally.valid, tally.approve) == (3, 2)
    # A new round is a new jury.
    assert jury.record_batch("c-jury", 2, votes((10, False))) == [10]
    assert jury.voted("c-jury", 1, [10, 11, 12, 13]) == {10, 11, 12}


def test_a_large_batch_is_recorded_in_chunks(jury: JuryRepository) -> None:
    batch = votes(*((juror, juror % 3 == 0) for juror in range(1, 2_501)))
    assert len(jury.record_batch("c-jury", 1, batch)) == 2_500
    assert jury.tally("c-jury", 1).valid == 2_500
    assert len(jury.voted("c-jury", 1, range(1, 3_001))) == 2_500


def test_qualifications_count_from_the_day_of_the_test(jury: JuryRepository) -> None:
    assert jury.qualify("chronic", 10, passed_on=date(2026, 6, 1), at=AT) is True
    assert jury.qualify("chronic", 10, passed_on=date(2026, 7, 1), at=AT) is False
    jury.qualify("chronic", 11, passed_on=date(2026, 12, 1), at=AT)
    assert jury.qualified("chronic", [10, 11, 12], on=date(2026, 11, 28)) == {10}
    assert jury.qualified("major", [10], on=date(2026, 11, 28)) == set()
    many = list(range(1_000, 3_500))
    for member in many[:5]:
        jury.qualify("chronic", member, passed_on=date(2026, 1, 1), at=AT)
    assert jury.qualified("chronic", many, on=date(2026, 11, 28)) == set(many[:5])
