"""The names of a plan's snapshots and their order on its chain: the population first, then per
period its roster and its debit attempts, each attempt built on the one before."""

from __future__ import annotations

from datetime import date


def roster_snapshot(publicity_date: date) -> str:
    """The snapshot a period's lock commits.

    >>> roster_snapshot(date(2026, 12, 7))
    'roster-2026-12-07'
    """
    return f"roster-{publicity_date.isoformat()}"


def debit_snapshot(publicity_date: date, attempt: int) -> str:
    """The snapshot debit attempt `attempt` of a period commits.

    >>> debit_snapshot(date(2026, 12, 7), 2)
    'debit-2026-12-07-a2'
    """
    return f"debit-{publicity_date.isoformat()}-a{attempt}"


def attempt_snapshots(publicity_date: date, attempt: int) -> tuple[str, str]:
    """A debit attempt's input and output: attempt 0 reads the roster, a retry the attempt
    before it.

    >>> attempt_snapshots(date(2026, 12, 7), 1)
    ('debit-2026-12-07-a0', 'debit-2026-12-07-a1')
    """
    source = (
        roster_snapshot(publicity_date)
        if attempt == 0
        else debit_snapshot(publicity_date, attempt - 1)
    )
    return source, debit_snapshot(publicity_date, attempt)


def chain_position(snapshot: str) -> tuple[str, int]:
    """Where a snapshot lies on the plan's chain: the population first, then per period its
    roster and its debit attempts in order.

    >>> chain_position("roster-2026-12-07") < chain_position("debit-2026-12-07-a0")
    True
    >>> chain_position("debit-2026-12-07-a5") < chain_position("roster-2026-12-21")
    True
    """
    if snapshot.startswith("roster-"):
        return snapshot.removeprefix("roster-"), 0
    if snapshot.startswith("debit-"):
        period, _, attempt = snapshot.removeprefix("debit-").rpartition("-a")
        return period, int(attempt) + 1
    return "", 0
