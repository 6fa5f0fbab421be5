"""Insert-or-find under a unique key, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.models import Base

RowT = TypeVar("RowT", bound=Base)


def insert_or_find(
    session: Session, row: RowT, find: Callable[[], RowT | None]
) -> tuple[RowT, bool]:
    """Insert the row, or return the row already holding its unique key.

    The insert runs in a savepoint, so losing a race to a concurrent writer (or a retried
    activity finding its own earlier write) rolls back only this insert, never the caller's
    transaction. Returns (row, created).
    """
    existing = find()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = find()
        if existing is None:
            raise
        return existing, False
    return row, True
