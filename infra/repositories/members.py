from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.models import MemberChangeRow
from infra.repositories._common import insert_or_find
from mutualaid.errors import InvariantError
from mutualaid.membership import (
    ChangeKind,
    MemberChange,
    change_from_record,
    change_to_record,
)


class MemberChangeRepository:
    """Changes to the member store, queued in SQL until a roster lock folds them in."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def queue(self, change: MemberChange, *, change_key: str, at: datetime) -> bool:
        """Queue a change once under its key (e.g. `payout-exit-<claim id>`). Returns whether
        it was new; the same key with a different change raises."""
        detail = _detail(change)
        row, created = insert_or_find(
            self._session,
            MemberChangeRow(
                plan_id=change.plan_id,
                member_id=change.member_id,
                kind=change.kind.value,
                effective_on=change.effective_on,
                change_key=change_key,
                detail=detail,
                recorded_at=at,
                applied_snapshot=None,
            ),
            lambda: self._by_key(change_key),
        )
        if not created and (row.member_id, row.kind, row.detail) != (
            change.member_id,
            change.kind.value,
            detail,
        ):
            raise InvariantError(f"member change {change_key} was recorded with other content")
        return created

    def pending_for(
        self, plan_id: str, member_ids: Iterable[int]
    ) -> list[tuple[int, MemberChange]]:
        """The pending changes of these members, in recording order (a batch look-up)."""
        ids = sorted(set(member_ids))
        rows: list[MemberChangeRow] = []
        for start in range(0, len(ids), 500):
            rows.extend(
                self._session.scalars(
                    select(MemberChangeRow).where(
                        MemberChangeRow.plan_id == plan_id,
                        MemberChangeRow.applied_snapshot.is_(None),
                        MemberChangeRow.member_id.in_(ids[start : start + 500]),
                    )
                )
            )
        return [(row.id, _change(row)) for row in sorted(rows, key=lambda r: r.id)]

    def _by_key(self, change_key: str) -> MemberChangeRow | None:
        return self._session.scalars(
            select(MemberChangeRow).where(MemberChangeRow.change_key == change_key)
        ).one_or_none()

    def pending(
        self, plan_id: str, *, member_id: int | None = None, before: date | None = None
    ) -> list[tuple[int, MemberChange]]:
        """Changes not yet folded into a snapshot, in recording order, as (id, change).
        `before` keeps only changes effective before that day (a lock's cut-off)."""
        query = (
            select(MemberChangeRow)
            .where(MemberChangeRow.plan_id == plan_id, MemberChangeRow.applied_snapshot.is_(None))
            .order_by(MemberChangeRow.id)
        )
        if member_id is not None:
            query = query.where(MemberChangeRow.member_id == member_id)
        if before is not None:
            query = query.where(MemberChangeRow.effective_on < before)
        return [(row.id, _change(row)) for row in self._session.scalars(query)]

    def pending_joins_paid_by(self, plan_id: str, payer_id: int) -> list[MemberChange]:
        """Joins not yet folded into a snapshot whose account is the payer's, in recording
        order (the payer is read from the change's JSON detail, on SQLite and PostgreSQL)."""
        query = (
            select(MemberChangeRow)
            .where(
                MemberChangeRow.plan_id == plan_id,
                MemberChangeRow.applied_snapshot.is_(None),
                MemberChangeRow.kind == ChangeKind.JOIN.value,
                MemberChangeRow.detail["payer_id"].as_integer() == payer_id,
            )
            .order_by(MemberChangeRow.id)
        )
        joins = (_change(row) for row in self._session.scalars(query))
        return [c for c in joins if c.payer_id == payer_id and c.member_id != payer_id]

    def by_ids(self, change_ids: Iterable[int]) -> list[tuple[int, MemberChange]]:
        """Exactly these changes, in recording order (a frozen lock plan names them)."""
        ids = sorted(change_ids)
        rows: list[MemberChangeRow] = []
        for start in range(0, len(ids), 500):
            rows.extend(
                self._session.scalars(
                    select(MemberChangeRow).where(MemberChangeRow.id.in_(ids[start : start + 500]))
                )
            )
        if len(rows) != len(ids):
            raise InvariantError(f"{len(ids) - len(rows)} frozen member changes are missing")
        return [(row.id, _change(row)) for row in sorted(rows, key=lambda r: r.id)]

    def mark_applied(self, change_ids: Iterable[int], *, snapshot: str) -> None:
        ids = list(change_ids)
        for start in range(0, len(ids), 500):
            self._session.execute(
                update(MemberChangeRow)
                .where(MemberChangeRow.id.in_(ids[start : start + 500]))
                .values(applied_snapshot=snapshot)
            )

    def unapply(self, *, snapshot: str) -> None:
        """The changes a cancelled roster folded wait again for the next lock."""
        self._session.execute(
            update(MemberChangeRow)
            .where(MemberChangeRow.applied_snapshot == snapshot)
            .values(applied_snapshot=None)
        )


def _detail(change: MemberChange) -> dict[str, object]:
    return change_to_record(change)


def _change(row: MemberChangeRow) -> MemberChange:
    return change_from_record(row.detail)
