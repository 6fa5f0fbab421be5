"""Families of members who leave (README, "Rules applied"), on small hand-built shards.

- An aged-out payer's account keeps paying for its covered attached members; the payer owes
  no share itself.
- A payer removed for non-payment takes with it the attached members whose debits also
  failed; attached members whose debits went through (or who owed nothing) stay covered, and
  the removed payer's account keeps paying for them, as an aged-out payer's does.
- A family is debited payer first, then attached members by joining date, then by member id.
- A payer's voluntary exit is refused while attached members remain covered; a join to an
  account closed by leaving or non-payment is refused. Nothing is written when refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy.orm import Session

from infra.plans import builtin_plan_sources
from infra.repositories import MemberChangeRepository, PlanRepository
from mutualaid.errors import RefusedError
from mutualaid.membership import (
    ChangeKind,
    ExitReason,
    Member,
    MemberChange,
    MemberStatus,
    check_change,
)
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard, on_roster
from settlement.members import attached_members, queue_change
from settlement.schema import EXIT_CODES, MEMBERS, STATUS_CODES, member_from_row
from settlement.store import Manifest, MemberStore

PUBLICITY = date(2026, 12, 7)
NEXT_PUBLICITY = date(2026, 12, 21)
REMOVE_ON = date(2026, 12, 19)
SHARE = 470
AT = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    member_id: int
    payer_id: int
    birth: date = date(1990, 5, 5)
    joined: date = date(2025, 3, 1)
    funds: int = 0
    deposit: int = 0
    paid_this_year: int = 0
    status: int = STATUS_CODES[MemberStatus.COVERED]
    exit_reason: int = 0
    exit_date: date | None = None


def shard(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "member_id": [r.member_id for r in rows],
            "payer_id": [r.payer_id for r in rows],
            "birth_date": [r.birth for r in rows],
            "join_date": [r.joined for r in rows],
            "chronic_groups": [1] * len(rows),
            "status": [r.status for r in rows],
            "exit_reason": [r.exit_reason for r in rows],
            "exit_date": [r.exit_date for r in rows],
            "funds_fen": [r.funds for r in rows],
            "deposit_fen": [r.deposit for r in rows],
            "paid_year": [2026] * len(rows),
            "paid_this_year_fen": [r.paid_this_year for r in rows],
            "unpaid_fen": [0] * len(rows),
        },
        schema=MEMBERS,
    )


def lock(accounts: pa.Table, day: date = PUBLICITY) -> pa.Table:
    params = LockParams(
        plan_id="chronic", publicity_date=day, exit_age_years=60, opening_funds_fen=0
    )
    return lock_shard(accounts, [], params, shard=0)[0]


def debit(
    accounts: pa.Table, attempt: int, *, last: bool = False, day: date = PUBLICITY
) -> tuple[dict[int, int], pa.Table]:
    """One attempt: (what each billed member paid, the accounts after)."""
    params = DebitParams(
        publicity_date=day,
        attempt=attempt,
        share_fen=SHARE,
        annual_cap_fen=18_800,
        year=2026,
        remove_unpaid_on=REMOVE_ON if last else None,
    )
    ledger, after, _ = debit_shard(accounts, params, shard=0)
    paid = dict(zip(ledger["member_id"].to_pylist(), ledger["paid_fen"].to_pylist(), strict=True))
    return paid, after


def members(accounts: pa.Table) -> dict[int, Member]:
    return {r["member_id"]: member_from_row(r, "chronic") for r in accounts.to_pylist()}


def funds(accounts: pa.Table, member_id: int) -> int:
    row = accounts.filter(pa.compute.equal(accounts["member_id"], member_id))
    return int(row["funds_fen"][0].as_py())


# --- an aged-out payer --------------------------------------------------------------------


def test_an_aged_out_payer_keeps_paying_for_its_covered_attached_members() -> None:
    accounts = shard(
        [
            # Turns 60 on 1 December: leaves the plan at the 7 December lock.
            Row(member_id=1, payer_id=1, birth=date(1966, 12, 1), funds=1_000),
            Row(member_id=13, payer_id=1, birth=date(1995, 1, 1)),
            Row(member_id=25, payer_id=1, birth=date(2016, 1, 1)),
        ]
    )
    locked = lock(accounts)
    payer = members(locked)[1]
    assert (payer.status, payer.exit_reason) == (MemberStatus.EXITED, ExitReason.AGE_LIMIT)
    assert on_roster(locked, PUBLICITY).tolist() == [False, True, True]

    paid, after = debit(locked, 0)
    # The payer owes no share (no ledger row); its account pays both attached shares.
    assert paid == {13: SHARE, 25: SHARE}
    assert funds(after, 1) == 1_000 - 2 * SHARE
    assert after["paid_this_year_fen"].to_pylist() == [0, SHARE, SHARE]
    assert {m.status for i, m in members(after).items() if i != 1} == {MemberStatus.COVERED}


# --- a payer removed for non-payment ------------------------------------------------------


def run_period(accounts: pa.Table, retries: int = 5, day: date = PUBLICITY) -> pa.Table:
    """Attempt 0 and its retries, the last one removing who still owes."""
    _, accounts = debit(accounts, 0, day=day)
    for attempt in range(1, retries + 1):
        _, accounts = debit(accounts, attempt, last=attempt == retries, day=day)
    return accounts


def test_a_payer_removed_for_non_payment_takes_the_attached_members_whose_debits_failed() -> None:
    accounts = shard(
        [
            Row(member_id=1, payer_id=1, funds=0),
            Row(member_id=13, payer_id=1, joined=date(2025, 4, 1)),
            Row(member_id=25, payer_id=1, joined=date(2025, 5, 1)),
        ]
    )
    after = members(run_period(lock(accounts)))
    for member_id in (1, 13, 25):
        assert after[member_id].status is MemberStatus.EXITED
        assert after[member_id].exit_reason is ExitReason.NON_PAYMENT
        assert after[member_id].exit_date == REMOVE_ON


def test_attached_members_who_owed_nothing_or_were_not_billed_stay_and_the_account_pays_on() -> (
    None
):
    accounts = shard(
        [
            # Never pays this period: removed for non-payment.
            Row(member_id=1, payer_id=1, funds=0, deposit=0),
            # Already at the 188-yuan cap: its share is operator subsidy; it owes nothing.
            Row(member_id=13, payer_id=1, paid_this_year=18_800),
            # Owes the share and cannot pay it: removed with the payer.
            Row(member_id=25, payer_id=1),
            # Joined on the publicity day: not on this roster, never billed this period.
            Row(member_id=37, payer_id=1, joined=PUBLICITY),
        ]
    )
    after = run_period(lock(accounts))
    state = members(after)
    assert state[1].exit_reason is ExitReason.NON_PAYMENT
    assert state[25].exit_reason is ExitReason.NON_PAYMENT
    assert state[13].status is MemberStatus.COVERED
    assert state[37].status is MemberStatus.COVERED

    # The next period: money reaches the removed payer's account, which pays for the two
    # attached members still covered (13 is still at the cap: nothing to take).
    topped = after.set_column(
        after.schema.get_field_index("funds_fen"),
        "funds_fen",
        pa.array([1_000 if i == 1 else 0 for i in after["member_id"].to_pylist()], pa.int64()),
    )
    relocked = lock(topped, NEXT_PUBLICITY)
    assert on_roster(relocked, NEXT_PUBLICITY).tolist() == [False, True, False, True]
    paid, later = debit(relocked, 0, day=NEXT_PUBLICITY)
    assert paid == {13: 0, 37: SHARE}
    assert funds(later, 1) == 1_000 - SHARE


def test_a_payer_who_pays_stays_when_an_attached_member_is_removed() -> None:
    accounts = shard(
        [
            Row(member_id=1, payer_id=1, funds=SHARE + 100),
            Row(member_id=13, payer_id=1),
        ]
    )
    state = members(run_period(lock(accounts)))
    assert state[1].status is MemberStatus.COVERED
    assert state[13].exit_reason is ExitReason.NON_PAYMENT


# --- the order within a family ------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True], ids=["ids-ascending", "rows-reversed"])
def test_attached_members_joining_the_same_day_are_debited_in_member_id_order(
    reverse: bool,
) -> None:
    same_day = date(2025, 6, 1)
    rows = [
        Row(member_id=1, payer_id=1, funds=3 * SHARE, joined=date(2025, 1, 1)),
        # Joined earlier than the two others: debited right after the payer.
        Row(member_id=49, payer_id=1, joined=date(2025, 2, 1)),
        Row(member_id=37, payer_id=1, joined=same_day),
        Row(member_id=25, payer_id=1, joined=same_day),
    ]
    paid, _ = debit(lock(shard(rows[::-1] if reverse else rows)), 0)
    # Money for three shares: payer, then 49 (earliest), then 25 (same day as 37, lower id).
    assert paid == {1: SHARE, 49: SHARE, 25: SHARE, 37: 0}


# --- a payer's voluntary exit, and joins to a closed account --------------------------------


def member(member_id: int, payer_id: int | None = None, **changes: object) -> Member:
    base = Member(
        member_id=member_id,
        plan_id="chronic",
        birth_date=date(1980, 1, 1),
        join_date=date(2025, 1, 1),
        payer_id=payer_id,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def leave(
    member_id: int, on: date = date(2026, 12, 1), reason: ExitReason = ExitReason.LEFT
) -> MemberChange:
    return MemberChange(
        plan_id="chronic",
        member_id=member_id,
        kind=ChangeKind.EXIT,
        effective_on=on,
        exit_reason=reason,
    )


def test_the_core_refuses_a_payer_leaving_before_its_attached_members() -> None:
    payer = member(1)
    child = member(13, payer_id=1)
    gone = member(25, payer_id=1, status=MemberStatus.EXITED, exit_date=date(2026, 11, 1))
    later = member(37, payer_id=1, status=MemberStatus.EXITED, exit_date=date(2026, 12, 5))
    with pytest.raises(RefusedError) as caught:
        check_change(leave(1), payer, [child, gone, later])
    assert str(caught.value) == (
        "member=1: attached members 13, 37 are still covered: they must go first"
    )
    # Attached members who leave on the payer's day or before: allowed.
    check_change(leave(1), payer, [gone, replace(later, exit_date=date(2026, 12, 1))])
    # Exits the rules make are never refused: the account pays on for the family.
    for reason in (ExitReason.AGE_LIMIT, ExitReason.NON_PAYMENT, ExitReason.PAID_OUT):
        check_change(leave(1, reason=reason), payer, [child])


def test_the_core_refuses_a_join_to_a_closed_account() -> None:
    join = MemberChange(
        plan_id="chronic",
        member_id=61,
        kind=ChangeKind.JOIN,
        effective_on=date(2026, 12, 2),
        birth_date=date(2010, 1, 1),
        payer_id=1,
    )
    for reason in (ExitReason.LEFT, ExitReason.NON_PAYMENT):
        closed = member(
            1, status=MemberStatus.EXITED, exit_reason=reason, exit_date=date(2026, 12, 1)
        )
        with pytest.raises(RefusedError, match="payer=1"):
            check_change(join, closed, [])
    with pytest.raises(RefusedError, match="payer=1: is not a member"):
        check_change(join, None, [])
    aged_out = member(
        1, status=MemberStatus.EXITED, exit_reason=ExitReason.AGE_LIMIT, exit_date=date(2026, 12, 1)
    )
    check_change(join, aged_out, [])
    check_change(join, member(1), [])


def family_store(root: Path) -> MemberStore:
    """Payer 1 with attached 13 and 25 (covered) and 37 (already left), payer 2 alone; one
    shard holds the family."""
    store = MemberStore.create(str(root), "chronic", shards=1)
    left = STATUS_CODES[MemberStatus.EXITED]
    rows = [
        Row(member_id=1, payer_id=1, funds=10_000),
        Row(member_id=2, payer_id=2, funds=10_000),
        Row(member_id=13, payer_id=1),
        Row(member_id=25, payer_id=1),
        Row(
            member_id=37,
            payer_id=1,
            status=left,
            exit_reason=EXIT_CODES[ExitReason.LEFT],
            exit_date=date(2026, 6, 1),
        ),
    ]
    file = store.write_shard("gen-1", 0, shard(rows))
    store.commit_snapshot(
        Manifest(
            snapshot="gen-1",
            plan_id="chronic",
            kind="population",
            parent=None,
            rules_version="chronic-2020.1",
            period=None,
            shards=(file,),
            created_at=AT.isoformat(),
        )
    )
    return store


def test_a_payer_may_not_leave_while_attached_members_remain(
    tmp_path: Path, session: Session
) -> None:
    for source in builtin_plan_sources():
        PlanRepository(session).record(source, at=AT)
    family_store(tmp_path)
    root = str(tmp_path)
    queued = MemberChangeRepository(session)
    # A join to payer 1 still waiting for the next lock counts as attached too.
    assert queue_change(
        root,
        session,
        MemberChange(
            plan_id="chronic",
            member_id=49,
            kind=ChangeKind.JOIN,
            effective_on=date(2026, 11, 20),
            birth_date=date(2012, 3, 3),
            payer_id=1,
        ),
        change_key="join-49",
        at=AT,
    )
    assert [m.member_id for m in attached_members(root, session, "chronic", 1)] == [13, 25, 37, 49]

    with pytest.raises(RefusedError) as caught:
        queue_change(root, session, leave(1), change_key="leave-1", at=AT)
    assert str(caught.value) == (
        "member=1: attached members 13, 25, 49 are still covered: they must go first"
    )
    assert [c.member_id for _, c in queued.pending("chronic")] == [49]  # nothing written

    # A payer with no family leaves at once; so does payer 1 once its family has left.
    assert queue_change(root, session, leave(2), change_key="leave-2", at=AT)
    for attached in (13, 25, 49):
        assert queue_change(root, session, leave(attached), change_key=f"leave-{attached}", at=AT)
    assert queue_change(root, session, leave(1), change_key="leave-1", at=AT)

    # The account of a payer who left is closed: nobody can be attached to it any more.
    with pytest.raises(RefusedError, match="payer=1"):
        queue_change(
            root,
            session,
            MemberChange(
                plan_id="chronic",
                member_id=61,
                kind=ChangeKind.JOIN,
                effective_on=date(2026, 12, 2),
                birth_date=date(2014, 1, 1),
                payer_id=1,
            ),
            change_key="join-61",
            at=AT,
        )
    assert 61 not in {c.member_id for _, c in queued.pending("chronic")}


def test_an_aged_out_payer_exit_is_never_refused(tmp_path: Path, session: Session) -> None:
    for source in builtin_plan_sources():
        PlanRepository(session).record(source, at=AT)
    family_store(tmp_path)
    aged = leave(1, on=date(2026, 12, 6), reason=ExitReason.AGE_LIMIT)
    assert queue_change(str(tmp_path), session, aged, change_key="age-1", at=AT)
