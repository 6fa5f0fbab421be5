"""The program clock: real days in production, compressed days for demos and load tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.calendar import PROGRAM_TZ
from mutualaid.clock import SECONDS_PER_DAY, ProgramClock
from mutualaid.errors import InputError

PROPERTY = settings(max_examples=50, deadline=None)
REAL = ProgramClock()
ORIGIN_REAL = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ORIGIN_PROGRAM = datetime(2026, 12, 1, 0, 0, tzinfo=PROGRAM_TZ)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3_650))
# Real seconds per program day, from 0.1 s to a real day: the program clock never runs slow.
speeds = st.integers(min_value=1, max_value=SECONDS_PER_DAY * 10).map(lambda n: Fraction(n, 10))
# Real moments near the origin, so even the fastest clock stays within datetime's range.
near_origin = st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(hours=1)).map(
    lambda offset: ORIGIN_REAL + offset
)


def compressed(seconds_per_day: Fraction) -> ProgramClock:
    return ProgramClock(
        seconds_per_day=seconds_per_day, origin_real=ORIGIN_REAL, origin_program=ORIGIN_PROGRAM
    )


# --- the real clock ---------------------------------------------------------------------------


def test_the_default_clock_is_the_real_clock() -> None:
    assert REAL.is_real
    assert REAL.seconds_per_day == 86_400
    assert REAL.speedup == 1


@PROPERTY
@given(moments)
def test_the_real_clock_maps_every_moment_to_itself(moment: datetime) -> None:
    assert REAL.program_now(moment) == moment
    assert REAL.real_at(moment) == moment


@PROPERTY
@given(durations)
def test_the_real_clock_keeps_durations_unchanged(duration: timedelta) -> None:
    assert REAL.real_duration(duration) == duration


def test_the_real_clock_keeps_the_time_zone_of_its_origin_for_a_shanghai_moment() -> None:
    moment = datetime(2026, 12, 7, 0, 0, tzinfo=PROGRAM_TZ)
    assert REAL.program_now(moment) == moment
    assert REAL.real_at(moment) == moment


def test_a_real_speed_clock_with_shifted_origins_is_not_the_real_clock() -> None:
    shifted = ProgramClock(origin_real=ORIGIN_REAL, origin_program=ORIGIN_PROGRAM)
    assert not shifted.is_real
    assert shifted.program_now(ORIGIN_REAL + timedelta(hours=5)) == ORIGIN_PROGRAM + timedelta(
        hours=5
    )


# --- compressed clocks ------------------------------------------------------------------------


def test_two_seconds_a_day_runs_a_month_in_a_minute() -> None:
    fast = ProgramClock(seconds_per_day=Fraction(2))
    assert not fast.is_real
    assert fast.speedup == 43_200
    assert fast.real_duration(timedelta(days=30)) == timedelta(seconds=60)
    assert fast.real_duration(timedelta(days=1)) == timedelta(seconds=2)
    assert fast.real_duration(timedelta(days=7)) == timedelta(seconds=14)
    assert fast.real_duration(timedelta(hours=12)) == timedelta(seconds=1)


def test_half_a_second_a_day_runs_a_year_in_three_minutes() -> None:
    fast = ProgramClock(seconds_per_day=Fraction(1, 2))
    assert fast.speedup == 172_800
    assert fast.real_duration(timedelta(days=360)) == timedelta(minutes=3)


def test_a_compressed_duration_rounds_up_so_a_timer_never_fires_early() -> None:
    fast = ProgramClock(seconds_per_day=Fraction(3))
    assert fast.real_duration(timedelta(microseconds=1)) == timedelta(microseconds=1)
    assert fast.real_duration(timedelta(0)) == timedelta(0)


def test_a_compressed_clock_maps_its_origin_and_whole_days() -> None:
    fast = compressed(Fraction(2))
    assert fast.program_now(ORIGIN_REAL) == ORIGIN_PROGRAM
    assert fast.real_at(ORIGIN_PROGRAM) == ORIGIN_REAL
    assert fast.program_now(ORIGIN_REAL + timedelta(seconds=2)) == ORIGIN_PROGRAM + timedelta(
        days=1
    )
    assert fast.program_now(ORIGIN_REAL + timedelta(seconds=1)) == ORIGIN_PROGRAM + timedelta(
        hours=12
    )
    assert fast.real_at(ORIGIN_PROGRAM + timedelta(days=6)) == ORIGIN_REAL + timedelta(seconds=12)
    # Before the origin too: two real seconds earlier is one program day earlier.
    assert fast.program_now(ORIGIN_REAL - timedelta(seconds=2)) == ORIGIN_PROGRAM - timedelta(
        days=1
    )


@pytest.mark.parametrize("seconds_per_day", [Fraction(0), Fraction(-1), Fraction(-86_400)])
def test_a_clock_that_does_not_move_forward_is_refused(seconds_per_day: Fraction) -> None:
    with pytest.raises(InputError) as caught:
        ProgramClock(seconds_per_day=seconds_per_day)
    assert caught.value.field == "seconds_per_day"
    assert "must be positive" in caught.value.reason


@PROPERTY
@given(speeds, near_origin)
def test_real_moments_round_trip_through_program_time_exactly(
    seconds_per_day: Fraction, moment: datetime
) -> None:
    clock = compressed(seconds_per_day)
    assert clock.real_at(clock.program_now(moment)) == moment


@PROPERTY
@given(speeds, st.timedeltas(min_value=timedelta(days=-3_650), max_value=timedelta(days=3_650)))
def test_program_moments_round_trip_to_no_earlier_and_within_one_real_microsecond(
    seconds_per_day: Fraction, offset: timedelta
) -> None:
    clock = compressed(seconds_per_day)
    target = ORIGIN_PROGRAM + offset
    reached = clock.program_now(clock.real_at(target))
    # The real moment is rounded up, so the program clock has reached the target by then...
    assert reached >= target
    # ...and at most one real microsecond has passed beyond it.
    assert (reached - target) // timedelta(microseconds=1) < clock.speedup


@PROPERTY
@given(speeds, near_origin, near_origin)
def test_program_time_never_runs_backwards(
    seconds_per_day: Fraction, first: datetime, second: datetime
) -> None:
    clock = compressed(seconds_per_day)
    earlier, later = sorted((first, second))
    assert clock.program_now(earlier) <= clock.program_now(later)


@PROPERTY
@given(speeds, durations)
def test_a_compressed_duration_is_the_program_duration_divided_by_the_speedup(
    seconds_per_day: Fraction, duration: timedelta
) -> None:
    real = ProgramClock(seconds_per_day=seconds_per_day).real_duration(duration)
    exact = Fraction(duration // timedelta(microseconds=1)) / (SECONDS_PER_DAY / seconds_per_day)
    micros = real // timedelta(microseconds=1)
    assert micros >= exact > micros - 1
