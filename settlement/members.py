"""Single-member look-ups and the gate for member changes: the latest snapshot with the
changes queued since folded in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from infra.repositories import MemberChangeRepository
from mutualaid.errors import IntegrityError
from mutualaid.membership import ChangeKind, Member, MemberChange, apply_change, check_change
from settlement.store import MemberStore


def current_member(
    store_root: str, session: Session, plan_id: str, member_id: int
) -> Member | None:
    """A member as of now: the stored row (if the plan has a store and the member is in it)
    with every pending change applied in recording order. None if the member never joined."""
    return current_members(store_root, session, plan_id, [member_id])[member_id]


def current_members(
    store_root: str, session: Session, plan_id: str, member_ids: Iterable[int]
) -> dict[int, Member | None]:
    """`current_member` for a batch: each shard read once, the pending changes in one query."""
    ids = sorted(set(member_ids))
    stored = (
        MemberStore.open(store_root, plan_id).find_many(ids)
        if MemberStore.exists(store_root, plan_id)
        else {}
    )
    members: dict[int, Member | None] = {i: stored.get(i) for i in ids}
    for _, change in MemberChangeRepository(session).pending_for(plan_id, ids):
        members[change.member_id] = apply_change(members[change.member_id], change)
    return members


def attached_members(
    store_root: str, session: Session, plan_id: str, payer_id: int
) -> list[Member]:
    """Every member attached to a payer's account as of now, in id order: those in the
    latest snapshot (read from the payer's shard, which holds its whole family) and those whose
    join is still queued, each with its pending changes folded in."""
    ids = {
        c.member_id
        for c in MemberChangeRepository(session).pending_joins_paid_by(plan_id, payer_id)
    }
    if MemberStore.exists(store_root, plan_id):
        store = MemberStore.open(store_root, plan_id)
        snapshot = store.head()
        if snapshot is not None:
            manifest = store.manifest(snapshot)
            # The full file is enough: a retry's patch never changes who pays for whom.
            path = store.base_path(manifest, manifest.shards[store.shard_of(payer_id)])
            try:
                table = pq.read_table(
                    path,
                    filesystem=store.fs,
                    columns=["member_id"],
                    filters=[("payer_id", "=", payer_id)],
                )
            except FileNotFoundError:
                raise IntegrityError("shard", path, store.missing_reason(path)) from None
            ids.update(int(i) for i in pc.unique(table["member_id"]).to_pylist())
    ids.discard(payer_id)
    members = (current_member(store_root, session, plan_id, i) for i in sorted(ids))
    return [m for m in members if m is not None and m.payer_id == payer_id]


def queue_change(
    store_root: str, session: Session, change: MemberChange, *, change_key: str, at: datetime
) -> bool:
    """Queue a member change once under its key after the family rules allow it (see
    `mutualaid.membership.check_change`): a payer's voluntary exit is refused while attached
    members remain covered, a join to a closed account is refused. Nothing is written when it
    is refused. Returns whether the change was new."""
    if change.kind is ChangeKind.EXIT:
        member = current_member(store_root, session, change.plan_id, change.member_id)
        attached = attached_members(store_root, session, change.plan_id, change.member_id)
        check_change(change, member, attached)
    elif change.payer_id is not None and change.payer_id != change.member_id:
        payer = current_member(store_root, session, change.plan_id, change.payer_id)
        check_change(change, payer, [])
    return MemberChangeRepository(session).queue(change, change_key=change_key, at=at)
