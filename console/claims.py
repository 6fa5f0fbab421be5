"""The claims pipeline as the console shows it, from SQL: counts by plan and state, the
open work with the overdue first, and one claim with its history.

Counts and pages come from the claims table's indexes (plan, state, overdue; overdue,
state since), so the pipeline answers the same with a hundred claims or a hundred thousand.
The overdue mark is the claim workflow's own (its SLA timer's note in the history)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVarTuple

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from infra.models import ClaimEventRow, ClaimRow, ObjectionRow, PayoutRow, PeriodRow
from messages import claims as msg
from mutualaid.calendar import format_moment, parse_date
from mutualaid.claim import TERMINAL, ClaimState
from mutualaid.errors import InputError
from mutualaid.money import format_fen_grouped

PAGE_SIZE = 50
Row = TypeVarTuple("Row")
_PERIOD_KEY = re.compile(r"period-(?P<plan>[A-Za-z0-9_-]+)-(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})")
_PAGE = re.compile(r"[0-9]{1,7}")
_OPEN_STATES = tuple(s.value for s in ClaimState if s not in TERMINAL)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimFilter:
    state: str | None = None
    plan_id: str | None = None
    period: str | None = None  # period-<plan>-<date>
    overdue: bool | None = None
    page: int = 1

    def query_string(self, **change: Any) -> str:
        """The filter as URL parameters, with some changed (the pager's links)."""
        values = {
            "state": self.state,
            "plan": self.plan_id,
            "period": self.period,
            "overdue": None if self.overdue is None else str(self.overdue).lower(),
            "page": self.page,
        } | change
        return "&".join(f"{k}={v}" for k, v in values.items() if v not in (None, ""))


def parse_filter(params: Mapping[str, str], plan_ids: set[str]) -> ClaimFilter:
    """The pipeline's filters as typed in a URL, each checked (one error naming it)."""
    state = params.get("state") or None
    if state is not None and state not in {s.value for s in ClaimState}:
        raise InputError("state", state, "is not a claim state (" + ", ".join(ClaimState) + ")")
    plan_id = params.get("plan") or None
    if plan_id is not None and plan_id not in plan_ids:
        raise InputError(
            "plan", plan_id, "is not a known plan (" + ", ".join(sorted(plan_ids)) + ")"
        )
    period = params.get("period") or None
    if period is not None:
        found = _PERIOD_KEY.fullmatch(period)
        if found is None:
            raise InputError("period", period, "must be period-<plan>-<YYYY-MM-DD>")
        parse_date(found["day"], field="period")
    overdue_text = params.get("overdue") or None
    overdue: bool | None = None
    if overdue_text is not None:
        if overdue_text not in ("true", "false"):
            raise InputError("overdue", overdue_text, "must be true or false")
        overdue = overdue_text == "true"
    page_text = params.get("page") or "1"
    if not _PAGE.fullmatch(page_text) or not 1 <= int(page_text) <= 10**6:
        raise InputError("page", page_text, "must be a page number from 1")
    return ClaimFilter(
        state=state, plan_id=plan_id, period=period, overdue=overdue, page=int(page_text)
    )


def pipeline_counts(session: Session) -> list[dict[str, Any]]:
    """Claims by plan and state, with how many of them are overdue (one indexed scan)."""
    rows = session.execute(
        select(
            ClaimRow.plan_id,
            ClaimRow.state,
            func.count(),
            func.count().filter(ClaimRow.overdue.is_(True)),
        )
        .group_by(ClaimRow.plan_id, ClaimRow.state)
        .order_by(ClaimRow.plan_id, ClaimRow.state)
    ).all()
    return [
        {"plan": plan, "state": state, "claims": claims, "overdue": overdue}
        for plan, state, claims, overdue in rows
    ]


def _filtered(query: Select[*Row], f: ClaimFilter, period_id: int | None) -> Select[*Row]:
    if f.state is not None:
        query = query.where(ClaimRow.state == f.state)
    else:
        query = query.where(ClaimRow.state.in_(_OPEN_STATES))
    if f.plan_id is not None:
        query = query.where(ClaimRow.plan_id == f.plan_id)
    if f.period is not None:
        # A period that does not exist has no claims (not the claims without a period).
        query = query.where(ClaimRow.period_id == period_id if period_id is not None else false())
    if f.overdue is not None:
        query = query.where(ClaimRow.overdue.is_(f.overdue))
    return query


def _period_id(session: Session, key: str) -> int | None:
    found = _PERIOD_KEY.fullmatch(key)
    if found is None:
        return None
    return session.scalar(
        select(PeriodRow.id).where(
            PeriodRow.plan_id == found["plan"],
            PeriodRow.publicity_date == date.fromisoformat(found["day"]),
        )
    )


def claim_page(session: Session, f: ClaimFilter) -> dict[str, Any]:
    """One page of claims (open ones unless a state is asked for): overdue first, then the
    longest waiting in their state."""
    period_id = _period_id(session, f.period) if f.period is not None else None
    total = session.scalar(_filtered(select(func.count()).select_from(ClaimRow), f, period_id))
    # The page's ids first, from the pipeline's indexes alone (a deep page skips index
    # entries, not rows), then those rows.
    ids = list(
        session.scalars(
            _filtered(select(ClaimRow.id), f, period_id)
            .order_by(ClaimRow.overdue.desc(), ClaimRow.state_since, ClaimRow.id)
            .limit(PAGE_SIZE)
            .offset((f.page - 1) * PAGE_SIZE)
        )
    )
    found = {
        claim.id: (claim, plan, day)
        for claim, plan, day in session.execute(
            select(ClaimRow, PeriodRow.plan_id, PeriodRow.publicity_date)
            .outerjoin(PeriodRow, PeriodRow.id == ClaimRow.period_id)
            .where(ClaimRow.id.in_(ids))
        ).all()
    }
    rows = [found[claim_id] for claim_id in ids]
    pages = max(1, -(-(total or 0) // PAGE_SIZE))
    return {
        "total": total or 0,
        "page": f.page,
        "pages": pages,
        "claims": [
            {
                "claim": claim.id,
                "plan": claim.plan_id,
                "state": claim.state,
                "overdue": claim.overdue,
                "in_state_since": format_moment(claim.state_since),
                "benefit": format_fen_grouped(claim.benefit_fen)
                if claim.benefit_fen is not None
                else None,
                "period": msg.period_key(plan, day) if plan is not None else None,
                "reported": format_moment(claim.reported_at),
            }
            for claim, plan, day in rows
        ],
    }


def claim_detail(session: Session, claim_id: str) -> dict[str, Any] | None:
    """One claim for staff: its record, every event of its history, its objections and its
    payout. Staff see the claim in full; nothing here is shown to the public."""
    claim = session.get(ClaimRow, claim_id)
    if claim is None:
        return None
    period = session.get(PeriodRow, claim.period_id) if claim.period_id is not None else None
    events = session.scalars(
        select(ClaimEventRow).where(ClaimEventRow.claim_id == claim_id).order_by(ClaimEventRow.seq)
    )
    objections = session.scalars(
        select(ObjectionRow).where(ObjectionRow.claim_id == claim_id).order_by(ObjectionRow.at)
    )
    payout = session.scalars(select(PayoutRow).where(PayoutRow.claim_id == claim_id)).first()
    return {
        "claim": claim.id,
        "workflow": msg.workflow_id(claim.id),
        "plan": claim.plan_id,
        "rules_version": claim.rules_version,
        "member": claim.member_id,
        "condition": claim.condition,
        "diagnosis_date": claim.diagnosis_date.isoformat(),
        "hospital": claim.hospital,
        "state": claim.state,
        "overdue": claim.overdue,
        "in_state_since": format_moment(claim.state_since),
        "benefit": format_fen_grouped(claim.benefit_fen) if claim.benefit_fen is not None else None,
        "period": period.workflow_id if period is not None else None,
        "period_link": f"/periods/{period.plan_id}/{period.publicity_date.isoformat()}"
        if period is not None
        else None,
        "reported": format_moment(claim.reported_at),
        "timeline": [
            {
                "seq": e.seq,
                "at": format_moment(e.at),
                "event": e.kind,
                "state": e.state,
                "actor": e.actor,
                "note": str(e.detail.get("reason", "")) if e.detail else "",
            }
            for e in events
        ],
        "objections": [
            {"at": format_moment(o.at), "member": o.objector_id, "reason": o.reason}
            for o in objections
        ],
        "payout": None
        if payout is None
        else {
            "amount": format_fen_grouped(payout.amount_fen),
            "state": payout.state.value,
            "reference": payout.reference,
            "paid_at": format_moment(payout.paid_at) if payout.paid_at else None,
        },
    }
