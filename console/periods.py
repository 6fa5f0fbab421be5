"""Periods as the console shows them, from SQL (and a running debit's done markers): each
period's money, its cases and payouts, and the share per period as a chart."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.publicity import public_case
from infra.models import (
    DebitRunRow,
    PayoutRow,
    PeriodRow,
    PublicityEntryRow,
)
from infra.states import DebitRunState
from mutualaid.calendar import format_moment
from mutualaid.clock import ProgramClock
from mutualaid.errors import MutualAidError
from mutualaid.money import format_fen_grouped
from settlement.progress import DebitProgress, debit_progress


def _money(amount: int | None) -> str | None:
    return format_fen_grouped(amount) if amount is not None else None


def period_summary(period: PeriodRow, payouts: tuple[int, int]) -> dict[str, Any]:
    """A period's report: its money as SQL holds it, and the payouts made so far."""
    surplus = period.surplus_out_fen
    report = period.report or {}
    return {
        "period": period.workflow_id,
        "plan": period.plan_id,
        "publicity_date": period.publicity_date.isoformat(),
        "sharing_date": period.sharing_date.isoformat(),
        "stage": period.state.value,
        "members": period.members,
        "cases": report.get("cases"),
        "aid": _money(period.aid_fen),
        "fee": _money(period.fee_fen),
        "surplus_in": _money(period.surplus_in_fen),
        "share": _money(period.share_fen),
        "share_fen": period.share_fen,
        "collected": _money(period.collected_fen),
        "unpaid": _money(period.unpaid_fen),
        "subsidy": _money(period.subsidy_fen),
        "surplus_out": _money(surplus if surplus is None or surplus >= 0 else None),
        "deficit_out": _money(-surplus if surplus is not None and surplus < 0 else None),
        "payouts": payouts[0],
        "paid_out": format_fen_grouped(payouts[1]),
        "balanced": report.get("balanced"),
    }


def _payouts(session: Session) -> dict[int, tuple[int, int]]:
    rows = session.execute(
        select(PayoutRow.period_id, func.count(), func.coalesce(func.sum(PayoutRow.amount_fen), 0))
        .where(PayoutRow.paid_at.is_not(None))
        .group_by(PayoutRow.period_id)
    ).all()
    return {period_id: (count, int(total)) for period_id, count, total in rows}


def period_list(session: Session) -> list[dict[str, Any]]:
    """Every period, the latest first."""
    payouts = _payouts(session)
    periods = session.scalars(
        select(PeriodRow).order_by(PeriodRow.publicity_date.desc(), PeriodRow.plan_id)
    )
    return [period_summary(p, payouts.get(p.id, (0, 0))) for p in periods]


def find_period(session: Session, plan_id: str, publicity_date: date) -> PeriodRow | None:
    return session.scalars(
        select(PeriodRow).where(
            PeriodRow.plan_id == plan_id, PeriodRow.publicity_date == publicity_date
        )
    ).one_or_none()


def period_detail(
    session: Session, period: PeriodRow, store_root: str, clock: ProgramClock
) -> dict[str, Any]:
    """A period's report with its cases, payouts and debit runs (a running one's progress)."""
    payouts = list(
        session.scalars(
            select(PayoutRow).where(PayoutRow.period_id == period.id).order_by(PayoutRow.claim_id)
        )
    )
    paid = [p for p in payouts if p.paid_at is not None]
    summary = period_summary(period, (len(paid), sum(p.amount_fen for p in paid)))
    entries = session.scalars(
        select(PublicityEntryRow)
        .where(PublicityEntryRow.period_id == period.id)
        .order_by(PublicityEntryRow.id)
    )
    return summary | {
        # Staff's page: each case with its claim.
        "cases_listed": [public_case(e) | {"claim": e.claim_id} for e in entries],
        "payout_list": [
            {
                "claim": p.claim_id,
                "amount": format_fen_grouped(p.amount_fen),
                "state": p.state.value,
                "reference": p.reference,
            }
            for p in payouts
        ],
        "runs": debit_runs(session, period, store_root, clock),
    }


def debit_runs(
    session: Session, period: PeriodRow, store_root: str, clock: ProgramClock
) -> list[dict[str, Any]]:
    """A period's debit runs, a running one with its progress from the store."""
    runs = session.scalars(
        select(DebitRunRow).where(DebitRunRow.period_id == period.id).order_by(DebitRunRow.attempt)
    )
    return [_run(run, period, store_root, clock) for run in runs]


def _run(
    run: DebitRunRow, period: PeriodRow, store_root: str, clock: ProgramClock
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attempt": run.attempt,
        "state": run.state.value,
        "members": run.members,
        "paid": _money(run.paid_fen),
        "unpaid": _money(run.unpaid_fen),
        "subsidy": _money(run.subsidy_fen),
        "planned_at": format_moment(run.planned_at),
        "committed_at": format_moment(run.committed_at) if run.committed_at else None,
    }
    if run.state is DebitRunState.PLANNED:
        try:
            progress = debit_progress(
                store_root,
                period.plan_id,
                period.publicity_date,
                run.attempt,
                int(run.frozen_plan.get("shards", 0)),
            )
        except (OSError, MutualAidError) as exc:
            # The page still answers when the store does not: the progress says why.
            row["progress_unknown"] = f"the store did not answer ({type(exc).__name__})"
            return row
        row["progress"] = {
            "shards_done": progress.shards_done,
            "shards": progress.shards,
            "members_done": progress.members_done,
            "members_per_second": _rate(progress, clock.real_at(run.planned_at)),
        }
    return row


def _rate(progress: DebitProgress, started: datetime) -> int | None:
    """Members debited a second, from the run's plan being frozen (its program moment on the
    deployment's clock) to its latest shard done; None before a shard is done."""
    if progress.last_done_at is None:
        return None
    seconds = (progress.last_done_at - started).total_seconds()
    return round(progress.members_done / seconds) if seconds > 0 else None


def share_chart(periods: list[dict[str, Any]], *, width: int = 640, height: int = 220) -> str:
    """The share per period as an SVG bar chart (oldest on the left), drawn on the server:
    no script, nothing fetched, readable without a browser's help. Every text in it is
    escaped (the page includes it as markup)."""
    bars = [p for p in reversed(periods) if p["share_fen"] is not None]
    if not bars:
        return ""
    top = max(p["share_fen"] for p in bars) or 1
    pad_left, pad_bottom, pad_top = 48, 56, 16
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    step = plot_w / len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Share per period, in yuan">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" '
        f'y2="{pad_top + plot_h}" class="axis"/>',
        f'<text x="4" y="{pad_top + 10}" class="tick">{escape(format_fen_grouped(top))}</text>',
        f'<text x="4" y="{pad_top + plot_h}" class="tick">0</text>',
    ]
    for i, p in enumerate(bars):
        h = plot_h * p["share_fen"] / top
        x = pad_left + i * step + step * 0.15
        y = pad_top + plot_h - h
        label = p["publicity_date"][5:]
        period, share, plan = escape(p["period"]), escape(p["share"]), escape(p["plan"])
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{period}: {share} yuan</title></rect>'
            f'<text x="{x + step * 0.35:.1f}" y="{y - 4:.1f}" class="value">{share}</text>'
            f'<text x="{x + step * 0.35:.1f}" y="{pad_top + plot_h + 16}" class="label">'
            f"{plan} {escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
