"""The shard tasks the executor runs: read a shard, call a kernel, write the outputs
atomically under deterministic names, and write a done marker last.

Markers name files relative to the store, so a store's bytes do not depend on where it is
mounted. A task whose done marker exists, and whose files still match the checksums the marker
records, returns the marker instead of recomputing: a resumed or retried run does no work
twice and cannot write different bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mutualaid.membership import change_from_record
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard
from settlement.schema import LEDGER, MEMBERS
from settlement.store import MemberStore, ShardFile, shard_file_name


def lock_task(
    store_root: str, plan_id: str, frozen: dict[str, Any], shard: int, changes: list[dict[str, Any]]
) -> dict[str, Any]:
    store = MemberStore.open(store_root, plan_id)
    snapshot = frozen["snapshot"]
    marker = f"{store.snapshot_dir(snapshot)}/{_marker_name(shard)}"
    done = _valid_marker(store, marker, [store.shard_path(snapshot, shard)])
    if done is not None:
        return done
    parent = frozen["parent"]
    accounts = (
        store.read_shard(store.manifest(parent), shard)
        if parent is not None
        else MEMBERS.empty_table()
    )
    params = LockParams(
        plan_id=plan_id,
        publicity_date=date.fromisoformat(frozen["period"]),
        exit_age_years=int(frozen["exit_age_years"]),
        opening_funds_fen=int(frozen["opening_funds_fen"]),
    )
    folded = [change_from_record(c) for c in changes]
    roster, stats = lock_shard(accounts, folded, params, shard=shard)
    written = store.write_shard(snapshot, shard, roster)
    result = {
        "shard": shard,
        "file": written.to_dict(),
        "stats": {
            "rows": stats.rows,
            "on_roster": stats.on_roster,
            "joined": stats.joined,
            "exited": stats.exited,
            "aged_out": stats.aged_out,
        },
        "checksums": {store.relative(store.shard_path(snapshot, shard)): written.sha256},
    }
    store.write_once(marker, json.dumps(result, sort_keys=True).encode(), step=snapshot)
    return result


def debit_task(store_root: str, plan_id: str, frozen: dict[str, Any], shard: int) -> dict[str, Any]:
    store = MemberStore.open(store_root, plan_id)
    ledger_dir = store.ledger_dir(frozen["period"], int(frozen["attempt"]))
    ledger_path = f"{ledger_dir}/{shard_file_name(shard)}"
    output = frozen["output_snapshot"]
    marker = f"{ledger_dir}/{_marker_name(shard)}"
    done = _valid_marker(store, marker, [ledger_path, store.shard_path(output, shard)])
    if done is not None:
        return done
    accounts = store.read_shard(store.manifest(frozen["input_snapshot"]), shard)
    remove_on = frozen["remove_unpaid_on"]
    params = DebitParams(
        publicity_date=date.fromisoformat(frozen["period"]),
        attempt=int(frozen["attempt"]),
        share_fen=int(frozen["share_fen"]),
        annual_cap_fen=int(frozen["annual_cap_fen"]),
        year=int(frozen["year"]),
        remove_unpaid_on=date.fromisoformat(remove_on) if remove_on else None,
    )
    ledger, next_accounts, stats = debit_shard(accounts, params, shard=shard)
    ledger_bytes = _parquet_bytes(ledger)
    store.write_once(ledger_path, ledger_bytes, step=output)
    written = store.write_shard(output, shard, next_accounts)
    ledger_sha = hashlib.sha256(ledger_bytes).hexdigest()
    result = {
        "shard": shard,
        "file": written.to_dict(),
        "ledger": {
            "path": store.relative(ledger_path),
            "rows": ledger.num_rows,
            "sha256": ledger_sha,
        },
        "stats": {
            "rows": stats.rows,
            "charge_fen": stats.charge_fen,
            "paid_fen": stats.paid_fen,
            "unpaid_fen": stats.unpaid_fen,
            "subsidy_fen": stats.subsidy_fen,
            "removed": stats.removed,
        },
        "checksums": {
            store.relative(ledger_path): ledger_sha,
            store.relative(store.shard_path(output, shard)): written.sha256,
        },
    }
    store.write_once(marker, json.dumps(result, sort_keys=True).encode(), step=output)
    return result


def verify_shard_task(store_root: str, plan_id: str, snapshot: str, shard: int) -> dict[str, Any]:
    """Check one shard of a committed snapshot against its manifest's checksum."""
    store = MemberStore.open(store_root, plan_id)
    entry = store.manifest(snapshot).shards[shard]
    path = f"{store.snapshot_dir(snapshot)}/{entry.file}"
    data = store.read_file(path)
    if data is None:
        return {"shard": shard, "path": path, "error": "is missing"}
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return {"shard": shard, "path": path, "error": "does not match its manifest checksum"}
    return {"shard": shard, "path": path, "error": None}


def ledger_totals_task(
    store_root: str, plan_id: str, period: str, attempt: int, shard: int, shards: int, sha256: str
) -> dict[str, Any]:
    """Re-read one written ledger file and total it, checking it is the file the run recorded
    and that each member appears once and belongs to this shard."""
    store = MemberStore.open(store_root, plan_id)
    path = f"{store.ledger_dir(period, attempt)}/{shard_file_name(shard)}"
    data = store.read_file(path)
    if data is None:
        return {"shard": shard, "error": f"ledger {path} is missing"}
    if hashlib.sha256(data).hexdigest() != sha256:
        return {"shard": shard, "error": f"ledger {path} does not match its recorded checksum"}
    ledger = pq.read_table(pa.BufferReader(data))
    if ledger.schema != LEDGER:
        return {"shard": shard, "error": f"ledger {path} does not have the ledger schema"}
    ids = ledger["member_id"].to_numpy()
    increasing = bool((ids[1:] > ids[:-1]).all())
    in_shard = bool((ids % shards == shard).all())
    return {
        "shard": shard,
        "rows": ledger.num_rows,
        "unique_and_sorted": increasing,
        "in_shard": in_shard,
        "share_fen": _sum(ledger, "share_fen"),
        "charge_fen": _sum(ledger, "charge_fen"),
        "paid_fen": _sum(ledger, "paid_fen"),
        "subsidy_fen": _sum(ledger, "subsidy_fen"),
        "unpaid_fen": _sum(ledger, "unpaid_fen"),
        "overpaid_rows": int(
            pc.sum(pc.greater(ledger["paid_fen"], ledger["charge_fen"])).as_py() or 0
        ),
        "removed": int(pc.sum(ledger["removed"]).as_py() or 0),
    }


def _sum(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _marker_name(shard: int) -> str:
    return f"shard-{shard:05d}.done"


def _valid_marker(store: MemberStore, marker: str, paths: list[str]) -> dict[str, Any] | None:
    raw = store.read_file(marker)
    if raw is None:
        return None
    try:
        result: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError:
        return None
    checksums = result.get("checksums", {})
    for path in paths:
        data = store.read_file(path)
        if data is None or hashlib.sha256(data).hexdigest() != checksums.get(store.relative(path)):
            return None
    return result


def shard_file_from(result: dict[str, Any]) -> ShardFile:
    return ShardFile.from_dict(result["file"])
