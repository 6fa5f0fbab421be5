"""What the console reads of the member store: a running debit's progress (the shards whose
done marker is written) and one member's charges in a period's ledgers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mutualaid.errors import IntegrityError
from settlement.run_plan import DebitShardOutcome, decode
from settlement.store import MemberStore


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitProgress:
    shards_done: int
    shards: int
    members_done: int
    last_done_at: datetime | None = None  # when the latest done marker was written


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """One attempt's line of a member's ledger."""

    attempt: int
    share_fen: int
    charge_fen: int
    paid_fen: int
    subsidy_fen: int
    unpaid_fen: int
    removed: bool


def debit_progress(
    store_root: str, plan_id: str, period: date, attempt: int, shards: int
) -> DebitProgress:
    """How far a debit run has got: its shards' done markers (written last by each task)."""
    if not MemberStore.exists(store_root, plan_id):
        return DebitProgress(shards_done=0, shards=shards, members_done=0)
    store = MemberStore.open(store_root, plan_id)
    folder = store.ledger_dir(period.isoformat(), attempt)
    selector = pafs.FileSelector(folder, allow_not_found=True)
    done, members, last = 0, 0, None
    for info in store.fs.get_file_info(selector):
        if not info.base_name.endswith(".done"):
            continue
        raw = store.read_file(info.path)
        if raw is None:
            continue
        outcome = DebitShardOutcome.from_json(decode(raw, source=info.path), source=info.path)
        done += 1
        members += outcome.ledger.rows
        if info.mtime is not None:
            written = info.mtime.replace(tzinfo=UTC) if info.mtime.tzinfo is None else info.mtime
            last = written if last is None else max(last, written)
    return DebitProgress(shards_done=done, shards=shards, members_done=members, last_done_at=last)


def member_charges(store_root: str, plan_id: str, ledger_path: str, member_id: int) -> list[Charge]:
    """A member's lines in one ledger file (the run's file for the member's shard, as SQL
    records it, relative to the plan's folder): none when the member was not on that run."""
    store = MemberStore.open(store_root, plan_id)
    path = f"{store.base}/{ledger_path}"
    try:
        table = pq.read_table(path, filesystem=store.fs, filters=[("member_id", "=", member_id)])
    except FileNotFoundError:
        raise IntegrityError("ledger", path, "is missing") from None
    return [
        Charge(
            attempt=int(row["attempt"]),
            share_fen=int(row["share_fen"]),
            charge_fen=int(row["charge_fen"]),
            paid_fen=int(row["paid_fen"]),
            subsidy_fen=int(row["subsidy_fen"]),
            unpaid_fen=int(row["unpaid_fen"]),
            removed=bool(row["removed"]),
        )
        for row in table.to_pylist()
    ]
