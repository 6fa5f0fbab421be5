"""The program calendar, in Asia/Shanghai: publicity, sharing, cut-offs, waiting periods, ages.

Every cut-off is 00:00 program time. Functions take the moment or the date as a parameter and
never read the clock, so workflows can pass `workflow.now()`.

>>> next_publicity_day(datetime(2026, 12, 7, 0, 0, tzinfo=PROGRAM_TZ))
datetime.date(2026, 12, 7)
>>> sharing_day_for(date(2026, 12, 21))
datetime.date(2026, 12, 28)
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mutualaid.errors import InputError

PROGRAM_TZ = ZoneInfo("Asia/Shanghai")
PUBLICITY_DAYS = (7, 21)
SHARING_DAYS = (14, 28)
# The sharing day is always one week after its publicity day (7->14, 21->28).
SHARING_OFFSET = timedelta(days=7)


# The only forms read from people: ISO 8601's calendar date, and a moment on such a date to the
# minute or second with an optional UTC offset. `date.fromisoformat` alone also takes week
# dates (2026-W50-1) and basic forms (20261207), which nobody means.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)(?P<offset>[+-][0-9]{2}:[0-9]{2}|Z)?)?"
)


def parse_date(text: str, *, field: str = "date") -> date:
    """Read a calendar date written YYYY-MM-DD (and nothing else), refusing impossible ones
    with a one-line error naming the field.

    >>> parse_date("2024-02-29")
    datetime.date(2024, 2, 29)
    >>> parse_date("20240229")
    Traceback (most recent call last):
    ...
    mutualaid.errors.InputError: date='20240229': is not a real date in the form YYYY-MM-DD
    """
    if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
        raise InputError(field, text, "is not a real date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field, text, "is not a real date in the form YYYY-MM-DD") from None


def parse_moment(text: str, *, field: str = "moment") -> datetime:
    """Read a program moment: YYYY-MM-DD (00:00 that day) or YYYY-MM-DDTHH:MM[:SS] with an
    optional offset (+HH:MM, -HH:MM or Z). Without an offset it is program (Shanghai) time.

    >>> parse_moment("2026-12-07")
    datetime.datetime(2026, 12, 7, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Shanghai'))
    >>> parse_moment("2026-12-06T16:00Z").isoformat()
    '2026-12-06T16:00:00+00:00'
    """
    reason = "is not a date YYYY-MM-DD or a moment YYYY-MM-DDTHH:MM[:SS][+HH:MM]"
    match = _MOMENT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InputError(field, text, reason)
    offset = match["offset"]
    try:
        moment = datetime.fromisoformat(
            f"{match['date']}T{match['time'] or '00:00'}"
            + ("+00:00" if offset == "Z" else offset or "")
        )
    except ValueError:
        raise InputError(field, text, reason) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=PROGRAM_TZ)


def format_moment(moment: datetime) -> str:
    """A moment as people read it in the program's zone, to the minute.

    >>> format_moment(datetime(2026, 12, 2, 15, 1, tzinfo=ZoneInfo("UTC")))
    '2026-12-02 23:01'
    """
    _require_aware(moment)
    return moment.astimezone(PROGRAM_TZ).strftime("%Y-%m-%d %H:%M")


def program_date(moment: datetime) -> date:
    """The program (Shanghai) date of an aware moment."""
    _require_aware(moment)
    return moment.astimezone(PROGRAM_TZ).date()


def start_of_day(day: date) -> datetime:
    """00:00 of a program day, as an aware moment."""
    return datetime.combine(day, time(0, 0), tzinfo=PROGRAM_TZ)


def is_publicity_day(day: date) -> bool:
    return day.day in PUBLICITY_DAYS


def is_sharing_day(day: date) -> bool:
    return day.day in SHARING_DAYS


def next_publicity_day(moment: datetime) -> date:
    """The first publicity day whose 00:00 cut-off is at or after the moment.

    A case approved exactly at 00:00 on the 7th still belongs to the 7th; one second later it
    belongs to the 21st.
    """
    _require_aware(moment)
    local = moment.astimezone(PROGRAM_TZ)
    day = local.date()
    if local.timetz().replace(tzinfo=None) != time(0, 0):
        day += timedelta(days=1)
    while not is_publicity_day(day):
        day += timedelta(days=1)
    return day


def publicity_days_between(first: date, last: date) -> list[date]:
    """Every publicity day in [first, last]."""
    days = []
    day = first
    while day <= last:
        if is_publicity_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def sharing_day_for(publicity_day: date) -> date:
    """The sharing day (14th or 28th) that belongs to a publicity day (7th or 21st)."""
    if not is_publicity_day(publicity_day):
        raise InputError("publicity_date", publicity_day.isoformat(), "is not the 7th or 21st")
    return publicity_day + SHARING_OFFSET


def publicity_day_for(sharing_day: date) -> date:
    """The publicity day whose period is shared on this sharing day."""
    if not is_sharing_day(sharing_day):
        raise InputError("sharing_date", sharing_day.isoformat(), "is not the 14th or 28th")
    return sharing_day - SHARING_OFFSET


def roster_cutoff(publicity_day: date) -> datetime:
    """00:00 on the publicity day: the moment the period's roster is locked.

    A member who exits before this moment (before 24:00 the day before) owes nothing for the
    period; one who exits at or after it owes the period's share.
    """
    if not is_publicity_day(publicity_day):
        raise InputError("publicity_date", publicity_day.isoformat(), "is not the 7th or 21st")
    return start_of_day(publicity_day)


def waiting_period_last_day(join_date: date, waiting_days: int) -> date:
    """The last day of the waiting period, which counts from the day after joining.

    Joining on 1 January with 90 waiting days: day 1 is 2 January, day 90 (still waiting) is
    1 April in a common year; cover starts at 00:00 on 2 April.

    >>> waiting_period_last_day(date(2026, 1, 1), 90)
    datetime.date(2026, 4, 1)
    """
    return join_date + timedelta(days=waiting_days)


def in_waiting_period(join_date: date, on: date, waiting_days: int) -> bool:
    """Whether a day falls inside the waiting period (the last day included)."""
    return on <= waiting_period_last_day(join_date, waiting_days)


def age_on(birth_date: date, on: date) -> int:
    """Age in whole years on a day.

    A person born on 29 February becomes a year older on 1 March in a common year (the
    birthday has not happened while 28 February is not over).

    >>> age_on(date(2000, 2, 29), date(2001, 2, 28)), age_on(date(2000, 2, 29), date(2001, 3, 1))
    (0, 1)
    """
    if on < birth_date:
        raise InputError("birth_date", birth_date.isoformat(), f"is after {on.isoformat()}")
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def age_in_days(birth_date: date, on: date) -> int:
    return (on - birth_date).days


def debit_day(sharing_day: date, attempt: int) -> date:
    """The day debit attempt n of a period runs: the sharing day itself (attempt 0), then one
    retry a day.

    >>> debit_day(date(2026, 12, 14), 3)
    datetime.date(2026, 12, 17)
    """
    if attempt < 0:
        raise InputError("attempt", attempt, "must not be negative")
    return sharing_day + timedelta(days=attempt)


def payout_due(sharing_day: date, payout_deadline_days: int) -> datetime:
    """When a funded case's payout is due: the end of the last of `payout_deadline_days` days
    after the sharing day (00:00 on the day after it). The claim's payout deadline and the
    period's final report both use it, so a payout made in time is never reported missing.

    >>> payout_due(date(2026, 12, 14), 7).isoformat()
    '2026-12-22T00:00:00+08:00'
    """
    return start_of_day(sharing_day + timedelta(days=payout_deadline_days + 1))


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError("moment", moment.isoformat(), "has no time zone")


def latest_birth_date_for_age(years: int, on: date) -> date:
    """The latest birth date of someone who is at least `years` old on a day, so that
    `age_on(b, on) >= years` exactly when `b <= latest_birth_date_for_age(years, on)`; lets
    the settlement engine compare whole columns of birth dates against one date.

    >>> latest_birth_date_for_age(60, date(2026, 12, 7))
    datetime.date(1966, 12, 7)
    >>> latest_birth_date_for_age(1, date(2024, 2, 29))
    datetime.date(2023, 2, 28)
    """
    try:
        return on.replace(year=on.year - years)
    except ValueError:
        # `on` is 29 February and the year `years` earlier is common: someone born on
        # 28 February has had the birthday; someone born on 1 March has not.
        return date(on.year - years, 2, 28)
