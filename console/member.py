"""A member's own page: status, waiting period, the benefit at their age today, every share
debited with its period, and the family paying through one account. Read for the member
signed in only (`mutualaid.access`): the console never takes a member id from a URL."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import DebitRunRow, PeriodRow, ShardCommitRow
from infra.states import DebitRunState
from mutualaid.calendar import age_on, waiting_period_last_day
from mutualaid.membership import Member
from mutualaid.money import format_fen_grouped
from mutualaid.plan import Plan
from settlement.members import attached_members, current_member
from settlement.progress import member_charges
from settlement.store import MemberStore


def _person(member: Member) -> dict[str, Any]:
    return {
        "member": member.member_id,
        "status": member.status.value,
        "joined": member.join_date.isoformat(),
        "exited": member.exit_date.isoformat() if member.exit_date else None,
    }


def member_page(
    session: Session, store_root: str, plan: Plan, member_id: int, *, today: date
) -> dict[str, Any] | None:
    member = current_member(store_root, session, plan.id, member_id)
    if member is None:
        return None
    age = age_on(member.birth_date, today)
    benefit = plan.benefit_for_age(age)
    payer = member.payer_id if member.payer_id is not None else member.member_id
    family = attached_members(store_root, session, plan.id, payer)
    if payer != member.member_id:
        found = current_member(store_root, session, plan.id, payer)
        family = ([found] if found is not None else []) + family
    return _person(member) | {
        "plan": plan.id,
        "plan_name": plan.name,
        "birth_date": member.birth_date.isoformat(),
        "age": age,
        "waiting_period_ends": waiting_period_last_day(
            member.join_date, plan.coverage.waiting_days
        ).isoformat(),
        "benefit_today": format_fen_grouped(benefit) if benefit is not None else None,
        "pays_for_self": member.pays_for_self,
        "payer": payer,
        "family": [_person(m) for m in family if m.member_id != member.member_id],
        "shares": share_history(session, store_root, plan.id, member.member_id),
    }


def share_history(
    session: Session, store_root: str, plan_id: str, member_id: int
) -> list[dict[str, Any]]:
    """Every committed debit of the member, with its period, from the runs' ledgers (each
    run's file for the member's shard, as SQL recorded it at the commit)."""
    if not MemberStore.exists(store_root, plan_id):
        return []
    shard = MemberStore.open(store_root, plan_id).shard_of(member_id)
    runs = session.execute(
        select(PeriodRow, DebitRunRow, ShardCommitRow.ledger_path)
        .join(DebitRunRow, DebitRunRow.period_id == PeriodRow.id)
        .join(ShardCommitRow, ShardCommitRow.run_id == DebitRunRow.id)
        .where(
            PeriodRow.plan_id == plan_id,
            DebitRunRow.state == DebitRunState.COMMITTED,
            ShardCommitRow.shard == shard,
        )
        .order_by(PeriodRow.publicity_date, DebitRunRow.attempt)
    ).all()
    history = []
    for period, run, ledger_path in runs:
        for charge in member_charges(store_root, plan_id, ledger_path, member_id):
            history.append(
                {
                    "period": period.workflow_id,
                    "sharing_date": period.sharing_date.isoformat(),
                    "attempt": run.attempt,
                    "share": format_fen_grouped(charge.share_fen),
                    "charged": format_fen_grouped(charge.charge_fen),
                    "paid": format_fen_grouped(charge.paid_fen),
                    "subsidy": format_fen_grouped(charge.subsidy_fen),
                    "unpaid": format_fen_grouped(charge.unpaid_fen),
                    "removed": charge.removed,
                }
            )
    return history
