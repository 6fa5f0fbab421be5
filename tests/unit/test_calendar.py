"""The program calendar: publicity and sharing days, 00:00 cut-offs, waiting periods, ages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mutualaid.calendar import (
    PROGRAM_TZ,
    age_in_days,
    age_on,
    debit_day,
    in_waiting_period,
    is_publicity_day,
    is_sharing_day,
    latest_birth_date_for_age,
    next_publicity_day,
    parse_date,
    parse_moment,
    payout_due,
    program_date,
    publicity_day_for,
    publicity_days_between,
    roster_cutoff,
    sharing_day_for,
    start_of_day,
    waiting_period_last_day,
)
from mutualaid.errors import InputError

PROPERTY = settings(max_examples=50, deadline=None)
SHANGHAI = PROGRAM_TZ
NEW_YORK = ZoneInfo("America/New_York")

days = st.dates(min_value=date(1930, 1, 1), max_value=date(2100, 12, 31))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 1),
    timezones=st.sampled_from([SHANGHAI, UTC, NEW_YORK]),
    allow_imaginary=False,
)


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# --- parse_date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024-02-29", date(2024, 2, 29)), (" 2026-12-07 ", date(2026, 12, 7))],
)
def test_parse_date_reads_iso_dates(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2023-02-29", "2026-13-01", "2026-04-31", "", "tomorrow", None])
def test_parse_date_refuses_impossible_dates_naming_the_field(text: str | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_date(text, field="diagnosis_date")  # type: ignore[arg-type]
    assert caught.value.field == "diagnosis_date"
    assert str(caught.value).startswith("diagnosis_date=")
    assert "YYYY-MM-DD" in caught.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "2026-W50-1",  # an ISO week date: date.fromisoformat reads it as 2026-12-07
        "20261207",  # the ISO basic form, read the same way
        "2026-12-7",
        "2026-12-07T00:00",
        "２０２６-１２-０７",  # full-width digits
        "+2026-12-07",
    ],
)
def test_parse_date_takes_only_yyyy_mm_dd(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_date(text, field="publicity_date")
    assert caught.value.field == "publicity_date"
    assert caught.value.value == text
    assert "YYYY-MM-DD" in caught.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07", datetime(2026, 12, 7, tzinfo=SHANGHAI)),
        ("2026-12-07T12:30", datetime(2026, 12, 7, 12, 30, tzinfo=SHANGHAI)),
        ("2026-12-07T12:30:15", datetime(2026, 12, 7, 12, 30, 15, tzinfo=SHANGHAI)),
        ("2026-12-06T16:00+00:00", datetime(2026, 12, 6, 16, 0, tzinfo=UTC)),
        ("2026-12-06T16:00:00Z", datetime(2026, 12, 6, 16, 0, tzinfo=UTC)),
        ("2026-12-07T00:00-05:00", datetime(2026, 12, 7, 5, 0, tzinfo=UTC)),
    ],
)
def test_parse_moment_reads_dates_and_moments_in_program_time_unless_told(
    text: str, expected: datetime
) -> None:
    moment = parse_moment(text, field="as_of")
    assert moment == expected
    assert moment.utcoffset() is not None


@pytest.mark.parametrize(
    "text",
    [
        "2026-W50-1",
        "20261207",
        "2026-12-07T12",
        "2026-12-07 12:30",
        "2026-12-07T12:30:15.5",
        "2026-12-07T1230",
        "2026-12-07T12:30+0800",
        "2026-12-07T24:00",
        "2026-02-30T00:00",
        "2026-12-07T12:30+25:00",
        "",
    ],
)
def test_parse_moment_refuses_other_forms_naming_the_field(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_moment(text, field="as_of")
    assert caught.value.field == "as_of"
    assert str(caught.value).startswith("as_of=")


# --- program_date and start_of_day ------------------------------------------------------------


def test_program_date_is_the_shanghai_date_of_a_utc_moment() -> None:
    assert program_date(datetime(2026, 12, 6, 16, 0, tzinfo=UTC)) == date(2026, 12, 7)
    assert program_date(datetime(2026, 12, 6, 15, 59, 59, tzinfo=UTC)) == date(2026, 12, 6)


def test_program_date_refuses_a_naive_moment() -> None:
    with pytest.raises(InputError) as caught:
        program_date(datetime(2026, 12, 7, 0, 0))
    assert caught.value.field == "moment"
    assert "time zone" in caught.value.reason


def test_start_of_day_is_midnight_in_shanghai_which_is_16_00_utc_the_day_before() -> None:
    start = start_of_day(date(2026, 12, 7))
    assert start.tzinfo is SHANGHAI
    assert start.timetz().replace(tzinfo=None) == time(0, 0)
    assert start.utcoffset() == timedelta(hours=8)
    assert start == datetime(2026, 12, 6, 16, 0, tzinfo=UTC)


# --- publicity and sharing days ---------------------------------------------------------------


@pytest.mark.parametrize("day", [7, 21])
def test_the_7th_and_21st_are_publicity_days_and_not_sharing_days(day: int) -> None:
    assert is_publicity_day(date(2026, 2, day))
    assert not is_sharing_day(date(2026, 2, day))


@pytest.mark.parametrize("day", [14, 28])
def test_the_14th_and_28th_are_sharing_days_and_not_publicity_days(day: int) -> None:
    assert is_sharing_day(date(2026, 2, day))
    assert not is_publicity_day(date(2026, 2, day))


@pytest.mark.parametrize("day", [1, 6, 8, 13, 15, 20, 22, 27, 29, 31])
def test_other_days_are_neither_publicity_nor_sharing_days(day: int) -> None:
    assert not is_publicity_day(date(2026, 1, day))
    assert not is_sharing_day(date(2026, 1, day))


# --- next_publicity_day -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (shanghai(2026, 12, 7, 0, 0, 0), date(2026, 12, 7)),
        (shanghai(2026, 12, 7, 0, 0, 1), date(2026, 12, 21)),
        (shanghai(2026, 12, 7, 0, 0, 0, 1), date(2026, 12, 21)),
        (shanghai(2026, 12, 6, 23, 59, 59, 999_999), date(2026, 12, 7)),
        (shanghai(2026, 12, 1, 12, 0), date(2026, 12, 7)),
        (shanghai(2026, 12, 8, 0, 0), date(2026, 12, 21)),
        (shanghai(2026, 12, 21, 0, 0, 0), date(2026, 12, 21)),
        (shanghai(2026, 12, 21, 0, 0, 1), date(2027, 1, 7)),
        (shanghai(2026, 12, 31, 23, 59), date(2027, 1, 7)),
        (shanghai(2024, 2, 21, 0, 0, 1), date(2024, 3, 7)),
    ],
)
def test_next_publicity_day_includes_the_day_only_at_exactly_00_00(
    moment: datetime, expected: date
) -> None:
    assert next_publicity_day(moment) == expected


def test_next_publicity_day_reads_a_utc_moment_in_program_time() -> None:
    # 16:00 UTC on the 6th is 00:00 on the 7th in Shanghai; one second later is past the cut-off.
    assert next_publicity_day(datetime(2026, 12, 6, 16, 0, 0, tzinfo=UTC)) == date(2026, 12, 7)
    assert next_publicity_day(datetime(2026, 12, 6, 16, 0, 1, tzinfo=UTC)) == date(2026, 12, 21)
    # 00:00 UTC on the 7th is 08:00 in Shanghai: past the 7th's cut-off.
    assert next_publicity_day(datetime(2026, 12, 7, 0, 0, tzinfo=UTC)) == date(2026, 12, 21)


def test_next_publicity_day_refuses_a_naive_moment() -> None:
    with pytest.raises(InputError) as caught:
        next_publicity_day(datetime(2026, 12, 7, 0, 0))
    assert caught.value.field == "moment"


@PROPERTY
@given(moments)
def test_next_publicity_day_is_the_first_publicity_cut_off_at_or_after_the_moment(
    moment: datetime,
) -> None:
    result = next_publicity_day(moment)
    assert is_publicity_day(result)
    assert start_of_day(result) >= moment
    # No earlier publicity day's cut-off is still ahead of the moment.
    earlier = publicity_days_between(program_date(moment) - timedelta(days=31), result)[:-1]
    assert all(start_of_day(day) < moment for day in earlier)
    # The longest wait is from just after 00:00 on the 21st to the 7th of the next month.
    assert result - program_date(moment) <= timedelta(days=17)


@PROPERTY
@given(days)
def test_next_publicity_day_at_a_publicity_cut_off_is_that_day(day: date) -> None:
    publicity = next_publicity_day(start_of_day(day))
    assert next_publicity_day(start_of_day(publicity)) == publicity
    after = next_publicity_day(start_of_day(publicity) + timedelta(seconds=1))
    assert after > publicity
    assert is_publicity_day(after)


# --- publicity_days_between -------------------------------------------------------------------


def test_publicity_days_between_lists_the_7th_and_21st_inclusive() -> None:
    assert publicity_days_between(date(2026, 1, 7), date(2026, 1, 21)) == [
        date(2026, 1, 7),
        date(2026, 1, 21),
    ]
    assert publicity_days_between(date(2026, 1, 8), date(2026, 1, 20)) == []
    assert publicity_days_between(date(2026, 1, 21), date(2026, 1, 7)) == []


@pytest.mark.parametrize("year", [2023, 2024, 2100])
def test_a_year_has_24_publicity_days(year: int) -> None:
    found = publicity_days_between(date(year, 1, 1), date(year, 12, 31))
    assert len(found) == 24
    assert {d.day for d in found} == {7, 21}


# --- sharing day <-> publicity day ------------------------------------------------------------


@pytest.mark.parametrize(
    ("publicity", "sharing"),
    [
        (date(2026, 12, 7), date(2026, 12, 14)),
        (date(2026, 12, 21), date(2026, 12, 28)),
        (date(2024, 2, 21), date(2024, 2, 28)),
    ],
)
def test_sharing_day_is_one_week_after_publicity(publicity: date, sharing: date) -> None:
    assert sharing_day_for(publicity) == sharing
    assert publicity_day_for(sharing) == publicity


@PROPERTY
@given(st.integers(1930, 2100), st.integers(1, 12), st.sampled_from([7, 21]))
def test_publicity_and_sharing_days_map_onto_each_other(year: int, month: int, day: int) -> None:
    publicity = date(year, month, day)
    sharing = sharing_day_for(publicity)
    assert is_sharing_day(sharing)
    assert sharing.month == publicity.month
    assert publicity_day_for(sharing) == publicity


def test_sharing_day_for_refuses_a_day_that_is_not_a_publicity_day() -> None:
    with pytest.raises(InputError) as caught:
        sharing_day_for(date(2026, 12, 8))
    assert caught.value.field == "publicity_date"
    assert caught.value.value == "2026-12-08"


def test_publicity_day_for_refuses_a_day_that_is_not_a_sharing_day() -> None:
    with pytest.raises(InputError) as caught:
        publicity_day_for(date(2026, 12, 15))
    assert caught.value.field == "sharing_date"


# --- roster_cutoff ----------------------------------------------------------------------------


def test_roster_cutoff_is_00_00_shanghai_on_the_publicity_day() -> None:
    cutoff = roster_cutoff(date(2026, 12, 7))
    assert cutoff == shanghai(2026, 12, 7, 0, 0)
    assert cutoff == datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    # Exiting at 23:59:59 the day before is before the cut-off; at 00:00 it is not.
    assert shanghai(2026, 12, 6, 23, 59, 59) < cutoff
    assert not shanghai(2026, 12, 7, 0, 0) < cutoff


def test_roster_cutoff_refuses_a_day_that_is_not_a_publicity_day() -> None:
    with pytest.raises(InputError) as caught:
        roster_cutoff(date(2026, 12, 14))
    assert caught.value.field == "publicity_date"


# --- waiting period ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("join", "last"),
    [
        (date(2026, 1, 1), date(2026, 4, 1)),
        (date(2024, 1, 1), date(2024, 3, 31)),  # leap year: February has 29 days
        (date(2026, 12, 15), date(2027, 3, 15)),
    ],
)
def test_waiting_period_last_day_is_the_90th_day_after_joining(join: date, last: date) -> None:
    assert waiting_period_last_day(join, 90) == last
    assert in_waiting_period(join, last, 90)
    assert not in_waiting_period(join, last + timedelta(days=1), 90)


def test_the_joining_day_itself_is_inside_the_waiting_period() -> None:
    assert in_waiting_period(date(2026, 1, 1), date(2026, 1, 1), 90)


@PROPERTY
@given(days, st.integers(min_value=0, max_value=400))
def test_waiting_period_holds_exactly_waiting_days_after_the_joining_day(
    join: date, waiting: int
) -> None:
    assume(join <= date(2099, 1, 1))
    inside = [
        n for n in range(1, waiting + 10) if in_waiting_period(join, join + timedelta(n), waiting)
    ]
    assert inside == list(range(1, waiting + 1))
    assert in_waiting_period(join, join + timedelta(days=waiting), waiting)
    assert not in_waiting_period(join, join + timedelta(days=waiting + 1), waiting)


# --- ages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1990, 6, 15), date(1990, 6, 15), 0),
        (date(1990, 6, 15), date(2026, 6, 14), 35),
        (date(1990, 6, 15), date(2026, 6, 15), 36),
        (date(1986, 7, 10), date(2026, 7, 9), 39),
        (date(1986, 7, 10), date(2026, 7, 10), 40),
        # Born on 29 February: a year older on 1 March in a common year, on 29 February in a
        # leap year.
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 28), 3),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(1980, 2, 29), date(2020, 2, 28), 39),
        (date(1980, 2, 29), date(2020, 2, 29), 40),
        (date(1966, 3, 1), date(2026, 2, 28), 59),
        (date(1966, 3, 1), date(2026, 3, 1), 60),
    ],
)
def test_age_on_counts_whole_years_turning_on_the_birthday(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


def test_age_on_refuses_a_day_before_birth() -> None:
    with pytest.raises(InputError) as caught:
        age_on(date(2000, 1, 2), date(2000, 1, 1))
    assert caught.value.field == "birth_date"
    assert caught.value.value == "2000-01-02"


@PROPERTY
@given(days, days, days)
def test_age_on_never_decreases_as_the_day_moves_on(birth: date, a: date, b: date) -> None:
    first, second = sorted((a, b))
    assume(birth <= first)
    assert 0 <= age_on(birth, first) <= age_on(birth, second)


@PROPERTY
@given(days, st.integers(min_value=0, max_value=3000))
def test_age_on_grows_by_at_most_one_a_day_and_by_one_a_year(birth: date, offset: int) -> None:
    assume(birth <= date(2090, 1, 1))
    day = birth + timedelta(days=offset)
    step = age_on(birth, day + timedelta(days=1)) - age_on(birth, day)
    assert step in (0, 1)
    age = age_on(birth, day)
    # The age is the number of birthdays passed: at most 366 days per year apart.
    assert 365 * age <= (day - birth).days < 366 * (age + 1)


@PROPERTY
@given(days, st.integers(min_value=1, max_value=100))
def test_age_turns_on_the_birthday_and_not_the_day_before(birth: date, years: int) -> None:
    assume(not (birth.month == 2 and birth.day == 29))
    assume(birth.year + years <= 2200)
    birthday = birth.replace(year=birth.year + years)
    assert age_on(birth, birthday) == years
    assert age_on(birth, birthday - timedelta(days=1)) == years - 1


@pytest.mark.parametrize(
    ("years", "on", "latest"),
    [
        (60, date(2026, 12, 7), date(1966, 12, 7)),
        (1, date(2024, 2, 29), date(2023, 2, 28)),  # no 29 February in 2023
        (4, date(2024, 2, 29), date(2020, 2, 29)),
        (0, date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_latest_birth_date_for_age_is_the_last_birthday_old_enough(
    years: int, on: date, latest: date
) -> None:
    assert latest_birth_date_for_age(years, on) == latest


@PROPERTY
@given(days, days, st.integers(min_value=0, max_value=100))
def test_latest_birth_date_for_age_agrees_with_age_on(birth: date, on: date, years: int) -> None:
    assume(birth <= on and on.year - years >= 1)
    old_enough = age_on(birth, on) >= years
    assert old_enough is (birth <= latest_birth_date_for_age(years, on))


def test_age_in_days_counts_days_since_birth() -> None:
    assert age_in_days(date(2026, 1, 1), date(2026, 1, 31)) == 30
    assert age_in_days(date(2024, 2, 1), date(2024, 3, 2)) == 30


def test_debit_day_crosses_month_and_year_ends() -> None:
    assert debit_day(date(2026, 12, 28), 5) == date(2027, 1, 2)
    assert debit_day(date(2024, 2, 28), 1) == date(2024, 2, 29)
    assert debit_day(date(2026, 12, 14), 0) == date(2026, 12, 14)


def test_debit_day_refuses_a_negative_attempt() -> None:
    with pytest.raises(InputError, match="attempt"):
        debit_day(date(2026, 12, 14), -1)


def test_payout_due_is_midnight_after_the_last_day_of_the_deadline() -> None:
    due = payout_due(date(2026, 12, 28), 7)
    assert due == start_of_day(date(2027, 1, 5))
    # The claim's payout deadline is exactly this moment.
    assert due > start_of_day(date(2026, 12, 28) + timedelta(days=7))
