from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.models import MemberChangeRow
from infra.repositories._common import insert_or_find
from mutualaid.errors import InvariantError
from mutualaid.membership import ChangeKind, ExitReason, MemberChange


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
            .where(
                MemberChangeRow.plan_id == plan_id, MemberChangeRow.applied_snapshot.is_(None)
            )
            .order_by(MemberChangeRow.id)
        )
        if member_id is not None:
            query = query.where(MemberChangeRow.member_id == member_id)
        if before is not None:
            query = query.where(MemberChangeRow.effective_on < before)
        return [(row.id, _change(row)) for row in self._session.scalars(query)]

    def mark_applied(self, change_ids: Iterable[int], *, snapshot: str) -> None:
        ids = list(change_ids)
        for start in range(0, len(ids), 500):
            self._session.execute(
                update(MemberChangeRow)
                .where(MemberChangeRow.id.in_(ids[start : start + 500]))
                .values(applied_snapshot=snapshot)
            )


def _detail(change: MemberChange) -> dict[str, object]:
    return {
        "birth_date": change.birth_date.isoformat() if change.birth_date else None,
        "chronic_groups": list(change.chronic_groups),
        "payer_id": change.payer_id,
        "exit_reason": change.exit_reason.value if change.exit_reason else None,
    }


def _change(row: MemberChangeRow) -> MemberChange:
    detail = row.detail
    return MemberChange(
        plan_id=row.plan_id,
        member_id=row.member_id,
        kind=ChangeKind(row.kind),
        effective_on=row.effective_on,
        birth_date=date.fromisoformat(str(detail["birth_date"])) if detail["birth_date"] else None,
        chronic_groups=tuple(int(g) for g in detail["chronic_groups"]),
        payer_id=int(detail["payer_id"]) if detail["payer_id"] is not None else None,
        exit_reason=ExitReason(detail["exit_reason"]) if detail["exit_reason"] else None,
    )
