"""The period's share: ceil_to_fen((aid + fee - surplus) / N), the annual cap, the case cap."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.errors import InputError, InvariantError
from mutualaid.share import (
    CapSplit,
    compute_share,
    management_fee,
    payable_under_case_cap,
    share_for_cases,
    split_at_annual_cap,
    surplus_out,
)

PROPERTY = settings(max_examples=100, deadline=None)
EIGHT_PERCENT = Fraction(8, 100)
ANNUAL_CAP = 18_800  # 188 yuan


# --- compute_share ----------------------------------------------------------------------------


def test_domain_example_one_young_case_among_a_million_members_costs_33_fen() -> None:
    # aid 300,000 yuan + 8% fee 24,000 yuan = 324,000 yuan over 1,000,000 members = 0.324 yuan,
    # rounded up to 0.33 yuan; the 6,000 yuan rounding surplus lowers the next period.
    share = compute_share(
        aid_fen=30_000_000, surplus_in_fen=0, members=1_000_000, fee_rate=EIGHT_PERCENT
    )
    assert share.fee_fen == 2_400_000
    assert share.need_fen == 32_400_000
    assert share.share_fen == 33
    assert share.billed_fen == 33_000_000
    assert share.expected_surplus_out_fen == 600_000


def test_a_carried_surplus_lowers_the_share() -> None:
    share = compute_share(
        aid_fen=30_000_000, surplus_in_fen=600_000, members=1_000_000, fee_rate=EIGHT_PERCENT
    )
    assert share.need_fen == 31_800_000
    assert share.share_fen == 32
    assert share.expected_surplus_out_fen == 200_000


def test_a_carried_deficit_raises_the_share() -> None:
    share = compute_share(
        aid_fen=30_000_000, surplus_in_fen=-1_000_000, members=1_000_000, fee_rate=EIGHT_PERCENT
    )
    assert share.need_fen == 33_400_000
    assert share.share_fen == 34
    assert share.expected_surplus_out_fen == 600_000


def test_a_need_that_divides_exactly_leaves_no_surplus() -> None:
    share = compute_share(aid_fen=1_000, surplus_in_fen=0, members=1_080, fee_rate=EIGHT_PERCENT)
    assert (share.fee_fen, share.need_fen, share.share_fen) == (80, 1_080, 1)
    assert share.expected_surplus_out_fen == 0


def test_a_typical_august_2020_period_costs_members_a_few_yuan() -> None:
    # About 3,142 cases and about 493 million yuan shared by about 105 million members.
    aid = 3_142 * 14_500_000  # an average of 145,000 yuan a case
    share = compute_share(
        aid_fen=aid, surplus_in_fen=0, members=105_000_000, fee_rate=EIGHT_PERCENT
    )
    assert share.fee_fen == aid * 8 // 100
    assert share.share_fen == 469  # 4.69 yuan
    assert 0 <= share.expected_surplus_out_fen < share.members


@pytest.mark.parametrize(
    ("aid", "surplus_in"), [(0, 0), (1_000, 1_080), (1_000, 5_000), (0, 12_345)]
)
def test_a_need_covered_by_the_surplus_gives_a_share_of_zero(aid: int, surplus_in: int) -> None:
    share = compute_share(
        aid_fen=aid, surplus_in_fen=surplus_in, members=500, fee_rate=EIGHT_PERCENT
    )
    assert share.need_fen <= 0
    assert share.share_fen == 0
    assert share.billed_fen == 0
    assert share.expected_surplus_out_fen == -share.need_fen


def test_sharing_a_need_among_no_members_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        compute_share(aid_fen=30_000_000, surplus_in_fen=0, members=0, fee_rate=EIGHT_PERCENT)
    assert caught.value.field == "members"
    assert "32400000 fen" in caught.value.reason


def test_no_members_and_no_need_is_a_share_of_zero() -> None:
    share = compute_share(aid_fen=0, surplus_in_fen=0, members=0, fee_rate=EIGHT_PERCENT)
    assert share.share_fen == 0


@pytest.mark.parametrize(("aid", "members", "field"), [(-1, 10, "aid_fen"), (100, -1, "members")])
def test_negative_aid_or_members_is_an_input_error(aid: int, members: int, field: str) -> None:
    with pytest.raises(InputError) as caught:
        compute_share(aid_fen=aid, surplus_in_fen=0, members=members, fee_rate=EIGHT_PERCENT)
    assert caught.value.field == field
    assert "must not be negative" in caught.value.reason


@pytest.mark.parametrize(
    ("aid", "fee"),
    [(0, 0), (1, 0), (12, 0), (13, 1), (30_000_000, 2_400_000), (10_000_001, 800_000)],
)
def test_management_fee_is_8_percent_rounded_down_to_the_fen(aid: int, fee: int) -> None:
    assert management_fee(aid, EIGHT_PERCENT) == fee


@PROPERTY
@given(
    st.integers(min_value=0, max_value=10**13),
    st.integers(min_value=-(10**10), max_value=10**10),
    st.integers(min_value=1, max_value=2 * 10**8),
    st.fractions(min_value=0, max_value=Fraction(1, 5), max_denominator=1_000),
)
def test_the_share_is_the_smallest_equal_amount_that_covers_the_need(
    aid: int, surplus_in: int, members: int, fee_rate: Fraction
) -> None:
    share = compute_share(
        aid_fen=aid, surplus_in_fen=surplus_in, members=members, fee_rate=fee_rate
    )
    assert share.need_fen == aid + share.fee_fen - surplus_in
    assert share.fee_fen <= aid * fee_rate < share.fee_fen + 1
    if share.need_fen > 0:
        assert share.share_fen * members >= share.need_fen
        assert share.share_fen * members - share.need_fen < members
        assert (share.share_fen - 1) * members < share.need_fen
        assert 0 <= share.expected_surplus_out_fen < members
    else:
        assert share.share_fen == 0
    assert share.expected_surplus_out_fen == share.billed_fen - share.need_fen
    assert isinstance(share.share_fen, int)


@pytest.mark.parametrize(
    ("collected", "expected"), [(33_000_000, 600_000), (32_400_000, 0), (32_000_000, -400_000)]
)
def test_surplus_out_is_collected_minus_need_and_goes_negative_on_failed_debits(
    collected: int, expected: int
) -> None:
    assert (
        surplus_out(
            collected_fen=collected, aid_fen=30_000_000, fee_fen=2_400_000, surplus_in_fen=0
        )
        == expected
    )


# --- annual cap -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "paid", "charge", "subsidy"),
    [
        (500, 0, 500, 0),  # far under the cap
        (500, 18_300, 500, 0),  # reaches the cap exactly
        (500, 18_301, 499, 1),  # one fen over
        (500, 18_600, 200, 300),  # the docstring example
        (500, 18_800, 0, 500),  # already at the cap
        (500, 19_000, 0, 500),  # above the cap (a lowered cap): never a negative charge
        (0, 18_800, 0, 0),
    ],
)
def test_the_annual_cap_splits_a_share_into_charge_and_operator_subsidy(
    share: int, paid: int, charge: int, subsidy: int
) -> None:
    split = split_at_annual_cap(share_fen=share, paid_this_year_fen=paid, annual_cap_fen=ANNUAL_CAP)
    assert split == CapSplit(charge_fen=charge, subsidy_fen=subsidy)


@pytest.mark.parametrize(("share", "paid"), [(-1, 0), (0, -1)])
def test_a_negative_share_or_payment_breaks_the_cap_invariant(share: int, paid: int) -> None:
    with pytest.raises(InvariantError):
        split_at_annual_cap(share_fen=share, paid_this_year_fen=paid, annual_cap_fen=ANNUAL_CAP)


@PROPERTY
@given(
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=0, max_value=30_000),
    st.integers(min_value=0, max_value=30_000),
)
def test_the_cap_split_adds_up_and_never_takes_a_member_over_the_cap(
    share: int, paid: int, cap: int
) -> None:
    split = split_at_annual_cap(share_fen=share, paid_this_year_fen=paid, annual_cap_fen=cap)
    assert split.charge_fen + split.subsidy_fen == share
    assert split.charge_fen >= 0
    assert split.subsidy_fen >= 0
    if paid <= cap:
        assert paid + split.charge_fen <= cap
    if paid + share <= cap:
        assert split == CapSplit(charge_fen=share, subsidy_fen=0)
    else:
        # The member pays up to the cap and no further.
        assert paid + split.charge_fen == max(paid, cap)


# --- per-case cap -----------------------------------------------------------------------------


def test_the_case_cap_reduces_every_payout_by_the_same_fraction_when_it_binds() -> None:
    assert payable_under_case_cap(
        [30_000_000, 10_000_000], members=100_000, per_member_cap_fen=10
    ) == [1_000_000, 333_333]


def test_the_case_cap_at_a_million_members_and_10_fen_allows_100000_yuan_a_case() -> None:
    assert payable_under_case_cap(
        [30_000_000, 10_000_000, 10_000_000], members=1_000_000, per_member_cap_fen=10
    ) == [10_000_000, 3_333_333, 3_333_333]


@pytest.mark.parametrize("members", [3_000_000, 10_000_000])
def test_the_case_cap_changes_nothing_in_a_large_pool(members: int) -> None:
    benefits = [30_000_000, 10_000_000]
    result = payable_under_case_cap(benefits, members=members, per_member_cap_fen=10)
    assert result == benefits
    assert result is not benefits


def test_the_case_cap_of_no_cases_is_no_payouts() -> None:
    assert payable_under_case_cap([], members=100, per_member_cap_fen=10) == []


def test_the_case_cap_with_no_members_pays_nothing() -> None:
    assert payable_under_case_cap([30_000_000], members=0, per_member_cap_fen=10) == [0]


@PROPERTY
@given(
    st.lists(st.integers(min_value=1, max_value=30_000_000), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=5_000_000),
    st.integers(min_value=0, max_value=20),
)
def test_case_cap_payouts_are_pro_rata_and_never_exceed_cap_times_members(
    benefits: list[int], members: int, cap: int
) -> None:
    result = payable_under_case_cap(benefits, members=members, per_member_cap_fen=cap)
    limit = cap * members
    largest = max(benefits)
    assert len(result) == len(benefits)
    if largest <= limit:
        assert result == benefits
        return
    for paid, benefit in zip(result, benefits, strict=True):
        assert isinstance(paid, int)
        assert 0 <= paid <= min(benefit, limit)
        assert paid == benefit * limit // largest
    # The largest case is reduced exactly to the limit.
    assert result[benefits.index(largest)] == limit


# --- share_for_cases: the per-case cap inside the share computation -----------------------


@given(
    benefits=st.lists(st.integers(min_value=0, max_value=10**10), max_size=20),
    members=st.integers(min_value=1, max_value=10**6),
    cap=st.one_of(st.none(), st.integers(min_value=0, max_value=1_000)),
)
def test_cases_are_paid_at_most_their_benefit_and_the_cap_times_n(
    benefits: list[int], members: int, cap: int | None
) -> None:
    period = share_for_cases(
        benefits, surplus_in_fen=0, members=members, fee_rate=EIGHT_PERCENT, per_case_cap_fen=cap
    )
    assert len(period.payouts_fen) == len(benefits)
    assert period.share.aid_fen == sum(period.payouts_fen)
    for paid, benefit in zip(period.payouts_fen, benefits, strict=True):
        assert 0 <= paid <= benefit
        if cap is not None:
            assert paid <= cap * members
    if cap is None:
        assert period.payouts_fen == tuple(benefits)


def test_a_negative_benefit_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="benefit_fen=-1: must not be negative"):
        share_for_cases(
            [5, -1], surplus_in_fen=0, members=10, fee_rate=EIGHT_PERCENT, per_case_cap_fen=None
        )
