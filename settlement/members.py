"""Single-member look-ups: the latest snapshot with the changes queued since folded in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from infra.repositories import MemberChangeRepository
from mutualaid.membership import Member, apply_change
from settlement.store import MemberStore


def current_member(
    store_root: str, session: Session, plan_id: str, member_id: int
) -> Member | None:
    """A member as of now: the stored row (if the plan has a store and the member is in it)
    with every pending change applied in recording order. None if the member never joined."""
    member = (
        MemberStore.open(store_root, plan_id).find(member_id)
        if MemberStore.exists(store_root, plan_id)
        else None
    )
    for _, change in MemberChangeRepository(session).pending(plan_id, member_id=member_id):
        member = apply_change(member, change)
    return member
