"""Money: yuan text <-> integer fen, exact division and rates. No float is ever money."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.errors import InputError
from mutualaid.money import apply_rate_floor, ceil_div, fen, format_fen, parse_fen, parse_yuan

PROPERTY = settings(max_examples=100, deadline=None)


# --- parse_yuan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4.68", 468),
        ("300000", 30_000_000),
        ("100000", 10_000_000),
        ("188", 18_800),
        ("0.1", 10),
        ("0.10", 10),
        ("0.01", 1),
        ("0", 0),
        ("0.00", 0),
        ("007", 700),
        (" 4.68 ", 468),
        ("\t188\n", 18_800),
    ],
)
def test_parse_yuan_reads_exact_amounts_as_fen(text: str, expected: int) -> None:
    assert parse_yuan(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1", "must not be negative"),
        ("-0.01", "must not be negative"),
        ("-0", "must not be negative"),
        ("1.234", "fraction of a fen"),
        ("0.001", "fraction of a fen"),
        ("NaN", "is not a yuan amount"),
        ("nan", "is not a yuan amount"),
        ("inf", "is not a yuan amount"),
        ("Infinity", "is not a yuan amount"),
        ("1e5", "is not a yuan amount"),
        ("1E5", "is not a yuan amount"),
        ("", "is not a yuan amount"),
        ("   ", "is not a yuan amount"),
        ("+5", "is not a yuan amount"),
        ("1,000", "is not a yuan amount"),
        ("1_000", "is not a yuan amount"),
        ("1 000", "is not a yuan amount"),
        ("4.", "is not a yuan amount"),
        (".5", "is not a yuan amount"),
        ("0x10", "is not a yuan amount"),
        ("4.68元", "is not a yuan amount"),
        ("¥4.68", "is not a yuan amount"),
        # Non-ASCII digits: int() would read them, the parser must not.
        ("１２", "is not a yuan amount"),
        ("٣", "is not a yuan amount"),
        ("1.２", "is not a yuan amount"),
    ],
)
def test_parse_yuan_rejects_inexact_or_odd_text_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_yuan(text, field="claim.benefit")
    assert caught.value.field == "claim.benefit"
    assert caught.value.value == text
    assert str(caught.value).startswith("claim.benefit=")
    assert reason in str(caught.value)


@pytest.mark.parametrize("value", [4.68, 300000.0, float("nan"), 468, Decimal("4.68"), None, b"4"])
def test_parse_yuan_rejects_non_text_objects_including_floats(value: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_yuan(value, field="amount")  # type: ignore[arg-type]
    assert caught.value.field == "amount"
    assert "no floats" in caught.value.reason
    assert str(caught.value).startswith("amount=")


def test_parse_yuan_error_is_a_value_error_with_a_one_line_message() -> None:
    with pytest.raises(ValueError, match=r"^annual_cap='1\.234': is a fraction of a fen"):
        parse_yuan("1.234", field="annual_cap")


@PROPERTY
@given(st.integers(min_value=0, max_value=10**15))
def test_format_then_parse_round_trips_every_non_negative_amount(amount: int) -> None:
    assert parse_yuan(format_fen(amount)) == amount


@PROPERTY
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=99))
def test_parse_yuan_with_two_decimals_is_whole_times_100_plus_fen(whole: int, part: int) -> None:
    assert parse_yuan(f"{whole}.{part:02d}") == whole * 100 + part


@PROPERTY
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=9))
def test_parse_yuan_with_one_decimal_reads_tenths_of_a_yuan(whole: int, tenth: int) -> None:
    assert parse_yuan(f"{whole}.{tenth}") == whole * 100 + tenth * 10


@PROPERTY
@given(st.text(max_size=12))
def test_parse_yuan_either_refuses_or_agrees_with_exact_decimal_arithmetic(text: str) -> None:
    try:
        amount = parse_yuan(text)
    except InputError:
        return
    cleaned = text.strip()
    assert cleaned.isascii()
    assert Decimal(cleaned) * 100 == amount
    assert amount >= 0


# --- format_fen -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (468, "4.68"),
        (18_800, "188.00"),
        (30_000_000, "300000.00"),
        (-5, "-0.05"),
        (-468, "-4.68"),
    ],
)
def test_format_fen_writes_yuan_with_two_decimals(amount: int, text: str) -> None:
    assert format_fen(amount) == text


@PROPERTY
@given(st.integers(min_value=1, max_value=10**15))
def test_format_fen_of_a_deficit_is_the_surplus_with_a_minus_sign(amount: int) -> None:
    assert format_fen(-amount) == "-" + format_fen(amount)


# --- fen and parse_fen ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 468, 10**15])
def test_fen_accepts_non_negative_ints(value: int) -> None:
    assert fen(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "whole number of fen"),
        (False, "whole number of fen"),
        (4.68, "whole number of fen"),
        (468.0, "whole number of fen"),
        ("468", "whole number of fen"),
        (Decimal(468), "whole number of fen"),
        (None, "whole number of fen"),
        (-1, "must not be negative"),
    ],
)
def test_fen_rejects_bools_floats_text_and_negatives(value: object, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        fen(value, field="share_fen")
    assert caught.value.field == "share_fen"
    assert reason in caught.value.reason


@pytest.mark.parametrize(("text", "expected"), [("46800", 46_800), (" 0 ", 0), ("007", 7)])
def test_parse_fen_reads_digit_strings(text: str, expected: int) -> None:
    assert parse_fen(text) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-5", "must not be negative"),
        ("4.68", "whole number of fen"),
        ("", "whole number of fen"),
        ("1e3", "whole number of fen"),
        ("１２", "whole number of fen"),
        ("²", "whole number of fen"),
        ("+5", "whole number of fen"),
        (46800, "whole number of fen"),
        (4.68, "whole number of fen"),
    ],
)
def test_parse_fen_rejects_anything_but_ascii_digits(value: object, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_fen(value, field="--amount-fen")  # type: ignore[arg-type]
    assert caught.value.field == "--amount-fen"
    assert reason in caught.value.reason


@PROPERTY
@given(st.integers(min_value=0, max_value=10**18))
def test_parse_fen_round_trips_str_of_an_int(amount: int) -> None:
    assert parse_fen(str(amount)) == amount


# --- ceil_div ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(7, 2, 4), (-7, 2, -3), (6, 2, 3), (0, 5, 0), (1, 1_000_000, 1), (32_400_000, 1_000_000, 33)],
)
def test_ceil_div_rounds_up_exactly(numerator: int, denominator: int, expected: int) -> None:
    assert ceil_div(numerator, denominator) == expected


@pytest.mark.parametrize("denominator", [0, -1, -100])
def test_ceil_div_refuses_a_non_positive_denominator(denominator: int) -> None:
    with pytest.raises(ValueError, match="denominator must be positive"):
        ceil_div(10, denominator)


@PROPERTY
@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(1, 10**12))
def test_ceil_div_is_the_smallest_multiple_covering_the_numerator(n: int, d: int) -> None:
    q = ceil_div(n, d)
    assert q * d >= n
    assert (q - 1) * d < n
    assert q == math.ceil(Fraction(n, d))


# --- apply_rate_floor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (30_000_000, Fraction(8, 100), 2_400_000),
        (10_000_000, Fraction(8, 100), 800_000),
        (1, Fraction(8, 100), 0),
        (12, Fraction(8, 100), 0),
        (13, Fraction(8, 100), 1),
        (999, Fraction(0), 0),
        (999, Fraction(1), 999),
    ],
)
def test_apply_rate_floor_rounds_the_fee_down_to_the_fen(
    amount: int, rate: Fraction, expected: int
) -> None:
    assert apply_rate_floor(amount, rate) == expected


@PROPERTY
@given(
    st.integers(min_value=0, max_value=10**15),
    st.fractions(min_value=0, max_value=1, max_denominator=10_000),
)
def test_apply_rate_floor_is_within_one_fen_below_the_exact_product(
    amount: int, rate: Fraction
) -> None:
    result = apply_rate_floor(amount, rate)
    assert isinstance(result, int)
    assert result <= amount * rate < result + 1
