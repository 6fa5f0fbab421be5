"""Staff known by login, with one role each: who may take a claim's staff steps.

A claim's Update validator cannot read SQL, so the registry is consulted twice: the command
line resolves a typed login to its registered role before it sends anything, and the claim
workflow asks again (`claims.check_actor`) before a staff step moves the claim, so a client
that skips the command line cannot act under an unknown name either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import ActorRow
from infra.repositories._common import insert_or_find
from mutualaid.claim_roles import STAFF_ROLES, Actor, Role, actor_name_problem
from mutualaid.errors import ConflictError, InputError, RefusedError


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredActor:
    name: str
    role: Role
    added_at: datetime


class ActorRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, role: Role, *, at: datetime) -> bool:
        """Register a login in a role. The same login in the same role again is a no-op
        (returns False); in another role it is a conflict: one login, one role, so a
        reviewer never records findings under the same name."""
        _check(name, role)
        row, created = insert_or_find(
            self._session,
            ActorRow(name=name, role=role.value, added_at=at),
            lambda: self._session.get(ActorRow, name),
        )
        if row.role != role.value:
            raise ConflictError(
                "name", name, f"is registered as {row.role}, not {role.value}; one role a login"
            )
        return created

    def ensure(self, name: str, role: Role, *, at: datetime) -> bool:
        """`add` under the name a caller that sets up its own staff (the demo, a test)
        reads best: the login exists in the role afterwards, whether or not it did before."""
        return self.add(name, role, at=at)

    def ensure_all(self, actors: Iterable[Actor], *, at: datetime) -> int:
        """Register the staff among these actors (members and jurors are skipped: they are
        known by member id). Returns how many were new."""
        return sum(
            self.add(actor.name, actor.role, at=at) for actor in actors if actor.role in STAFF_ROLES
        )

    def get(self, name: str) -> RegisteredActor | None:
        row = self._session.get(ActorRow, name)
        return _registered(row) if row is not None else None

    def resolve(
        self, name: str, *, field: str = "actor", wanted: Role | None = None
    ) -> RegisteredActor:
        """The registered actor of a login, or a refusal naming the command that adds it
        (in the role the caller wanted, when it says)."""
        found = self.get(name)
        if found is None:
            role = wanted.value if wanted is not None else "..."
            raise RefusedError(
                field,
                name,
                f"is not a registered actor (see `mutualaid actors add --name {name} "
                f"--role {role}`)",
            )
        return found

    def require(self, name: str, role: Role) -> RegisteredActor:
        """The actor, if registered in exactly this role; otherwise a refusal."""
        found = self.resolve(name, wanted=role)
        if found.role is not role:
            raise RefusedError(
                "actor", name, f"is registered as {found.role.value}, not {role.value}"
            )
        return found

    def list(self, *, role: Role | None = None) -> list[RegisteredActor]:
        query = select(ActorRow).order_by(ActorRow.name)
        if role is not None:
            query = query.where(ActorRow.role == role.value)
        return [_registered(row) for row in self._session.scalars(query)]


def _check(name: str, role: Role) -> None:
    problem = actor_name_problem(name)
    if problem is not None:
        raise InputError("name", name, problem)
    if role not in STAFF_ROLES:
        raise InputError(
            "role",
            role.value,
            "staff are "
            + ", ".join(sorted(r.value for r in STAFF_ROLES))
            + "; members act by member id",
        )


def _registered(row: ActorRow) -> RegisteredActor:
    return RegisteredActor(name=row.name, role=Role(row.role), added_at=row.added_at)
