"""Staff are known by login with one role (issue 8, point 14: `claims decide --reviewer
nobody --approve` approved a claim). The registry and the workflow's check activity, on
real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.claims import ClaimActivities
from infra.db import make_engine, unit_of_work, upgrade
from infra.repositories import ActorRepository
from messages import claims as msg
from mutualaid.claim_roles import Actor, Role
from mutualaid.errors import ConflictError, InputError, RefusedError
from tests.conftest import BACKENDS, database_url_for

AT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def login() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}"


def test_a_login_is_registered_once_in_one_role(session: Session) -> None:
    actors = ActorRepository(session)
    name = login()
    assert actors.add(name, Role.REVIEWER, at=AT) is True
    assert actors.ensure(name, Role.REVIEWER, at=AT) is False
    registered = actors.get(name)
    assert registered is not None
    assert (registered.name, registered.role, registered.added_at) == (name, Role.REVIEWER, AT)
    with pytest.raises(ConflictError, match=r"is registered as reviewer, not investigator"):
        actors.add(name, Role.INVESTIGATOR, at=AT)
    assert actors.require(name, Role.REVIEWER).role is Role.REVIEWER


def test_an_unknown_or_other_role_login_is_refused(session: Session) -> None:
    actors = ActorRepository(session)
    investigator = login()
    actors.add(investigator, Role.INVESTIGATOR, at=AT)
    with pytest.raises(RefusedError) as unknown:
        actors.require("nobody", Role.REVIEWER)
    assert str(unknown.value) == (
        "actor='nobody': is not a registered actor "
        "(see `mutualaid actors add --name nobody --role reviewer`)"
    )
    with pytest.raises(RefusedError, match=r"is registered as investigator, not reviewer"):
        actors.require(investigator, Role.REVIEWER)


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("", Role.REVIEWER, "name='': must be 1 to 100 printable characters"),
        (" li", Role.REVIEWER, "name=' li': must be 1 to 100 printable"),
        ("x" * 101, Role.REVIEWER, "must be 1 to 100 printable characters"),
        ("li\n", Role.REVIEWER, "must be 1 to 100 printable characters"),
        ("li", Role.MEMBER, "role='member': staff are investigator, operator, reviewer"),
        ("li", Role.JUROR, "role='juror': staff are"),
    ],
)
def test_a_bad_login_or_a_member_role_is_not_registered(
    session: Session, name: str, role: Role, message: str
) -> None:
    with pytest.raises(InputError) as refused:
        ActorRepository(session).add(name, role, at=AT)
    assert message in str(refused.value)


def test_staff_among_actors_are_ensured_and_members_skipped(session: Session) -> None:
    actors = ActorRepository(session)
    reviewer, investigator = login(), login()
    staff = (
        Actor(role=Role.REVIEWER, name=reviewer),
        Actor(role=Role.INVESTIGATOR, name=investigator),
        Actor(role=Role.APPLICANT, name="member:7", member_id=7),
    )
    assert actors.ensure_all(staff, at=AT) == 2
    assert actors.ensure_all(staff, at=AT) == 0
    listed = {(a.name, a.role) for a in actors.list()}
    assert {(reviewer, Role.REVIEWER), (investigator, Role.INVESTIGATOR)} <= listed
    assert "member:7" not in {name for name, _ in listed}
    assert {a.role for a in actors.list(role=Role.INVESTIGATOR)} == {Role.INVESTIGATOR}


def test_the_schema_refuses_a_role_that_is_not_staff(session: Session) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            text("INSERT INTO actors (name, role, added_at) VALUES (:n, 'juror', :at)"),
            {"n": login(), "at": AT.replace(tzinfo=None)},
        )


# ---- the workflow's check, as an activity ---------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    url = database_url_for(request.param, request, tmp_path_factory.mktemp(request.param))
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_check_activity_passes_registered_staff_and_refuses_others_for_good(
    engine: Engine, tmp_path: Path
) -> None:
    claims = ClaimActivities(engine=engine, store_root=str(tmp_path / "store"), plans={})
    reviewer = login()
    with unit_of_work(engine) as session:
        ActorRepository(session).add(reviewer, Role.REVIEWER, at=AT)
    env = ActivityEnvironment()
    env.run(claims.check_actor, msg.ActorCheck(name=reviewer, role=Role.REVIEWER))
    for name, role, reason in (
        ("nobody", Role.REVIEWER, "is not a registered actor"),
        (reviewer, Role.INVESTIGATOR, "is registered as reviewer, not investigator"),
    ):
        with pytest.raises(ApplicationError) as refused:
            env.run(claims.check_actor, msg.ActorCheck(name=name, role=role))
        assert refused.value.non_retryable
        assert refused.value.type == "RefusedError"
        assert reason in refused.value.message
