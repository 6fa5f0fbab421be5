"""The settlement engine's public face: the roster lock on publicity day, the share, the debit
on sharing day and its daily retries, a period cancelled before money moved.

Every step checks everything before its first write, then writes under the commit protocol
(`settlement.commit`): freeze the plan, run the shard tasks, verify, write the manifest,
commit SQL, move HEAD. A crash at any point leaves a state from which running the same step
again finishes it with the same bytes; a committed step is a no-op.

Where each part lives: `lock` (the roster lock), `chain` (its checks against the previous
period), `sharing` (the share), `debit` (the debit and retries), `commit` (the writes),
`period_close` (a period's money and its close), `cancel`, `results` (what steps return),
`run_plan` (the frozen plans and shard outcomes, and their JSON).
"""

from __future__ import annotations

from settlement.cancel import cancel_period
from settlement.context import Settlement
from settlement.debit import debit, next_retry_attempt, retry
from settlement.lock import DEFAULT_OPENING_FUNDS_FEN, lock_roster
from settlement.period_close import final_snapshot
from settlement.results import CancelResult, LockResult, RunResult
from settlement.sharing import fix_share

__all__ = [
    "DEFAULT_OPENING_FUNDS_FEN",
    "CancelResult",
    "LockResult",
    "RunResult",
    "Settlement",
    "cancel_period",
    "debit",
    "final_snapshot",
    "fix_share",
    "lock_roster",
    "next_retry_attempt",
    "retry",
]
