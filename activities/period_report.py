"""The period's report: reconciled from its ledgers once its payouts are due, stored in SQL,
and read back from there (`recorded`) so a period whose report is stored is never run again."""

from __future__ import annotations

from temporalio import activity

from activities.failures import refusals_are_final
from activities.heartbeats import beat, pulsing
from activities.period_settlement import SettlementSource
from infra.db import reading, unit_of_work
from infra.models import PeriodRow
from infra.repositories import PayoutRepository, PeriodRepository
from infra.states import PayoutState
from messages import periods as msg
from settlement.reconcile_period import reconcile_period


class PeriodReportActivities:
    def __init__(self, *, source: SettlementSource) -> None:
        self._source = source
        self._engine = source.engine

    @activity.defn(name=msg.FINAL_REPORT)
    @pulsing
    def final_report(self, request: msg.ReportRequest) -> msg.PeriodReport:
        """Reconcile the period again from its ledgers, count the payouts, store the report."""
        beat("final report")
        with refusals_are_final():
            ctx = self._source.open(request.plan_id)
            check = reconcile_period(ctx, request.publicity_date)
            beat("final report: reconciled")
            with unit_of_work(self._engine) as session:
                periods = PeriodRepository(session)
                period = periods.by_id(request.period_id)
                paid = {
                    p.claim_id: p.amount_fen
                    for p in PayoutRepository(session).for_period(request.period_id)
                    if p.state == PayoutState.PAID
                }
                missing = tuple(c for c in request.funded_claims if c not in paid)
                report = _report(
                    period,
                    cases=len(request.funded_claims),
                    payouts_made=len(paid),
                    payouts_fen=sum(paid.values()),
                    payouts_missing=missing,
                    balanced=check.balanced,
                )
                periods.add_to_report(
                    period,
                    {
                        "cases": report.cases,
                        "payouts_made": report.payouts_made,
                        "payouts_fen": report.payouts_fen,
                        "payouts_missing": list(missing),
                        "balanced": check.balanced,
                        "problems": check.problems,
                    },
                )
        return report

    @activity.defn(name=msg.RECORDED)
    @pulsing
    def recorded(self, request: msg.RecordedRequest) -> msg.Recorded:
        """What SQL says of the period: a period with a final report has run to its end."""
        with refusals_are_final(), reading(self._engine) as session:
            period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
            if period is None:
                return msg.Recorded(state=None, report=None)
            stored = period.report or {}
            if "payouts_made" not in stored or "balanced" not in stored:
                return msg.Recorded(state=period.state, report=None)
            return msg.Recorded(
                state=period.state,
                report=_report(
                    period,
                    cases=int(stored.get("cases", 0)),
                    payouts_made=int(stored["payouts_made"]),
                    payouts_fen=int(stored.get("payouts_fen", 0)),
                    payouts_missing=tuple(stored.get("payouts_missing", ())),
                    balanced=bool(stored["balanced"]),
                ),
            )


def _report(
    period: PeriodRow,
    *,
    cases: int,
    payouts_made: int,
    payouts_fen: int,
    payouts_missing: tuple[str, ...],
    balanced: bool,
) -> msg.PeriodReport:
    """The period's report: its money from the period row, its payouts as given."""
    return msg.PeriodReport(
        period=period.workflow_id,
        members=period.members or 0,
        cases=cases,
        aid_fen=period.aid_fen or 0,
        fee_fen=period.fee_fen or 0,
        surplus_in_fen=period.surplus_in_fen or 0,
        share_fen=period.share_fen or 0,
        collected_fen=period.collected_fen or 0,
        unpaid_fen=period.unpaid_fen or 0,
        subsidy_fen=period.subsidy_fen or 0,
        surplus_out_fen=period.surplus_out_fen or 0,
        payouts_made=payouts_made,
        payouts_fen=payouts_fen,
        payouts_missing=payouts_missing,
        balanced=balanced,
    )
