"""A period's share, fixed once from its cleared cases, the fee and the surplus or deficit the
previous period carried; fixing it again with the same aid writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from infra.db import reading, unit_of_work
from infra.models import PeriodRow
from infra.repositories import PeriodRepository
from mutualaid.errors import ConflictError, InputError, NotYetError
from mutualaid.share import PeriodShare, Share, case_payouts, share_for_cases
from settlement.context import Settlement, period_row


def fix_share(
    ctx: Settlement,
    publicity_date: date,
    *,
    cases_fen: Sequence[int] | None = None,
    aid_fen: int | None = None,
) -> PeriodShare:
    """Fix the period's share from its cleared cases (each case's benefit, reduced under the
    plan's per-case cap), the fee and the surplus or deficit the previous period carried.
    `aid_fen` gives the aid as one amount instead, for a plan without a per-case cap. Fixing
    it again with the same aid gives the same share and writes nothing; with another aid it
    is refused."""
    with reading(ctx.db) as session:
        share, fixed = share_for(session, ctx, publicity_date, cases_fen, aid_fen)
    if not fixed:
        with unit_of_work(ctx.db) as session:
            PeriodRepository(session).record_share(
                period_row(session, ctx.plan.id, publicity_date), share.share
            )
    return share


def share_for(
    session: Session,
    ctx: Settlement,
    publicity_date: date,
    cases_fen: Sequence[int] | None,
    aid_fen: int | None,
) -> tuple[PeriodShare, bool]:
    """The period's share for this aid, checked but not written; and whether it is fixed."""
    if (cases_fen is None) == (aid_fen is None):
        raise InputError("aid_fen", aid_fen, "give either the cases' benefits or the aid")
    if aid_fen is not None and aid_fen < 0:
        raise InputError("aid_fen", aid_fen, "must not be negative")
    periods = PeriodRepository(session)
    period = period_row(session, ctx.plan.id, publicity_date)
    if period.members is None:
        raise NotYetError(
            "period",
            period.workflow_id,
            "has no locked roster; run `settle lock` first",
            waiting_for=period.workflow_id,
        )
    cap = ctx.plan.sharing.case_cap_fen
    if cases_fen is None and cap is not None and period.share_fen is None and aid_fen != 0:
        raise InputError(
            "aid_fen",
            aid_fen,
            f"cannot be capped per case: plan {ctx.plan.id} caps each case, so give each "
            "case's benefit",
        )
    if period.share_fen is not None:
        # Only the payouts are needed again; they depend on the locked N alone.
        payouts = (
            (aid_fen or 0,)
            if cases_fen is None
            else case_payouts(cases_fen, members=period.members, per_case_cap_fen=cap)
        )
        if period.aid_fen != sum(payouts):
            raise ConflictError(
                "aid_fen",
                sum(payouts),
                f"the share of {period.workflow_id} was fixed with aid {period.aid_fen}",
            )
        return PeriodShare(share=share_of(period), payouts_fen=payouts), True
    previous = periods.previous(ctx.plan.id, publicity_date)
    if previous is None:
        surplus_in = 0
    elif previous.surplus_out_fen is None:
        raise NotYetError(
            "period",
            previous.workflow_id,
            "is not closed yet, so its surplus is unknown",
            waiting_for=previous.workflow_id,
        )
    else:
        surplus_in = previous.surplus_out_fen
    cases = (aid_fen or 0,) if cases_fen is None else cases_fen
    return _sharing(ctx, cases, members=period.members, surplus_in_fen=surplus_in), False


def share_of(period: PeriodRow) -> Share:
    """The share a period's row holds, once fixed."""
    if (
        period.share_fen is None
        or period.members is None
        or period.aid_fen is None
        or period.fee_fen is None
        or period.surplus_in_fen is None
    ):
        raise InputError("period", period.workflow_id, "has no fixed share yet")
    return Share(
        aid_fen=period.aid_fen,
        fee_fen=period.fee_fen,
        surplus_in_fen=period.surplus_in_fen,
        need_fen=period.aid_fen + period.fee_fen - period.surplus_in_fen,
        members=period.members,
        share_fen=period.share_fen,
    )


def _sharing(
    ctx: Settlement, cases_fen: Sequence[int], *, members: int, surplus_in_fen: int = 0
) -> PeriodShare:
    return share_for_cases(
        cases_fen,
        surplus_in_fen=surplus_in_fen,
        members=members,
        fee_rate=ctx.plan.sharing.fee_rate,
        per_case_cap_fen=ctx.plan.sharing.case_cap_fen,
    )
