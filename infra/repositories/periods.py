from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import (
    ClaimEventRow,
    ClaimRow,
    ObjectionRow,
    PeriodRow,
    PlanRow,
    PublicityEntryRow,
)
from infra.repositories._common import insert_or_find
from infra.states import PeriodStage, PublicityOutcome
from mutualaid.calendar import sharing_day_for
from mutualaid.claim import ClaimState
from mutualaid.errors import InputError, InvariantError
from mutualaid.share import Share

AWAITING_PUBLICITY = ClaimState.AWAITING_PUBLICITY.value


class PeriodRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def open(
        self, plan_id: str, publicity_date: date, *, rules_version: str, at: datetime
    ) -> tuple[PeriodRow, bool]:
        """The period for a plan and publicity day, created on first call. A schedule or an
        operator firing twice finds the first. Returns (period, created)."""
        return insert_or_find(
            self._session,
            PeriodRow(
                plan_id=plan_id,
                publicity_date=publicity_date,
                sharing_date=sharing_day_for(publicity_date),
                rules_version=rules_version,
                state=PeriodStage.OPEN,
                opened_at=at,
            ),
            lambda: self.get(plan_id, publicity_date),
        )

    def get(self, plan_id: str, publicity_date: date) -> PeriodRow | None:
        return self._session.scalars(
            select(PeriodRow).where(
                PeriodRow.plan_id == plan_id, PeriodRow.publicity_date == publicity_date
            )
        ).one_or_none()

    def by_id(self, period_id: int) -> PeriodRow:
        period = self._session.get(PeriodRow, period_id)
        if period is None:
            raise InputError("period", period_id, "does not exist")
        return period

    def previous(self, plan_id: str, publicity_date: date) -> PeriodRow | None:
        """The plan's latest period before this one that was not cancelled: the one its
        roster builds on and whose surplus or deficit carries."""
        return self._session.scalars(
            select(PeriodRow)
            .where(
                PeriodRow.plan_id == plan_id,
                PeriodRow.publicity_date < publicity_date,
                PeriodRow.state != PeriodStage.CANCELLED,
            )
            .order_by(PeriodRow.publicity_date.desc())
            .limit(1)
        ).one_or_none()

    def lock_plan(self, plan_id: str) -> None:
        """Serialise the steps that move a plan's chain until this transaction ends: a row lock
        on the plan on PostgreSQL; SQLite's write transactions are serial already."""
        self._session.execute(select(PlanRow.id).where(PlanRow.id == plan_id).with_for_update())

    def latest(self, plan_id: str) -> PeriodRow | None:
        """The plan's latest period that was not cancelled."""
        return self._session.scalars(
            select(PeriodRow)
            .where(PeriodRow.plan_id == plan_id, PeriodRow.state != PeriodStage.CANCELLED)
            .order_by(PeriodRow.publicity_date.desc())
            .limit(1)
        ).one_or_none()

    def cancel(self, period: PeriodRow, *, reason: str, at: datetime) -> None:
        """Mark a period cancelled (the caller has checked that no money moved). The row stays,
        with why and when, so the record of what happened is never lost."""
        period.state = PeriodStage.CANCELLED
        period.report = {
            **(period.report or {}),
            "cancelled_at": at.isoformat(),
            "cancel_reason": reason,
        }

    def list(self, *, plan_id: str | None = None) -> list[PeriodRow]:
        query = select(PeriodRow).order_by(PeriodRow.plan_id, PeriodRow.publicity_date)
        if plan_id is not None:
            query = query.where(PeriodRow.plan_id == plan_id)
        return list(self._session.scalars(query))

    def record_roster(self, period: PeriodRow, *, members: int) -> None:
        """N is locked once; locking again must find the same count."""
        if period.members is not None and period.members != members:
            raise InvariantError(
                f"period {period.workflow_id} already locked with N={period.members}, not {members}"
            )
        if period.members is not None:
            return
        period.members = members
        period.state = PeriodStage.LOCKED

    def record_share(self, period: PeriodRow, share: Share) -> None:
        """The share is fixed once; fixing it again must give the same figures."""
        if period.members is not None and period.members != share.members:
            raise InvariantError(f"share for N={share.members} but roster N={period.members}")
        if period.share_fen is not None and period.share_fen != share.share_fen:
            raise InvariantError(
                f"period {period.workflow_id} share already {period.share_fen}, "
                f"not {share.share_fen}"
            )
        if period.share_fen is not None:
            return  # fixed already with the same figures: a re-run writes nothing
        period.members = share.members
        period.aid_fen = share.aid_fen
        period.fee_fen = share.fee_fen
        period.surplus_in_fen = share.surplus_in_fen
        period.share_fen = share.share_fen
        period.state = PeriodStage.SHARE_FIXED

    def record_collection(
        self, period: PeriodRow, *, collected_fen: int, unpaid_fen: int, subsidy_fen: int
    ) -> None:
        """The money collected so far (members' debits plus operator subsidy)."""
        if period.closed_at is not None:
            return
        period.collected_fen = collected_fen
        period.unpaid_fen = unpaid_fen
        period.subsidy_fen = subsidy_fen
        period.state = PeriodStage.DEBITING

    def add_to_report(self, period: PeriodRow, extra: dict[str, Any]) -> None:
        """Add figures to the period's report (payouts, once they are known)."""
        period.report = {**(period.report or {}), **extra}

    def close(
        self,
        period: PeriodRow,
        *,
        collected_fen: int,
        unpaid_fen: int,
        subsidy_fen: int,
        surplus_out_fen: int,
        report: dict[str, Any],
        at: datetime,
    ) -> None:
        if period.closed_at is not None:
            return
        period.collected_fen = collected_fen
        period.unpaid_fen = unpaid_fen
        period.subsidy_fen = subsidy_fen
        period.surplus_out_fen = surplus_out_fen
        period.report = report
        period.state = PeriodStage.CLOSED
        period.closed_at = at


class ObjectionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, *, claim_id: str, period_id: int, objector_id: int, reason: str, at: datetime
    ) -> tuple[ObjectionRow, bool]:
        """One objection per objector, claim and period; a repeat returns the first."""
        return insert_or_find(
            self._session,
            ObjectionRow(
                claim_id=claim_id,
                period_id=period_id,
                objector_id=objector_id,
                reason=reason,
                at=at,
            ),
            lambda: self._session.scalars(
                select(ObjectionRow).where(
                    ObjectionRow.claim_id == claim_id,
                    ObjectionRow.period_id == period_id,
                    ObjectionRow.objector_id == objector_id,
                )
            ).one_or_none(),
        )

    def count(self, *, claim_id: str, period_id: int) -> int:
        return int(
            self._session.scalar(
                select(func.count(ObjectionRow.id)).where(
                    ObjectionRow.claim_id == claim_id, ObjectionRow.period_id == period_id
                )
            )
            or 0
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicityEntry:
    claim_id: str
    masked_member: str
    age: int
    condition: str
    hospital: str
    benefit_fen: int


class PublicityRepository:
    """The public list of each period's cases, and the query that finds them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def approved_before(self, plan_id: str, cutoff: datetime) -> list[ClaimRow]:
        """Claims of the plan waiting for publicity whose approval (the event that moved them
        to AwaitingPublicity) is strictly before the cut-off, oldest approval first: one
        approved at 00:00:00 exactly, racing the lock, belongs to the next period."""
        approved_at = (
            select(ClaimEventRow.claim_id, func.max(ClaimEventRow.at).label("at"))
            .where(ClaimEventRow.state == AWAITING_PUBLICITY)
            .group_by(ClaimEventRow.claim_id)
            .subquery()
        )
        rows = self._session.execute(
            select(ClaimRow, approved_at.c.at)
            .join(approved_at, approved_at.c.claim_id == ClaimRow.id)
            .where(ClaimRow.plan_id == plan_id, ClaimRow.state == AWAITING_PUBLICITY)
            .order_by(approved_at.c.at, ClaimRow.id)
        ).all()
        # Compared in Python: SQLite keeps moments as naive UTC text, so the comparison is
        # made on aware values read back through the model's type.
        return [claim for claim, at in rows if _aware(at) < cutoff]

    def publish(
        self, period_id: int, entries: list[PublicityEntry], *, share_fen: int, at: datetime
    ) -> None:
        """Put the cases on the period's list once; publishing again changes nothing."""
        for entry in entries:
            insert_or_find(
                self._session,
                PublicityEntryRow(
                    period_id=period_id,
                    claim_id=entry.claim_id,
                    masked_member=entry.masked_member,
                    age=entry.age,
                    condition=entry.condition,
                    hospital=entry.hospital,
                    benefit_fen=entry.benefit_fen,
                    provisional_share_fen=share_fen,
                    outcome=PublicityOutcome.PUBLICISED,
                    published_at=at,
                ),
                lambda e=entry: self._entry(period_id, e.claim_id),  # type: ignore[misc]
            )

    def _entry(self, period_id: int, claim_id: str) -> PublicityEntryRow | None:
        return self._session.scalars(
            select(PublicityEntryRow).where(
                PublicityEntryRow.period_id == period_id, PublicityEntryRow.claim_id == claim_id
            )
        ).one_or_none()

    def entries(self, period_id: int) -> list[PublicityEntryRow]:
        return list(
            self._session.scalars(
                select(PublicityEntryRow)
                .where(PublicityEntryRow.period_id == period_id)
                .order_by(PublicityEntryRow.id)
            )
        )

    def set_outcome(self, period_id: int, claim_id: str, outcome: PublicityOutcome) -> None:
        entry = self._entry(period_id, claim_id)
        if entry is None:
            raise InputError("claim", claim_id, f"is not on the list of period {period_id}")
        entry.outcome = outcome


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
