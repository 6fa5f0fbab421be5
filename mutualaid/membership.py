"""A member as the rules see them: who, since when, for which plan, and in what state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from mutualaid.errors import RefusedError


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


# Exits that end a payer's account: nobody may be attached to it afterwards. An account holder
# who aged out, was paid out or was refunded in the waiting period keeps the account and may go
# on paying for covered family members (DOMAIN, policy).
ACCOUNT_CLOSING_EXITS = frozenset({ExitReason.LEFT, ExitReason.NON_PAYMENT})


def still_attached(
    payer_id: int, attached: Iterable[Member], *, after: date | None = None
) -> list[int]:
    """The ids, in order, of the members attached to a payer who are still covered (or whose
    exit falls after `after`, when given)."""
    return sorted(
        m.member_id
        for m in attached
        if m.payer_id == payer_id
        and m.member_id != payer_id
        and (
            m.status is MemberStatus.COVERED
            or (after is not None and m.exit_date is not None and m.exit_date > after)
        )
    )


def check_change(change: MemberChange, payer: Member | None, attached: Iterable[Member]) -> None:
    """Refuse a change the family rules forbid, before it is queued. `payer` is the member the
    change is about for an exit, the paying member for a join; `attached` the members attached
    to the member who exits (with their own pending changes folded in).

    - A payer's voluntary exit (reason "left") is refused while attached members remain
      covered after its day: they must leave first, on that day at the latest.
    - A join attached to a payer is refused when that payer never joined, or left or was
      removed for non-payment (its account is closed).
    Other exits (age limit, non-payment, payout, waiting-period diagnosis) are never refused:
    the rules make them, and the payer's account goes on paying for the covered attached
    members (the kernels' debit).

    >>> payer = Member(member_id=1, plan_id="chronic", birth_date=date(1980, 1, 1),
    ...     join_date=date(2025, 1, 1))
    >>> child = Member(member_id=13, plan_id="chronic", birth_date=date(2015, 1, 1),
    ...     join_date=date(2025, 1, 1), payer_id=1)
    >>> check_change(MemberChange(plan_id="chronic", member_id=1, kind=ChangeKind.EXIT,
    ...     effective_on=date(2026, 12, 1), exit_reason=ExitReason.LEFT), payer, [child])
    Traceback (most recent call last):
    ...
    mutualaid.errors.RefusedError: member=1: attached member 13 is still covered: it must go first
    """
    if change.kind is ChangeKind.EXIT:
        if (change.exit_reason or ExitReason.LEFT) is not ExitReason.LEFT:
            return
        remaining = still_attached(change.member_id, attached, after=change.effective_on)
        if remaining:
            names = ", ".join(str(i) for i in remaining)
            reason = (
                f"attached member {names} is still covered: it must go first"
                if len(remaining) == 1
                else f"attached members {names} are still covered: they must go first"
            )
            raise RefusedError("member", change.member_id, reason)
        return
    if change.payer_id is None or change.payer_id == change.member_id:
        return
    if payer is None:
        raise RefusedError("payer", change.payer_id, "is not a member of the plan")
    if payer.exit_reason in ACCOUNT_CLOSING_EXITS and (
        payer.exit_date is None or payer.exit_date <= change.effective_on
    ):
        raise RefusedError(
            "payer",
            change.payer_id,
            f"{payer.exit_reason} on {payer.exit_date}: nobody can be attached to its account",
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
