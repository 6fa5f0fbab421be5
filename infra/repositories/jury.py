from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from infra.models import JuryVoteRow
from infra.repositories._common import insert_or_find


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    valid: int
    approve: int

    @property
    def reject(self) -> int:
        return self.valid - self.approve


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    juror_id: int
    approve: bool
    at: datetime


class JuryRepository:
    """Votes are rows, not workflow events: a jury of 250,000 votes never bloats a history."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, claim_id: str, round_: int, vote: Vote) -> bool:
        """Record one vote; a juror's second vote in the same round is ignored (the first
        stands). Returns whether this vote was counted."""
        _, created = insert_or_find(
            self._session,
            JuryVoteRow(
                claim_id=claim_id,
                round=round_,
                juror_id=vote.juror_id,
                approve=vote.approve,
                at=vote.at,
            ),
            lambda: self._vote(claim_id, round_, vote.juror_id),
        )
        return created

    def record_many(self, claim_id: str, round_: int, votes: Iterable[Vote]) -> int:
        return sum(self.record(claim_id, round_, vote) for vote in votes)

    def _vote(self, claim_id: str, round_: int, juror_id: int) -> JuryVoteRow | None:
        return self._session.scalars(
            select(JuryVoteRow).where(
                JuryVoteRow.claim_id == claim_id,
                JuryVoteRow.round == round_,
                JuryVoteRow.juror_id == juror_id,
            )
        ).one_or_none()

    def tally(self, claim_id: str, round_: int) -> Tally:
        valid, approve = self._session.execute(
            select(
                func.count(JuryVoteRow.id),
                func.coalesce(func.sum(case((JuryVoteRow.approve, 1), else_=0)), 0),
            ).where(JuryVoteRow.claim_id == claim_id, JuryVoteRow.round == round_)
        ).one()
        return Tally(valid=int(valid), approve=int(approve))
