"""The shard tasks the executor runs: read a shard, call a kernel, write the outputs
atomically under deterministic names, and write a done marker last.

Markers name files relative to the store, so a store's bytes do not depend on where it is
mounted. A task whose done marker exists, and whose files still match the checksums the marker
records, returns the marker instead of recomputing: a resumed or retried run does no work
twice and cannot write different bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from mutualaid.errors import IntegrityError
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard
from settlement.run_plan import (
    DebitShardOutcome,
    DebitShardTask,
    LedgerFile,
    LockShardOutcome,
    LockShardTask,
    decode,
    encode,
)
from settlement.store import MemberStore, done_marker_name

Outcome = TypeVar("Outcome", LockShardOutcome, DebitShardOutcome)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardProblem:
    """A shard of a committed snapshot that does not match its manifest."""

    path: str
    reason: str


def lock_task(task: LockShardTask) -> LockShardOutcome:
    """Fold one shard's changes into its parent's accounts and write the roster's shard."""
    plan, shard = task.plan, task.shard
    store = MemberStore.open(task.store_root, plan.plan_id)
    shard_path = store.shard_path(plan.snapshot, shard)
    marker = f"{store.snapshot_dir(plan.snapshot)}/{done_marker_name(shard)}"
    done = _valid_marker(store, marker, [shard_path], LockShardOutcome.from_json)
    if done is not None:
        return done
    accounts = store.read_shard(store.manifest(plan.parent), shard)
    params = LockParams(
        plan_id=plan.plan_id,
        publicity_date=plan.period,
        exit_age_years=plan.exit_age_years,
        opening_funds_fen=plan.opening_funds_fen,
    )
    roster, stats = lock_shard(accounts, task.changes, params, shard=shard)
    written = store.write_shard(plan.snapshot, shard, roster)
    outcome = LockShardOutcome(
        file=written,
        stats=stats,
        checksums={store.relative(shard_path): written.sha256},
    )
    store.write_once(marker, encode(outcome.to_json()), step=plan.snapshot)
    return outcome


def debit_task(task: DebitShardTask) -> DebitShardOutcome:
    """Debit one shard: write its ledger and its next accounts."""
    plan, shard = task.plan, task.shard
    store = MemberStore.open(task.store_root, plan.plan_id)
    period = plan.period.isoformat()
    ledger_path = store.ledger_path(period, plan.attempt, shard)
    shard_path = store.shard_path(plan.output_snapshot, shard)
    marker = f"{store.ledger_dir(period, plan.attempt)}/{done_marker_name(shard)}"
    done = _valid_marker(store, marker, [ledger_path, shard_path], DebitShardOutcome.from_json)
    if done is not None:
        return done
    accounts = store.read_shard(store.manifest(plan.input_snapshot), shard)
    params = DebitParams(
        publicity_date=plan.period,
        attempt=plan.attempt,
        share_fen=plan.share_fen,
        annual_cap_fen=plan.annual_cap_fen,
        year=plan.year,
        remove_unpaid_on=plan.remove_unpaid_on,
    )
    ledger, next_accounts, stats = debit_shard(accounts, params, shard=shard)
    ledger_bytes = _parquet_bytes(ledger)
    store.write_once(ledger_path, ledger_bytes, step=plan.output_snapshot)
    written = store.write_shard(plan.output_snapshot, shard, next_accounts)
    ledger_sha = hashlib.sha256(ledger_bytes).hexdigest()
    outcome = DebitShardOutcome(
        file=written,
        ledger=LedgerFile(
            path=store.relative(ledger_path), rows=ledger.num_rows, sha256=ledger_sha
        ),
        stats=stats,
        checksums={
            store.relative(ledger_path): ledger_sha,
            store.relative(shard_path): written.sha256,
        },
    )
    store.write_once(marker, encode(outcome.to_json()), step=plan.output_snapshot)
    return outcome


def verify_shard_task(
    store_root: str, plan_id: str, snapshot: str, shard: int
) -> ShardProblem | None:
    """Check one shard of a committed snapshot against its manifest's checksum."""
    store = MemberStore.open(store_root, plan_id)
    entry = store.manifest(snapshot).shards[shard]
    path = f"{store.snapshot_dir(snapshot)}/{entry.file}"
    data = store.read_file(path)
    if data is None:
        return ShardProblem(path=path, reason="is missing")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return ShardProblem(path=path, reason="does not match its manifest checksum")
    return None


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _valid_marker(
    store: MemberStore,
    marker: str,
    paths: list[str],
    parse: Callable[..., Outcome],
) -> Outcome | None:
    """The outcome a done marker records, when the marker is sound and every file it names
    still has the checksum it records; None when the task must run (again)."""
    raw = store.read_file(marker)
    if raw is None:
        return None
    try:
        outcome: Outcome = parse(decode(raw, source=marker), source=marker)
    except IntegrityError:
        return None
    for path in paths:
        data = store.read_file(path)
        if data is None or hashlib.sha256(data).hexdigest() != outcome.checksums.get(
            store.relative(path)
        ):
            return None
    return outcome
