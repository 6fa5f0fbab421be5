"""The store's retention policy: what is kept for audit forever, and what may be removed.

Kept forever, whatever the policy: every ledger file and its done markers (what each member was
charged, paid and owed in every attempt), every snapshot's manifest (which files a snapshot
had, with their sizes and checksums, and what it was built on), a lock's frozen plan and its
done markers, and everything in SQL. `settle reconcile` of any period reads only these, so it
still works on a compacted period.

Removable: the member-account files (full shards, patches, owing families) of the snapshots of
periods that are closed or cancelled and older than the newest `keep_periods` closed ones.
Never removed: the latest snapshot (HEAD, what the next roster is built on), the snapshots of
any period not closed, the snapshot each of their rosters is built on (cancelling a period
that has not debited moves HEAD back to it), and a file a kept snapshot reads as its base.

Applying the policy first writes `compacted.json` into each snapshot it compacts (the files
removed, with their checksums), then deletes them: a run killed half-way is finished by the
next, which finds the same record. A reader that reaches a removed file is told it was the
retention policy, not corruption.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow.fs as pafs

from infra.db import reading
from infra.repositories import PeriodRepository
from infra.states import PeriodStage
from mutualaid.errors import InputError
from settlement.context import Settlement
from settlement.snapshots import chain_position, roster_snapshot
from settlement.store import COMPACTED, MemberStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Removal:
    """One snapshot's account files the policy removes."""

    snapshot: str
    files: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPlan:
    keep_periods: int
    kept: tuple[str, ...]
    removals: tuple[Removal, ...]

    @property
    def size(self) -> int:
        return sum(r.size for r in self.removals)


def retention_plan(ctx: Settlement, keep_periods: int) -> RetentionPlan:
    """What the policy keeps and removes now; reads the store and SQL, writes nothing."""
    if keep_periods < 0:
        raise InputError("keep_periods", keep_periods, "must be 0 or more")
    store = ctx.store()
    # HEAD first: a lock that opens its period after SQL is read builds on this HEAD.
    head = store.head()
    with reading(ctx.db) as session:
        periods = PeriodRepository(session).list(plan_id=ctx.plan.id)
        settled = {
            p.publicity_date.isoformat()
            for p in periods
            if p.state in (PeriodStage.CLOSED, PeriodStage.CANCELLED)
        }
        closed = sorted(p.publicity_date for p in periods if p.state == PeriodStage.CLOSED)
        unsettled = [
            p.publicity_date
            for p in periods
            if p.state not in (PeriodStage.CLOSED, PeriodStage.CANCELLED)
        ]
    window = [roster_snapshot(d) for d in closed[len(closed) - keep_periods :] if keep_periods]
    window += [roster_snapshot(d) for d in unsettled]
    if head is not None:
        window.append(head)
    start = min((chain_position(s) for s in window), default=None)
    snapshots = _snapshots(store)
    kept = [s for s in snapshots if start is None or chain_position(s) >= start]
    needed = set(kept) | ({head} if head is not None else set())
    for day in unsettled:
        roster = roster_snapshot(day)
        if store.has_manifest(roster):
            parent = store.manifest(roster).parent
            if parent is not None:
                needed.add(parent)
    for snapshot in sorted(needed):
        if store.has_manifest(snapshot):
            needed.update(e.base for e in store.manifest(snapshot).shards if e.base)
    removals = []
    for snapshot in snapshots:
        period, _ = chain_position(snapshot)
        # The population belongs to no period: it goes once the window has moved past it.
        if snapshot in needed or (period and period not in settled):
            continue
        files = _account_files(store, snapshot)
        if files:
            removals.append(
                Removal(
                    snapshot=snapshot,
                    files=tuple(f.base_name for f in files),
                    size=sum(f.size or 0 for f in files),
                )
            )
    return RetentionPlan(
        keep_periods=keep_periods, kept=tuple(sorted(needed)), removals=tuple(removals)
    )


def apply_retention(ctx: Settlement, plan: RetentionPlan) -> int:
    """Remove what the plan lists, each snapshot's record written first; returns the files
    removed (0 on a second run)."""
    store = ctx.store()
    removed = 0
    for removal in plan.removals:
        folder = store.snapshot_dir(removal.snapshot)
        manifest = store.manifest(removal.snapshot)
        checksums = {e.file: e.sha256 for e in manifest.shards if e.base is None}
        checksums |= {p.file: p.sha256 for e in manifest.shards for p in e.parts()}
        record = {
            "snapshot": removal.snapshot,
            "policy": "settle retain",
            "kept": ["manifest.json", "plan.json", "*.done", "ledgers"],
            "removed": [
                {"file": name, "sha256": checksums.get(name)} for name in sorted(removal.files)
            ],
        }
        store.write_if_absent(
            f"{folder}/{COMPACTED}",
            json.dumps(record, indent=1, sort_keys=True).encode(),
            step=removal.snapshot,
        )
        for name in removal.files:
            path = f"{folder}/{name}"
            if store.fs.get_file_info(path).type != pafs.FileType.NotFound:
                store.fs.delete_file(path)
                removed += 1
    return removed


def _snapshots(store: MemberStore) -> list[str]:
    """The store's committed snapshots (those with a manifest), in chain order."""
    selector = pafs.FileSelector(f"{store.base}/snapshots", allow_not_found=True)
    folders = store.fs.get_file_info(selector)
    names = [i.base_name for i in folders if i.type == pafs.FileType.Directory]
    return sorted((n for n in names if store.has_manifest(n)), key=chain_position)


def _account_files(store: MemberStore, snapshot: str) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(store.snapshot_dir(snapshot), allow_not_found=True)
    return sorted(
        (
            i
            for i in store.fs.get_file_info(selector)
            if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
        ),
        key=lambda i: i.base_name,
    )
