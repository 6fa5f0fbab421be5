"""What each settlement step returns: a lock, a debit attempt, a cancel."""

from __future__ import annotations

from dataclasses import dataclass

from infra.models import DebitRunRow


@dataclass(frozen=True, slots=True, kw_only=True)
class LockResult:
    period: str
    snapshot: str
    members: int
    joined: int
    exited: int
    aged_out: int
    already_done: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelResult:
    period: str
    roster_removed: bool
    already_done: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    period: str
    attempt: int
    share_fen: int
    members: int
    rows: int
    charge_fen: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    removed: int | None
    snapshot: str
    already_done: bool
    period_closed: bool


def run_result(
    run: DebitRunRow,
    period: str,
    snapshot: str,
    *,
    rows: int,
    removed: int | None,
    already_done: bool,
    closed: bool,
) -> RunResult:
    """A debit attempt's result from its committed run row: the one builder a local run and
    a result read back from the committed state (`settlement.outcome`) share."""
    return RunResult(
        period=period,
        attempt=run.attempt,
        share_fen=run.share_fen,
        members=run.members,
        rows=rows,
        charge_fen=(run.paid_fen or 0) + (run.unpaid_fen or 0),
        paid_fen=run.paid_fen or 0,
        unpaid_fen=run.unpaid_fen or 0,
        subsidy_fen=run.subsidy_fen or 0,
        removed=removed,
        snapshot=snapshot,
        already_done=already_done,
        period_closed=closed,
    )
