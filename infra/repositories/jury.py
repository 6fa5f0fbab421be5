from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.models import JurorQualificationRow, JuryVoteRow
from infra.repositories._common import insert_or_find

# Bound on the ids in one IN (...) list: SQLite allows 32,766 parameters, PostgreSQL 65,535.
_CHUNK = 1000


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

    def record_batch(self, claim_id: str, round_: int, votes: Iterable[Vote]) -> list[int]:
        """Record a batch of votes in a few statements; returns the jurors whose vote was
        counted. A juror who voted before in this round, or twice in the batch, keeps the
        first vote. Losing a race to a concurrent batch falls back to one vote at a time."""
        first: dict[int, Vote] = {}
        for vote in votes:
            first.setdefault(vote.juror_id, vote)
        voted = self.voted(claim_id, round_, first)
        fresh = [vote for juror, vote in first.items() if juror not in voted]
        rows = [
            JuryVoteRow(
                claim_id=claim_id, round=round_, juror_id=v.juror_id, approve=v.approve, at=v.at
            )
            for v in fresh
        ]
        try:
            with self._session.begin_nested():
                self._session.add_all(rows)
        except IntegrityError:
            return [v.juror_id for v in fresh if self.record(claim_id, round_, v)]
        return [v.juror_id for v in fresh]

    def voted(self, claim_id: str, round_: int, juror_ids: Iterable[int]) -> set[int]:
        """Which of these jurors already voted in the round."""
        ids = list(juror_ids)
        found: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            found.update(
                self._session.scalars(
                    select(JuryVoteRow.juror_id).where(
                        JuryVoteRow.claim_id == claim_id,
                        JuryVoteRow.round == round_,
                        JuryVoteRow.juror_id.in_(ids[start : start + _CHUNK]),
                    )
                )
            )
        return found

    def qualify(self, plan_id: str, member_id: int, *, passed_on: date, at: datetime) -> bool:
        """Record that a member passed the plan's juror test; a repeat keeps the first pass.
        Returns whether the record is new."""
        _, created = insert_or_find(
            self._session,
            JurorQualificationRow(
                plan_id=plan_id, member_id=member_id, passed_on=passed_on, recorded_at=at
            ),
            lambda: self._session.scalars(
                select(JurorQualificationRow).where(
                    JurorQualificationRow.plan_id == plan_id,
                    JurorQualificationRow.member_id == member_id,
                )
            ).one_or_none(),
        )
        return created

    def qualified(self, plan_id: str, member_ids: Iterable[int], *, on: date) -> set[int]:
        """Which of these members had passed the plan's juror test by a day."""
        ids = list(member_ids)
        found: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            found.update(
                self._session.scalars(
                    select(JurorQualificationRow.member_id).where(
                        JurorQualificationRow.plan_id == plan_id,
                        JurorQualificationRow.passed_on <= on,
                        JurorQualificationRow.member_id.in_(ids[start : start + _CHUNK]),
                    )
                )
            )
        return found

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
