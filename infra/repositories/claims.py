from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import ClaimEventRow, ClaimRow
from infra.repositories._common import insert_or_find
from mutualaid.claim import EventKind
from mutualaid.eligibility import PriorClaim
from mutualaid.errors import InputError


class DuplicateClaimError(InputError):
    """Another claim already has this member and diagnosis."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewClaim:
    claim_id: str
    plan_id: str
    rules_version: str
    member_id: int
    condition: str
    diagnosis_date: date
    hospital: str
    state: str


class ClaimRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, claim: NewClaim, *, at: datetime) -> ClaimRow:
        """Record a reported claim; the same claim reported again returns the first record."""
        condition = claim.condition.strip().lower()
        same_diagnosis = self._session.scalars(
            select(ClaimRow).where(
                ClaimRow.plan_id == claim.plan_id,
                ClaimRow.member_id == claim.member_id,
                ClaimRow.condition == condition,
                ClaimRow.diagnosis_date == claim.diagnosis_date,
            )
        ).one_or_none()
        if same_diagnosis is not None and same_diagnosis.id != claim.claim_id:
            raise DuplicateClaimError(
                "claim", claim.claim_id, f"same member and diagnosis as claim {same_diagnosis.id}"
            )
        row, _ = insert_or_find(
            self._session,
            ClaimRow(
                id=claim.claim_id,
                plan_id=claim.plan_id,
                rules_version=claim.rules_version,
                member_id=claim.member_id,
                condition=condition,
                diagnosis_date=claim.diagnosis_date,
                hospital=claim.hospital,
                state=claim.state,
                benefit_fen=None,
                period_id=None,
                reported_at=at,
                updated_at=at,
                state_since=at,
                overdue=False,
            ),
            lambda: self._session.get(ClaimRow, claim.claim_id),
        )
        if (row.member_id, row.diagnosis_date, row.condition) != (
            claim.member_id,
            claim.diagnosis_date,
            condition,
        ):
            raise DuplicateClaimError("claim", claim.claim_id, "id already used by another claim")
        return row

    def get(self, claim_id: str) -> ClaimRow | None:
        return self._session.get(ClaimRow, claim_id)

    def append_event(
        self,
        claim_id: str,
        *,
        event_key: str,
        kind: str,
        state: str,
        actor: str,
        at: datetime,
        detail: dict[str, Any] | None = None,
    ) -> ClaimEventRow:
        """Append to the claim's history and move its state. The event key (derived from the
        workflow's own step) makes a retried write return the first event unchanged."""
        claim = self._session.get(ClaimRow, claim_id)
        if claim is None:
            raise InputError("claim", claim_id, "does not exist")
        existing = self._event(claim_id, event_key)
        if existing is not None:
            return existing
        last = self._session.scalar(
            select(func.max(ClaimEventRow.seq)).where(ClaimEventRow.claim_id == claim_id)
        )
        event, created = insert_or_find(
            self._session,
            ClaimEventRow(
                claim_id=claim_id,
                seq=(last or 0) + 1,
                event_key=event_key,
                kind=kind,
                state=state,
                actor=actor,
                at=at,
                detail=detail or {},
            ),
            lambda: self._event(claim_id, event_key),
        )
        if created:
            if state != claim.state:
                claim.state = state
                claim.state_since = at
                claim.overdue = False
            if kind == EventKind.OVERDUE.value:
                claim.overdue = True
            claim.updated_at = at
        return event

    def _event(self, claim_id: str, event_key: str) -> ClaimEventRow | None:
        return self._session.scalars(
            select(ClaimEventRow).where(
                ClaimEventRow.claim_id == claim_id, ClaimEventRow.event_key == event_key
            )
        ).one_or_none()

    def events(self, claim_id: str) -> list[ClaimEventRow]:
        return list(
            self._session.scalars(
                select(ClaimEventRow)
                .where(ClaimEventRow.claim_id == claim_id)
                .order_by(ClaimEventRow.seq)
            )
        )

    def set_benefit(self, claim_id: str, benefit_fen: int) -> None:
        claim = self._require(claim_id)
        claim.benefit_fen = benefit_fen

    def assign_period(self, claim_id: str, period_id: int | None) -> None:
        claim = self._require(claim_id)
        claim.period_id = period_id

    def prior_claims(self, member_id: int) -> list[PriorClaim]:
        rows = self._session.scalars(select(ClaimRow).where(ClaimRow.member_id == member_id))
        return [
            PriorClaim(
                claim_id=row.id,
                member_id=row.member_id,
                condition=row.condition,
                diagnosis_date=row.diagnosis_date,
            )
            for row in rows
        ]

    def list(self, *, plan_id: str | None = None, state: str | None = None) -> list[ClaimRow]:
        query = select(ClaimRow).order_by(ClaimRow.reported_at, ClaimRow.id)
        if plan_id is not None:
            query = query.where(ClaimRow.plan_id == plan_id)
        if state is not None:
            query = query.where(ClaimRow.state == state)
        return list(self._session.scalars(query))

    def _require(self, claim_id: str) -> ClaimRow:
        claim = self._session.get(ClaimRow, claim_id)
        if claim is None:
            raise InputError("claim", claim_id, "does not exist")
        return claim
