"""`mutualaid actors ...`: the staff who take a claim's staff steps, known by login with one
role (reviewer, investigator, operator). A review, a finding or a decision by a login that is
not registered here, or not in the role the step needs, is refused before anything is
recorded (see infra/repositories/actors.py for where each check runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from infra.config import load_settings
from infra.db import reading, unit_of_work
from infra.repositories import ActorRepository
from mutualaid.claim_roles import STAFF_ROLES, Role, check_actor_name
from mutualaid.errors import InputError
from workers.claims_client import database
from workers.output import JsonFlag, emit

actors_app = typer.Typer(
    help="Staff (reviewers, investigators, operators): register and list them.",
    no_args_is_help=True,
)

_ROLE_NAMES = sorted(role.value for role in STAFF_ROLES)
RoleOpt = Annotated[str, typer.Option("--role", help="One of " + ", ".join(_ROLE_NAMES) + ".")]


def staff_role(text: str) -> Role:
    """A staff role as typed; members, applicants and jurors are not registered here."""
    value = text.strip().lower()
    if value not in _ROLE_NAMES:
        raise InputError("role", text, "must be one of " + ", ".join(_ROLE_NAMES))
    return Role(value)


@actors_app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="The staff login, as steps name it.")],
    role: RoleOpt,
    as_json: JsonFlag = False,
) -> None:
    """Register a staff login in a role (again in the same role: nothing changes)."""
    login = check_actor_name(name)
    wanted = staff_role(role)
    settings = load_settings()
    with database(settings) as engine, unit_of_work(engine) as session:
        created = ActorRepository(session).add(login, wanted, at=datetime.now(UTC))
    emit(
        {"name": login, "role": wanted.value, "added": created},
        as_json=as_json,
        title="Actor added" if created else "Actor already registered",
    )


@actors_app.command("list")
def list_actors(
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every registered staff login, by name."""
    wanted = staff_role(role) if role is not None else None
    settings = load_settings()
    with database(settings) as engine, reading(engine) as session:
        actors = ActorRepository(session).list(role=wanted)
    rows = [
        {
            "name": actor.name,
            "role": actor.role.value,
            "added_at": actor.added_at.isoformat(timespec="seconds"),
        }
        for actor in actors
    ]
    emit(rows, as_json=as_json, title="Actors")
