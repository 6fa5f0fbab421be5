"""The public publicity page: each plan's latest published list, as SQL stored it masked
(masked member, age, condition, the hospital's name only, benefit), with the provisional
share, and whether objections are heard now. Nothing else of a claim is read here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import PeriodRow, PublicityEntryRow
from mutualaid.calendar import format_moment, start_of_day
from mutualaid.claim_deadlines import objection_window_end
from mutualaid.money import format_fen_grouped
from mutualaid.plan import Plan


def publicity_lists(
    session: Session, plans: dict[str, Plan], *, now: datetime
) -> list[dict[str, Any]]:
    """For each plan, the latest period with a published list."""
    latest = (
        select(PeriodRow.plan_id, func.max(PeriodRow.publicity_date).label("day"))
        .join(PublicityEntryRow, PublicityEntryRow.period_id == PeriodRow.id)
        .group_by(PeriodRow.plan_id)
        .subquery()
    )
    periods = session.scalars(
        select(PeriodRow)
        .join(
            latest,
            (latest.c.plan_id == PeriodRow.plan_id) & (latest.c.day == PeriodRow.publicity_date),
        )
        .order_by(PeriodRow.plan_id)
    ).all()
    lists = []
    for period in periods:
        plan = plans.get(period.plan_id)
        if plan is None:
            continue
        closes = objection_window_end(period.publicity_date, plan.sharing.objection_window_days)
        entries = session.scalars(
            select(PublicityEntryRow)
            .where(PublicityEntryRow.period_id == period.id)
            .order_by(PublicityEntryRow.id)
        ).all()
        lists.append(
            {
                "period": period.workflow_id,
                "plan": period.plan_id,
                "plan_name": plan.name,
                "publicity_date": period.publicity_date.isoformat(),
                "objections_open": start_of_day(period.publicity_date) <= now < closes,
                "objections_close": format_moment(closes),
                "provisional_share": format_fen_grouped(entries[0].provisional_share_fen)
                if entries
                else None,
                "cases": [public_case(e) for e in entries],
            }
        )
    return lists


def public_case(entry: PublicityEntryRow) -> dict[str, Any]:
    """A case as the published list holds it, masked when it was published, named by its
    number on the list: a claim's id holds the claimant's member id, so it is not public."""
    return {
        "case": entry.id,
        "member": entry.masked_member,
        "age": entry.age,
        "condition": entry.condition,
        "hospital": entry.hospital,
        "benefit": format_fen_grouped(entry.benefit_fen),
        "outcome": entry.outcome.value,
    }


def publicity_case(session: Session, case: int) -> tuple[str, str] | None:
    """The claim and plan of a case on a public list, by its number there."""
    row = session.execute(
        select(PublicityEntryRow.claim_id, PeriodRow.plan_id)
        .join(PeriodRow, PeriodRow.id == PublicityEntryRow.period_id)
        .where(PublicityEntryRow.id == case)
    ).first()
    return (row[0], row[1]) if row is not None else None
