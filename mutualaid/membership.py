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
