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
from dataclasses import dataclass, replace
from datetime import date
from typing import TypeVar

import pyarrow as pa

from mutualaid.errors import IntegrityError
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard, owing_families
from settlement.patches import apply_patch
from settlement.run_plan import (
    DebitShardOutcome,
    DebitShardTask,
    LedgerFile,
    LockShardOutcome,
    LockShardTask,
    decode,
    encode,
)
from settlement.schema import parquet_bytes
from settlement.store import (
    Manifest,
    MemberStore,
    PartFile,
    ShardFile,
    done_marker_name,
    owing_file_name,
    patch_file_name,
    shard_file_name,
)

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
    """Debit one shard: write its ledger, its next accounts and the families still owing.

    The first debit (attempt 0) reads the whole roster shard and writes the whole next one. A
    retry reads only the families the attempt before left owing, and writes only their rows:
    folded into the shard's patch, laid over the first debit's full file (`settlement.store`).
    Its ledger is the one a run over the whole shard would write, byte for byte."""
    plan, shard = task.plan, task.shard
    store = MemberStore.open(task.store_root, plan.plan_id)
    period = plan.period.isoformat()
    ledger_path = store.ledger_path(period, plan.attempt, shard)
    # The first debit writes the whole shard and its families owing, a retry only its patch
    # (which holds every family still owing: they all owed before).
    names = (
        [shard_file_name(shard), owing_file_name(shard)]
        if plan.attempt == 0
        else [patch_file_name(shard)]
    )
    written_paths = [ledger_path, *(store.part_path(plan.output_snapshot, n) for n in names)]
    marker = f"{store.ledger_dir(period, plan.attempt)}/{done_marker_name(shard)}"
    done = _valid_marker(store, marker, written_paths, DebitShardOutcome.from_json)
    if done is not None:
        return done
    source = store.manifest(plan.input_snapshot)
    params = DebitParams(
        publicity_date=plan.period,
        attempt=plan.attempt,
        share_fen=plan.share_fen,
        annual_cap_fen=plan.annual_cap_fen,
        year=plan.year,
        remove_unpaid_on=plan.remove_unpaid_on,
    )
    if plan.attempt == 0:
        ledger, accounts, stats = debit_shard(store.read_shard(source, shard), params, shard=shard)
        file = store.write_shard(plan.output_snapshot, shard, accounts)
        owing = store.write_part(
            plan.output_snapshot, owing_file_name(shard), owing_families(accounts, plan.period)
        )
        file = replace(file, owing=owing)
        shas = [file.sha256, owing.sha256]
    else:
        previous = store.read_patch(source, shard)  # read once: the owing rows and the fold
        owing = _owing_rows(store, source, shard, previous, plan.period)
        ledger, accounts, stats = debit_shard(owing, params, shard=shard)
        file, patch = _patched(store, plan.output_snapshot, source, shard, previous, accounts)
        shas = [patch.sha256]
    ledger_bytes = parquet_bytes(ledger)
    store.write_once(ledger_path, ledger_bytes, step=plan.output_snapshot)
    ledger_sha = hashlib.sha256(ledger_bytes).hexdigest()
    outcome = DebitShardOutcome(
        file=file,
        ledger=LedgerFile(
            path=store.relative(ledger_path), rows=ledger.num_rows, sha256=ledger_sha
        ),
        stats=stats,
        checksums={
            store.relative(path): sha
            for path, sha in zip(written_paths, [ledger_sha, *shas], strict=True)
        },
    )
    store.write_once(marker, encode(outcome.to_json()), step=plan.output_snapshot)
    return outcome


def _owing_rows(
    store: MemberStore, source: Manifest, shard: int, patch: pa.Table | None, period: date
) -> pa.Table:
    """The rows a retry debits: the families the attempt before left owing. After the first
    debit they are its `owing` file; after a retry, the families of its patch still owing;
    in a snapshot written before retries wrote only what changed, found in the whole shard."""
    owing = store.read_owing(source, shard)
    if owing is not None:
        return owing
    return owing_families(patch if patch is not None else store.read_shard(source, shard), period)


def _patched(
    store: MemberStore,
    snapshot: str,
    source: Manifest,
    shard: int,
    previous: pa.Table | None,
    changed: pa.Table,
) -> tuple[ShardFile, PartFile]:
    """A retry's shard: the same full file as the attempt before (the first debit's), with
    the rows this retry changed folded into the patch before it (`previous`). A family owing
    now owed before, so its rows are already in that patch: the patch never grows after the
    first retry."""
    entry = source.shards[shard]
    patch = changed
    if previous is not None and entry.patch is not None:
        patch = apply_patch(previous, changed, source=store.part_path(source.snapshot, entry.patch))
    part = store.write_part(snapshot, patch_file_name(shard), patch)
    return replace(entry, base=entry.base or source.snapshot, patch=part, owing=None), part


def verify_shard_task(
    store_root: str, plan_id: str, snapshot: str, shard: int, whole: bool = True
) -> ShardProblem | None:
    """Check one shard of a committed snapshot against its manifest's checksums: its full file
    and its parts, or (`whole` false, before a retry, which reads nothing else) only its parts."""
    store = MemberStore.open(store_root, plan_id)
    manifest = store.manifest(snapshot)
    entry = manifest.shards[shard]
    files = [(store.part_path(snapshot, p), p.sha256) for p in entry.parts()]
    if whole:
        files.insert(0, (store.base_path(manifest, entry), entry.sha256))
    for path, sha256 in files:
        data = store.read_file(path)
        if data is None:
            return ShardProblem(path=path, reason=store.missing_reason(path))
        if hashlib.sha256(data).hexdigest() != sha256:
            return ShardProblem(path=path, reason="does not match its manifest checksum")
    return None


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
