"""The states SQL records for periods, debit runs, payouts and publicity entries: one spelling
each, written to and read from the columns that hold them (`infra.models.StateColumn`).

The values are the strings the database has always held, so an existing database reads the
same; a `StrEnum` compares equal to its string, so `row.state == "closed"` still holds.
"""

from __future__ import annotations

from enum import StrEnum


class PeriodStage(StrEnum):
    """Where a period's money is, as SQL records it (not the workflow's `PeriodState`, which
    says what the period workflow is doing or waiting for): opened, its roster locked, its
    share fixed, debiting, closed; or cancelled by an operator before any money moved (kept
    for the record, skipped by the chain: the next roster builds on the period before it)."""

    OPEN = "open"
    LOCKED = "locked"
    SHARE_FIXED = "share_fixed"
    DEBITING = "debiting"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class DebitRunState(StrEnum):
    """A debit run's plan is frozen (planned) before any shard runs; committed is set last."""

    PLANNED = "planned"
    COMMITTED = "committed"


class PayoutState(StrEnum):
    REQUESTED = "requested"
    PAID = "paid"


class PublicityOutcome(StrEnum):
    """A case on a period's public list: publicised until the objection window closes, then
    cleared, objected, or left."""

    PUBLICISED = "publicised"
    CLEARED = "cleared"
    OBJECTED = "objected"
    # The claim left the program after it was listed (withdrawn before its publicised
    # signal landed, closed): not cleared, never funded.
    LEFT = "left"
