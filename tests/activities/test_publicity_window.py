"""Closing a period's objection window: only a case still on the list is funded. A claim
that left the program after it was gathered (withdrawn before its publicised signal landed,
closed) must not be cleared: its benefit would be shared and then never paid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.publicity import PublicityActivities
from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import ClaimRepository, PeriodRepository, PlanRepository
from infra.repositories.claims import NewClaim
from infra.repositories.periods import PublicityEntry, PublicityRepository
from infra.states import PublicityOutcome
from messages import periods as msg
from mutualaid.claim import ClaimState

AT = datetime(2026, 12, 1, tzinfo=UTC)
CHRONIC = next(s for s in builtin_plan_sources() if s.plan.id == "chronic")
# The claims' states in SQL when the window closes, and whether each case is funded.
CASES = {
    "still-publicised": (ClaimState.PUBLICISED, True),
    "withdrawn-after-gather": (ClaimState.WITHDRAWN, False),
    "closed-after-gather": (ClaimState.CLOSED, False),
    "reinvestigating": (ClaimState.REINVESTIGATING, False),
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'window.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def published_period(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=AT)
        period, _ = PeriodRepository(session).open(
            "chronic", date(2026, 12, 7), rules_version=CHRONIC.plan.rules_version, at=AT
        )
        claims = ClaimRepository(session)
        for number, (claim_id, (state, _funded)) in enumerate(CASES.items()):
            claims.add(
                NewClaim(
                    claim_id=claim_id,
                    plan_id="chronic",
                    rules_version=CHRONIC.plan.rules_version,
                    member_id=100 + number,
                    condition="Malignant Tumour",
                    diagnosis_date=date(2026, 10, 3),
                    hospital="Peking Union Medical College Hospital",
                    state=state.value,
                ),
                at=AT,
            )
        PublicityRepository(session).publish(
            period.id,
            [
                PublicityEntry(
                    claim_id=claim_id,
                    masked_member="Z*",
                    age=40,
                    condition="Malignant Tumour",
                    hospital="Peking Union Medical College Hospital",
                    benefit_fen=30_000_000,
                )
                for claim_id in CASES
            ],
            share_fen=1,
            at=AT,
        )
        return period.id


def test_only_cases_still_publicised_clear_when_the_window_closes(
    engine: Engine, tmp_path: Path
) -> None:
    period_id = published_period(engine)
    publicity = PublicityActivities(
        engine=engine,
        store_root=str(tmp_path / "store"),
        plans={"chronic": CHRONIC.plan},
        publicity_dir=tmp_path / "publicity",
    )
    request = msg.CloseWindowRequest(period_id=period_id, claim_ids=tuple(CASES))

    closed = ActivityEnvironment().run(publicity.close_window, request)

    assert closed.cleared == ("still-publicised",)
    assert set(closed.objected) == {c for c, (_s, funded) in CASES.items() if not funded}
    # Closing again (a retried step) gives the same answer from the recorded outcomes.
    assert ActivityEnvironment().run(publicity.close_window, request) == closed
    with unit_of_work(engine) as session:
        outcomes = {e.claim_id: e.outcome for e in PublicityRepository(session).entries(period_id)}
    assert outcomes["still-publicised"] == PublicityOutcome.CLEARED
    assert outcomes["withdrawn-after-gather"] == PublicityOutcome.LEFT
    assert outcomes["closed-after-gather"] == PublicityOutcome.LEFT
    assert outcomes["reinvestigating"] == PublicityOutcome.OBJECTED
