"""The pipeline from SQL on SQLite and PostgreSQL: counts by plan and state, the overdue mark
as the claims' own history sets and clears it, overdue work first, filters checked one by
one, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from console.app import ConsoleContext, create_app
from infra.config import Settings
from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import ClaimRepository, ConsoleUserRepository, NewClaim, PlanRepository
from mutualaid.access import ConsoleRole
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError
from tests.conftest import BACKENDS, database_url_for

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    url = database_url_for(request.param, request, tmp_path_factory.mktemp("pipeline"))
    made = make_engine(url)
    upgrade(made)
    with unit_of_work(made) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=START)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def claims(engine: Engine) -> dict[str, str]:
    """120 claims in review (every 7th overdue), 10 investigating, 5 paid; some moved on."""
    states: dict[str, str] = {}
    with unit_of_work(engine) as session:
        repo = ClaimRepository(session)
        for n in range(135):
            claim_id = f"c-{n:04d}"
            at = START + timedelta(hours=n)
            repo.add(
                NewClaim(
                    claim_id=claim_id,
                    plan_id="chronic" if n % 3 else "major",
                    rules_version="v1",
                    member_id=1000 + n,
                    condition="malignant tumour",
                    diagnosis_date=date(2026, 10, 1),
                    hospital="Ruijin Hospital",
                    state="Reported",
                ),
                at=at,
            )
            event = iter(range(1, 10))

            def note(
                kind: str,
                state: str,
                when: datetime,
                cid: str = claim_id,
                seq: Iterator[int] = event,
            ) -> None:
                repo.append_event(
                    cid,
                    event_key=f"{next(seq):04d}-{kind}",
                    kind=kind,
                    state=state,
                    actor="t",
                    at=when,
                )

            note("reported", "Reported", at)
            note("materials_complete", "InReview", at + timedelta(minutes=1))
            states[claim_id] = "InReview"
            if n % 7 == 0:
                note("overdue", "InReview", at + timedelta(days=8))
            if 120 <= n < 130:
                note("review_passed", "Investigating", at + timedelta(days=9))
                states[claim_id] = "Investigating"
            if n >= 130:
                note("review_passed", "Investigating", at + timedelta(days=9))
                note("findings_recorded", "AwaitingDecision", at + timedelta(days=10))
                note("approved", "AwaitingPublicity", at + timedelta(days=11))
                note("paid", "Paid", at + timedelta(days=30))
                states[claim_id] = "Paid"
    return states


@pytest.fixture
async def operator(
    engine: Engine, claims: dict[str, str], tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async def no_temporal() -> Client:
        raise InputError("MUTUALAID_TEMPORAL_ADDRESS", "nowhere", "not in this test")

    ctx = ConsoleContext(
        settings=Settings(state_dir=tmp_path),
        engine=engine,
        plans={s.plan.id: s.plan for s in builtin_plan_sources()},
        clock=ProgramClock(
            seconds_per_day=Fraction(86400), origin_real=START, origin_program=START
        ),
        connect=no_temporal,
    )
    with unit_of_work(engine) as session:
        token = ConsoleUserRepository(session).add(
            f"op-{tmp_path.name}"[:90], ConsoleRole.OPERATOR, at=START
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx)),
        base_url="http://console.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_counts_by_plan_and_state_with_the_overdue(
    operator: httpx.AsyncClient, claims: dict[str, str]
) -> None:
    counts = (await operator.get("/api/claims")).json()["counts"]
    got = {(c["plan"], c["state"]): (c["claims"], c["overdue"]) for c in counts}
    expected: dict[tuple[str, str], list[int]] = {}
    for claim_id, state in claims.items():
        n = int(claim_id[2:])
        key = ("chronic" if n % 3 else "major", state)
        entry = expected.setdefault(key, [0, 0])
        entry[0] += 1
        # A transition clears the mark: only those still in review stay overdue.
        entry[1] += n % 7 == 0 and state == "InReview"
    assert got == {k: tuple(v) for k, v in expected.items()}


async def test_open_claims_come_overdue_first_then_longest_waiting(
    operator: httpx.AsyncClient, claims: dict[str, str]
) -> None:
    first = (await operator.get("/api/claims")).json()
    open_claims = [c for c, s in claims.items() if s != "Paid"]
    assert first["total"] == len(open_claims)
    assert first["pages"] == 3
    rows = first["claims"]
    overdue = [r for r in rows if r["overdue"]]
    assert rows[: len(overdue)] == overdue
    assert [r["claim"] for r in overdue] == sorted(
        c for c, s in claims.items() if int(c[2:]) % 7 == 0 and s == "InReview"
    )
    seen = []
    for page in (1, 2, 3):
        seen += [
            r["claim"] for r in (await operator.get(f"/api/claims?page={page}")).json()["claims"]
        ]
    assert sorted(seen) == sorted(open_claims) and len(seen) == len(set(seen))


async def test_filters(operator: httpx.AsyncClient, claims: dict[str, str]) -> None:
    paid = (await operator.get("/api/claims", params={"state": "Paid"})).json()
    assert sorted(r["claim"] for r in paid["claims"]) == sorted(
        c for c, s in claims.items() if s == "Paid"
    )
    late = (
        await operator.get(
            "/api/claims", params={"overdue": "true", "plan": "major", "state": "InReview"}
        )
    ).json()
    assert late["claims"] and all(
        r["overdue"] and r["plan"] == "major" and r["state"] == "InReview" for r in late["claims"]
    )
    none = await operator.get("/api/claims", params={"period": "period-chronic-2026-12-07"})
    assert none.json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("state=Sleeping", "state", "Sleeping"),
        ("plan=gold", "plan", "gold"),
        ("period=2026-12-07", "period", "2026-12-07"),
        ("period=period-chronic-2026-02-30", "period", "2026-02-30"),
        ("overdue=yes", "overdue", "yes"),
        ("page=0", "page", "0"),
        ("page=-1", "page", "-1"),
        ("page=%C2%B2", "page", "²"),
        ("page=" + "9" * 5000, "page", "9" * 5000),
    ],
)
async def test_a_bad_filter_is_one_line_naming_it(
    operator: httpx.AsyncClient, query: str, field: str, value: str
) -> None:
    answer = await operator.get(f"/api/claims?{query}")
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert message.startswith(f"error: {field}=") and "\n" not in message
    assert len(value) > 50 or message.startswith(f"error: {field}={value!r}: ")


@pytest.mark.parametrize("claim_id", ["../etc", "a b", "x" * 200])
async def test_a_bad_claim_id_is_refused_before_any_read(
    operator: httpx.AsyncClient, claim_id: str
) -> None:
    answer = await operator.get(f"/api/claims/{claim_id}")
    assert answer.status_code in (400, 404)
    if answer.status_code == 400:
        assert answer.json()["error"].startswith("error: claim=")


async def test_a_claim_page_without_temporal(operator: httpx.AsyncClient) -> None:
    """The pages come from SQL: a claim's timeline shows while Temporal is away, and a step
    says Temporal is not there (503) rather than failing."""
    page = await operator.get("/claims/c-0130")
    assert page.status_code == 200 and "paid" in page.text
    detail = (await operator.get("/api/claims/c-0130")).json()
    assert [e["event"] for e in detail["timeline"]][-1] == "paid"
    assert detail["state"] == "Paid"
