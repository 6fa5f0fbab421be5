from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import PayoutRow
from infra.repositories._common import insert_or_find
from infra.states import PayoutState
from mutualaid.errors import InputError, InvariantError


class PayoutRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def request(
        self, *, claim_id: str, period_id: int, amount_fen: int, at: datetime
    ) -> tuple[PayoutRow, bool]:
        """The claim's one payout, created on first request. A repeat with the same amount
        returns it; a different amount for the same claim raises."""
        if amount_fen <= 0:
            raise InputError("amount_fen", amount_fen, "a payout must be positive")
        row, created = insert_or_find(
            self._session,
            PayoutRow(
                claim_id=claim_id,
                period_id=period_id,
                amount_fen=amount_fen,
                state=PayoutState.REQUESTED,
                requested_at=at,
            ),
            lambda: self.get(claim_id),
        )
        if row.amount_fen != amount_fen:
            raise InvariantError(
                f"claim {claim_id} already has a payout of {row.amount_fen} fen, not {amount_fen}"
            )
        return row, created

    def get(self, claim_id: str) -> PayoutRow | None:
        return self._session.scalars(
            select(PayoutRow).where(PayoutRow.claim_id == claim_id)
        ).one_or_none()

    def mark_paid(self, claim_id: str, *, reference: str, at: datetime) -> PayoutRow:
        row = self.get(claim_id)
        if row is None:
            raise InputError("claim", claim_id, "has no payout to mark paid")
        if row.state == PayoutState.PAID:
            if row.reference != reference:
                raise InvariantError(
                    f"claim {claim_id} paid under {row.reference}, not {reference}"
                )
            return row
        row.state = PayoutState.PAID
        row.reference = reference
        row.paid_at = at
        return row

    def for_period(self, period_id: int) -> list[PayoutRow]:
        return list(
            self._session.scalars(
                select(PayoutRow).where(PayoutRow.period_id == period_id).order_by(PayoutRow.id)
            )
        )
