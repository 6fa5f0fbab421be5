"""Console users: a login, one role, and the SHA-256 of a token. The token itself is made
and shown once by `add` (or `new_token`); a request's token is found by its hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import ConsoleUserRow
from infra.repositories.actors import ActorRepository
from mutualaid.access import STAFF, USER_ROLES, ConsoleRole
from mutualaid.claim_roles import Role, check_actor_name
from mutualaid.errors import ConflictError, InputError

TOKEN_PREFIX = "ma_"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleUser:
    name: str
    role: ConsoleRole
    plan_id: str | None
    member_id: int | None
    added_at: datetime
    revoked_at: datetime | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe, with a prefix so a leaked token is recognisable."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class ConsoleUserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        name: str,
        role: ConsoleRole,
        *,
        at: datetime,
        plan_id: str | None = None,
        member_id: int | None = None,
    ) -> str:
        """Add a user and return its token (shown once). Staff are registered as actors in
        the same role, since their steps go through the claim's own checks of that registry.
        An existing login is a conflict (`new_token` gives it a new token)."""
        login = check_actor_name(name, field="name")
        if role not in USER_ROLES:
            raise InputError("role", role.value, "must be one of " + ", ".join(sorted(USER_ROLES)))
        if (role is ConsoleRole.MEMBER) != (member_id is not None):
            raise InputError("member", member_id, "is needed for the member role, and only for it")
        if self._session.get(ConsoleUserRow, login) is not None:
            raise ConflictError(
                "name", login, "is already a console user (`users token` issues a new token)"
            )
        if role in STAFF:
            ActorRepository(self._session).add(login, Role(role.value), at=at)
        token = new_token()
        self._session.add(
            ConsoleUserRow(
                name=login,
                role=role.value,
                plan_id=plan_id if role is ConsoleRole.MEMBER else None,
                member_id=member_id,
                token_sha256=token_hash(token),
                added_at=at,
                revoked_at=None,
            )
        )
        self._session.flush()
        return token

    def new_token(self, name: str) -> str:
        """A new token for a user (the old one stops working); undoes a revocation."""
        row = self._require(name)
        token = new_token()
        row.token_sha256 = token_hash(token)
        row.revoked_at = None
        return token

    def revoke(self, name: str, *, at: datetime) -> bool:
        row = self._require(name)
        if row.revoked_at is not None:
            return False
        row.revoked_at = at
        return True

    def by_token(self, token: str) -> ConsoleUser | None:
        """The user holding this token, if it is current."""
        row = self._session.scalars(
            select(ConsoleUserRow).where(ConsoleUserRow.token_sha256 == token_hash(token))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return _user(row)

    def list(self) -> list[ConsoleUser]:
        rows = self._session.scalars(select(ConsoleUserRow).order_by(ConsoleUserRow.name))
        return [_user(row) for row in rows]

    def _require(self, name: str) -> ConsoleUserRow:
        row = self._session.get(ConsoleUserRow, name)
        if row is None:
            raise InputError("name", name, "is not a console user (see `users list`)")
        return row


def _user(row: ConsoleUserRow) -> ConsoleUser:
    return ConsoleUser(
        name=row.name,
        role=ConsoleRole(row.role),
        plan_id=row.plan_id,
        member_id=row.member_id,
        added_at=row.added_at,
        revoked_at=row.revoked_at,
    )
