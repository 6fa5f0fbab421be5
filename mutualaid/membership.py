"""A member as the rules see them: who, since when, for which plan, and in what state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class MemberStatus(StrEnum):
    COVERED = "covered"
    EXITED = "exited"
    PAID_OUT = "paid_out"


class ExitReason(StrEnum):
    LEFT = "left"
    AGE_LIMIT = "age_limit"
    NON_PAYMENT = "non_payment"
    PAID_OUT = "paid_out"
    WAITING_PERIOD_DIAGNOSIS = "waiting_period_diagnosis"


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One membership. Leaving and rejoining makes a new membership with a new id."""

    member_id: int
    plan_id: str
    birth_date: date
    join_date: date
    chronic_groups: tuple[int, ...] = ()
    payer_id: int | None = None
    status: MemberStatus = MemberStatus.COVERED
    exit_date: date | None = None
    exit_reason: ExitReason | None = None

    @property
    def pays_for_self(self) -> bool:
        return self.payer_id is None or self.payer_id == self.member_id


class ChangeKind(StrEnum):
    JOIN = "join"
    EXIT = "exit"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberChange:
    """A change recorded against the member store and folded in at the next roster lock.

    A join carries the new membership; an exit carries its reason (left, age limit,
    non-payment, paid out, diagnosed in the waiting period).
    """

    plan_id: str
    member_id: int
    kind: ChangeKind
    effective_on: date
    birth_date: date | None = None
    chronic_groups: tuple[int, ...] = ()
    payer_id: int | None = None
    exit_reason: ExitReason | None = None


def apply_change(member: Member | None, change: MemberChange) -> Member | None:
    """The membership after one change. Pure; the lock and single-member look-ups share it.

    >>> joined = apply_change(None, MemberChange(plan_id="chronic", member_id=7,
    ...     kind=ChangeKind.JOIN, effective_on=date(2026, 1, 5), birth_date=date(1990, 3, 1)))
    >>> apply_change(joined, MemberChange(plan_id="chronic", member_id=7, kind=ChangeKind.EXIT,
    ...     effective_on=date(2026, 6, 1), exit_reason=ExitReason.PAID_OUT)).status
    <MemberStatus.PAID_OUT: 'paid_out'>
    """
    if change.kind is ChangeKind.JOIN:
        if member is not None:
            return member  # a replayed join changes nothing
        if change.birth_date is None:
            raise ValueError(f"join of member {change.member_id} without a birth date")
        return Member(
            member_id=change.member_id,
            plan_id=change.plan_id,
            birth_date=change.birth_date,
            join_date=change.effective_on,
            chronic_groups=change.chronic_groups,
            payer_id=change.payer_id,
        )
    if member is None or member.status is not MemberStatus.COVERED:
        return member  # exiting twice keeps the first exit
    reason = change.exit_reason or ExitReason.LEFT
    return Member(
        member_id=member.member_id,
        plan_id=member.plan_id,
        birth_date=member.birth_date,
        join_date=member.join_date,
        chronic_groups=member.chronic_groups,
        payer_id=member.payer_id,
        status=MemberStatus.PAID_OUT if reason is ExitReason.PAID_OUT else MemberStatus.EXITED,
        exit_date=change.effective_on,
        exit_reason=reason,
    )


def change_to_record(change: MemberChange) -> dict[str, object]:
    """A change as plain JSON-able values (stored in SQL, passed to shard tasks)."""
    return {
        "plan_id": change.plan_id,
        "member_id": change.member_id,
        "kind": change.kind.value,
        "effective_on": change.effective_on.isoformat(),
        "birth_date": change.birth_date.isoformat() if change.birth_date else None,
        "chronic_groups": list(change.chronic_groups),
        "payer_id": change.payer_id,
        "exit_reason": change.exit_reason.value if change.exit_reason else None,
    }


def change_from_record(record: dict[str, object]) -> MemberChange:
    birth = record["birth_date"]
    payer = record["payer_id"]
    reason = record["exit_reason"]
    groups = record["chronic_groups"]
    return MemberChange(
        plan_id=str(record["plan_id"]),
        member_id=int(str(record["member_id"])),
        kind=ChangeKind(str(record["kind"])),
        effective_on=date.fromisoformat(str(record["effective_on"])),
        birth_date=date.fromisoformat(str(birth)) if birth else None,
        chronic_groups=tuple(int(g) for g in groups) if isinstance(groups, list) else (),
        payer_id=int(str(payer)) if payer is not None else None,
        exit_reason=ExitReason(str(reason)) if reason else None,
    )
