"""A period's money after each committed debit attempt, its close on the last one (the
surplus or deficit carried, the closing report), and the snapshot a closed period ends on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from infra.models import PeriodRow
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.errors import IntegrityError, InvariantError
from mutualaid.share import Share, surplus_out
from settlement.run_plan import RunPlan


def final_snapshot(session: Session, period: PeriodRow) -> str:
    """The last snapshot of a closed period: its last committed debit attempt's output."""
    committed = DebitRunRepository(session).committed(period.id)
    if not committed:
        raise IntegrityError("period", period.workflow_id, "is closed but has no committed debit")
    last = max(committed, key=lambda r: r.attempt)
    source = f"debit run {period.workflow_id} attempt {last.attempt}"
    return RunPlan.output_snapshot_of(last.frozen_plan, source=source)


def record_period_money(
    session: Session,
    period: PeriodRow,
    share: Share,
    *,
    final: bool,
    removed: int,
    now: datetime,
) -> None:
    """Record what the committed attempts collected; the final attempt closes the period,
    after checking collected + unpaid == share x N, with the surplus or deficit it carries
    and its closing report. `removed`: the members the final attempt removed."""
    committed = DebitRunRepository(session).committed(period.id)
    paid = sum(r.paid_fen or 0 for r in committed)
    subsidy = sum(r.subsidy_fen or 0 for r in committed)
    latest = max(committed, key=lambda r: r.attempt)
    unpaid = latest.unpaid_fen or 0
    collected = paid + subsidy
    periods = PeriodRepository(session)
    if not final:
        periods.record_collection(
            period, collected_fen=collected, unpaid_fen=unpaid, subsidy_fen=subsidy
        )
        return
    surplus = surplus_out(
        collected_fen=collected,
        aid_fen=share.aid_fen,
        fee_fen=share.fee_fen,
        surplus_in_fen=share.surplus_in_fen,
    )
    if collected + unpaid != share.billed_fen:
        raise InvariantError(
            f"period {period.workflow_id}: collected {collected} + unpaid {unpaid} "
            f"!= share x N {share.billed_fen}"
        )
    report = {
        "plan": period.plan_id,
        "publicity_date": period.publicity_date.isoformat(),
        "sharing_date": period.sharing_date.isoformat(),
        "rules_version": period.rules_version,
        "members": share.members,
        "aid_fen": share.aid_fen,
        "fee_fen": share.fee_fen,
        "surplus_in_fen": share.surplus_in_fen,
        "share_fen": share.share_fen,
        "billed_fen": share.billed_fen,
        "paid_by_members_fen": paid,
        "operator_subsidy_fen": subsidy,
        "collected_fen": collected,
        "unpaid_fen": unpaid,
        "surplus_out_fen": surplus,
        "removed_members": removed,
        "attempts": len(committed),
    }
    periods.close(
        period,
        collected_fen=collected,
        unpaid_fen=unpaid,
        subsidy_fen=subsidy,
        surplus_out_fen=surplus,
        report=report,
        at=now,
    )
