"""The debit kernel's annual cap is the core's `split_at_annual_cap`, fen for fen.

Random shards (families of a payer and attached members, paid_year on both sides of the year
boundary, paid-this-year near, at and above the cap, shares from 0 to past the cap, funds that
make some debits fail) go through `debit_shard` (attempt 0); every roster row's charge,
subsidy and next (paid_year, paid_this_year_fen) must be what the core says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.plans import builtin_plan_sources
from mutualaid.membership import ExitReason, Member, MemberStatus
from mutualaid.share import split_at_annual_cap
from settlement.kernels import DebitParams, debit_shard, on_roster
from settlement.schema import MEMBERS, member_to_row

CAP = next(s.plan for s in builtin_plan_sources() if s.plan.id == "chronic").sharing.annual_cap_fen
# Sharing days (the year the cap counts in is the sharing day's); the second and third have
# their publicity day in the previous year.
SHARING_DAYS = (date(2026, 12, 14), date(2027, 1, 4), date(2027, 1, 7))
# Each family takes ids payer, payer + 1, ...
FAMILY_IDS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    member_id: int
    payer_id: int
    join_date: date
    exit_date: date | None = None
    funds_fen: int = 0
    paid_year: int
    paid_this_year_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    accounts: tuple[Account, ...]
    params: DebitParams

    def table(self) -> pa.Table:
        rows = []
        for a in self.accounts:
            member = Member(
                member_id=a.member_id,
                plan_id="chronic",
                birth_date=date(1980, 3, 3),
                join_date=a.join_date,
                chronic_groups=(1,),
                payer_id=None if a.payer_id == a.member_id else a.payer_id,
                status=MemberStatus.COVERED if a.exit_date is None else MemberStatus.EXITED,
                exit_date=a.exit_date,
                exit_reason=None if a.exit_date is None else ExitReason.LEFT,
            )
            rows.append(
                member_to_row(member, funds_fen=a.funds_fen)
                | {"paid_year": a.paid_year, "paid_this_year_fen": a.paid_this_year_fen}
            )
        return pa.Table.from_pylist(rows, schema=MEMBERS)


def debit_params(*, sharing: date, share_fen: int, annual_cap_fen: int = CAP) -> DebitParams:
    return DebitParams(
        publicity_date=sharing - timedelta(days=7),
        attempt=0,
        share_fen=share_fen,
        annual_cap_fen=annual_cap_fen,
        year=sharing.year,
        remove_unpaid_on=None,
    )


@st.composite
def shards(draw: st.DrawFn) -> Shard:
    sharing = draw(st.sampled_from(SHARING_DAYS))
    publicity = sharing - timedelta(days=7)
    year = sharing.year
    cap = draw(st.one_of(st.just(CAP), st.integers(0, 3 * CAP)))
    share = draw(
        st.one_of(
            st.sampled_from([0, 1, 470, max(cap - 1, 0), cap, cap + 1, 2 * cap + 3]),
            st.integers(0, 3 * cap + 10),
        )
    )
    paid = st.one_of(
        st.sampled_from([0, max(cap - share, 0), max(cap - 1, 0), cap, cap + 1, 2 * cap]),
        st.integers(max(cap - 2 * share - 2, 0), cap + share + 2),
        st.integers(0, 3 * cap + 10),
    )
    accounts = []
    for f in range(draw(st.integers(1, 12))):
        payer = 1 + FAMILY_IDS * f
        size = draw(st.integers(1, 4))
        # From nothing to more than the whole family can owe: some debits fail, some don't.
        funds = draw(st.one_of(st.just(0), st.integers(0, (size + 1) * max(share, 1))))
        for k in range(size):
            exit_day = draw(st.one_of(st.none(), st.none(), st.integers(-3, 3)))
            accounts.append(
                Account(
                    member_id=payer + k,
                    payer_id=payer,
                    join_date=publicity - timedelta(days=draw(st.integers(-2, 400))),
                    exit_date=None if exit_day is None else publicity + timedelta(days=exit_day),
                    funds_fen=funds if k == 0 else 0,
                    paid_year=draw(st.sampled_from([year - 1, year, year, year - 2])),
                    paid_this_year_fen=draw(paid),
                )
            )
    return Shard(
        accounts=tuple(accounts),
        params=debit_params(sharing=sharing, share_fen=share, annual_cap_fen=cap),
    )


Rows = dict[int, dict[str, Any]]


def assert_the_kernel_caps_like_the_core(shard: Shard) -> tuple[Rows, Rows]:
    """Run the kernel on the shard and hold every row to the core's split; returns the ledger
    rows and the next accounts, by member id."""
    params = shard.params
    accounts = shard.table()
    ledger, after, _ = debit_shard(accounts, params, shard=0)
    billed = dict(
        zip(
            accounts["member_id"].to_pylist(),
            on_roster(accounts, params.publicity_date).tolist(),
            strict=True,
        )
    )
    lines = {row["member_id"]: row for row in ledger.to_pylist()}
    next_rows = {row["member_id"]: row for row in after.to_pylist()}
    assert set(lines) == {m for m, on in billed.items() if on}
    assert set(next_rows) == set(billed)
    for a in shard.accounts:
        now = next_rows[a.member_id]
        if not billed[a.member_id]:
            assert (now["paid_year"], now["paid_this_year_fen"]) == (
                a.paid_year,
                a.paid_this_year_fen,
            )
            continue
        # Money paid in an earlier year does not count toward this year's cap.
        already = a.paid_this_year_fen if a.paid_year == params.year else 0
        want = split_at_annual_cap(
            share_fen=params.share_fen,
            paid_this_year_fen=already,
            annual_cap_fen=params.annual_cap_fen,
        )
        line = lines[a.member_id]
        assert (line["charge_fen"], line["subsidy_fen"]) == (want.charge_fen, want.subsidy_fen), a
        assert (now["paid_year"], now["paid_this_year_fen"]) == (
            params.year,
            already + want.charge_fen,
        ), a
        # The cap decides what is charged; the payer's funds only whether it is collected.
        assert line["paid_fen"] in (0, want.charge_fen)
        assert line["paid_fen"] + line["unpaid_fen"] == want.charge_fen
    return lines, next_rows


@settings(max_examples=100, deadline=None)
@given(shard=shards())
def test_the_kernel_charges_and_subsidises_every_roster_member_as_the_core_does(
    shard: Shard,
) -> None:
    assert_the_kernel_caps_like_the_core(shard)


@pytest.mark.slow
@settings(max_examples=2_000, deadline=None)
@given(shard=shards())
def test_the_kernel_caps_like_the_core_on_many_more_shards(shard: Shard) -> None:
    assert_the_kernel_caps_like_the_core(shard)


def one_family(sharing: date, *, funds_fen: int, paid: list[tuple[int, int]]) -> Shard:
    """A family billed 470 fen: the payer, then attached members in joining order, with each
    one's (paid_year, paid_this_year_fen) from `paid`; the payer's account holds funds_fen."""
    publicity = sharing - timedelta(days=7)
    return Shard(
        accounts=tuple(
            Account(
                member_id=1 + k,
                payer_id=1,
                join_date=publicity - timedelta(days=300 - 100 * k),
                funds_fen=funds_fen if k == 0 else 0,
                paid_year=paid_year,
                paid_this_year_fen=paid_this_year,
            )
            for k, (paid_year, paid_this_year) in enumerate(paid)
        ),
        params=debit_params(sharing=sharing, share_fen=470),
    )


def test_a_payer_at_the_cap_is_charged_nothing_while_attached_members_still_owe() -> None:
    shard = one_family(
        date(2026, 12, 14),
        # Exactly what the attached members owe: the payer's own 0 takes nothing from it.
        funds_fen=470 + 100,
        paid=[(2026, CAP), (2026, 0), (2026, CAP - 100)],
    )
    lines, after = assert_the_kernel_caps_like_the_core(shard)
    assert {m: (r["charge_fen"], r["subsidy_fen"], r["paid_fen"]) for m, r in lines.items()} == {
        1: (0, 470, 0),
        2: (470, 0, 470),
        3: (100, 370, 100),
    }
    assert [after[m]["paid_this_year_fen"] for m in (1, 2, 3)] == [CAP, 470, CAP]


def test_money_paid_last_year_does_not_count_toward_this_years_cap() -> None:
    # Publicity on 28 December 2026, sharing on 4 January 2027: the cap counts 2027.
    shard = one_family(date(2027, 1, 4), funds_fen=10_000, paid=[(2026, CAP)])
    lines, after = assert_the_kernel_caps_like_the_core(shard)
    assert (lines[1]["charge_fen"], lines[1]["subsidy_fen"], lines[1]["paid_fen"]) == (470, 0, 470)
    assert (after[1]["paid_year"], after[1]["paid_this_year_fen"]) == (2027, 470)
