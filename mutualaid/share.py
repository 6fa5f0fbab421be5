"""The period's share: everyone pays the same, rounded up to the fen.

    share = ceil_to_fen((aid + fee - surplus) / N)

Rounding up leaves a small surplus that lowers the next period's share; failed debits eat
into it and can turn it into a deficit, which is carried forward the same way (a negative
surplus raises the next need).

>>> s = compute_share(aid_fen=30_000_000, surplus_in_fen=0, members=1_000_000,
...                   fee_rate=Fraction(8, 100))
>>> s.fee_fen, s.share_fen, s.expected_surplus_out_fen
(2400000, 33, 600000)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from mutualaid.errors import InputError, InvariantError
from mutualaid.money import Fen, apply_rate_floor, ceil_div


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    aid_fen: int
    fee_fen: int
    surplus_in_fen: int
    need_fen: int
    members: int
    share_fen: int

    @property
    def billed_fen(self) -> int:
        """share x N: what the period bills, whoever ends up paying it."""
        return self.share_fen * self.members

    @property
    def expected_surplus_out_fen(self) -> int:
        """The surplus if every bill were paid in full (members or operator subsidy)."""
        return surplus_out(
            collected_fen=self.billed_fen,
            aid_fen=self.aid_fen,
            fee_fen=self.fee_fen,
            surplus_in_fen=self.surplus_in_fen,
        )


def management_fee(aid_fen: int, fee_rate: Fraction) -> Fen:
    """The operator's fee on top of the aid, rounded down to the fen (members never pay a
    part-fen of fee)."""
    return apply_rate_floor(aid_fen, fee_rate)


# The largest amount the ledgers (int64) and SQL (BIGINT) can hold.
MAX_FEN = 2**63 - 1


def compute_share(*, aid_fen: int, surplus_in_fen: int, members: int, fee_rate: Fraction) -> Share:
    """The share every covered member owes this period. A need at or below zero (the carried
    surplus covers it all) gives a share of 0."""
    if aid_fen < 0:
        raise InputError("aid_fen", aid_fen, "must not be negative")
    if aid_fen > MAX_FEN:
        raise InputError("aid_fen", aid_fen, f"must be below 2^63 fen ({MAX_FEN})")
    if members < 0:
        raise InputError("members", members, "must not be negative")
    fee = management_fee(aid_fen, fee_rate)
    need = aid_fen + fee - surplus_in_fen
    if need > 0 and members == 0:
        raise InputError("members", members, f"cannot share a need of {need} fen among nobody")
    share = ceil_div(need, members) if need > 0 else 0
    if share * members > MAX_FEN or need > MAX_FEN:
        # Ledgers and SQL hold money as 64-bit integers: refuse before anything is written.
        raise InputError(
            "aid_fen",
            aid_fen,
            f"gives a share of {share} fen x {members} members, beyond 64-bit fen ({MAX_FEN})",
        )
    return Share(
        aid_fen=aid_fen,
        fee_fen=fee,
        surplus_in_fen=surplus_in_fen,
        need_fen=need,
        members=members,
        share_fen=share,
    )


def surplus_out(*, collected_fen: int, aid_fen: int, fee_fen: int, surplus_in_fen: int) -> int:
    """collected - (aid + fee - surplus_in): positive carries a surplus, negative a deficit."""
    return collected_fen - (aid_fen + fee_fen - surplus_in_fen)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapSplit:
    charge_fen: int
    subsidy_fen: int


def split_at_annual_cap(
    *, share_fen: int, paid_this_year_fen: int, annual_cap_fen: int
) -> CapSplit:
    """What a member is charged and what the operator covers so the year stays under the cap.

    >>> split_at_annual_cap(share_fen=500, paid_this_year_fen=18_600, annual_cap_fen=18_800)
    CapSplit(charge_fen=200, subsidy_fen=300)
    """
    if share_fen < 0 or paid_this_year_fen < 0:
        raise InvariantError(f"negative share {share_fen} or paid {paid_this_year_fen}")
    headroom = max(0, annual_cap_fen - paid_this_year_fen)
    charge = min(share_fen, headroom)
    return CapSplit(charge_fen=charge, subsidy_fen=share_fen - charge)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodShare:
    """A period's share together with what each of its cases is paid (in the cases' order)."""

    share: Share
    payouts_fen: tuple[int, ...]


def share_for_cases(
    benefits_fen: Sequence[int],
    *,
    surplus_in_fen: int,
    members: int,
    fee_rate: Fraction,
    per_case_cap_fen: int | None,
) -> PeriodShare:
    """The period's share from its cleared cases. With the per-case cap on (`per_case_cap_fen`
    is the most one case may cost a member), the cases are first reduced under it; the aid is
    what the cases are then paid.

    >>> p = share_for_cases([30_000_000, 10_000_000], surplus_in_fen=0, members=100_000,
    ...                     fee_rate=Fraction(8, 100), per_case_cap_fen=10)
    >>> p.payouts_fen, p.share.aid_fen, p.share.share_fen
    ((1000000, 333333), 1333333, 15)
    """
    payouts = case_payouts(benefits_fen, members=members, per_case_cap_fen=per_case_cap_fen)
    share = compute_share(
        aid_fen=sum(payouts), surplus_in_fen=surplus_in_fen, members=members, fee_rate=fee_rate
    )
    return PeriodShare(share=share, payouts_fen=payouts)


def case_payouts(
    benefits_fen: Sequence[int], *, members: int, per_case_cap_fen: int | None
) -> tuple[int, ...]:
    """What each case is paid: its benefit, or less under the per-case cap when there is one
    (`per_case_cap_fen` None: no cap)."""
    for benefit in benefits_fen:
        if benefit < 0:
            raise InputError("benefit_fen", benefit, "must not be negative")
    if per_case_cap_fen is None:
        return tuple(benefits_fen)
    return tuple(
        payable_under_case_cap(benefits_fen, members=members, per_member_cap_fen=per_case_cap_fen)
    )


def payable_under_case_cap(
    benefits_fen: Sequence[int], *, members: int, per_member_cap_fen: int
) -> list[int]:
    """Payouts when the per-case cap is on: no case may cost a member more than the cap, so a
    case's payout is at most cap x N; when that binds, every case is reduced by the same
    fraction (pro rata, rounded down to the fen).

    >>> payable_under_case_cap([30_000_000, 10_000_000], members=100_000, per_member_cap_fen=10)
    [1000000, 333333]
    """
    if not benefits_fen:
        return []
    limit = per_member_cap_fen * members
    largest = max(benefits_fen)
    if largest <= limit:
        return list(benefits_fen)
    ratio = Fraction(limit, largest)
    return [int(b * ratio) for b in benefits_fen]
